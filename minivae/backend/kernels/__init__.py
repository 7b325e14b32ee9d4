"""Fused elementwise operations of a training step.

``reference`` holds their semantics, in NumPy/CuPy array code; ``cpu``
(:mod:`numpy_ops`) is what the NumPy backend runs (the references, with the
optimizers' updates on BLAS); ``cuda`` holds the CUDA kernels with the same
signatures, used by the CuPy backend. Every ``cpu`` and CUDA function is
tested against its reference. Layers, models and optimizers reach them only
through their backend (``backend.ops``).
"""
from . import numpy_ops as cpu, cuda, reference

__all__ = ["reference", "cpu", "cuda"]
