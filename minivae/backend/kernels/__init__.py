"""Fused elementwise operations of a training step.

``reference`` holds their semantics, in NumPy/CuPy array code; ``cpu``
is what the NumPy backend runs (the references, with Adam's update on
BLAS's threads); ``cuda`` holds the CUDA kernels with the same signatures,
used by the CuPy backend. Every ``cpu`` and CUDA function is tested against
its reference. Models and layers reach them through their backend
(``backend.ops``); :func:`ops_for` picks them from the arrays themselves,
for code that holds arrays but no backend (the optimizers).
"""
from .. import array_module
from . import numpy_ops as cpu, cuda, reference

__all__ = ["reference", "cpu", "cuda", "ops_for"]


def ops_for(*arrays):
    """The module of fused ops for these arrays: ``cpu`` for NumPy, ``cuda`` for CuPy."""
    return cpu if array_module(*arrays).__name__ == "numpy" else cuda
