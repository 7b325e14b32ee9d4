"""The NumPy backend: arrays in host memory, fused ops from :mod:`minivae.backend.kernels.numpy_ops`.

The default backend. Its ops are the NumPy references of
:mod:`minivae.backend.kernels.reference` (array code, a few passes over memory
each), with the optimizers' updates on OpenBLAS (Adam's ``axpy`` on its
threads). Importing this module registers it as ``"numpy"`` (``minivae``
imports it).
"""
from __future__ import annotations

import numpy

from . import Backend, register_backend
from .kernels import numpy_ops as cpu


class NumpyBackend(Backend):
    """Arrays in host memory (``xp = numpy``), ops from :mod:`minivae.backend.kernels.numpy_ops`."""

    name = "numpy"

    def __init__(self):
        super().__init__(numpy, cpu)

    def take_rows(self, x, idx, out):
        """out[i] = x[idx[i]]; mode "clip", since NumPy buffers ``out`` (a temporary copy) in mode "raise"."""
        return numpy.take(x, idx, axis=0, out=out, mode="clip")


register_backend("numpy", NumpyBackend, modules=("numpy",))
