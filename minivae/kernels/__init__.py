"""Fused elementwise operations of a training step.

``reference`` holds their NumPy semantics (what the NumPy backend runs);
``cuda`` holds the CUDA kernels with the same signatures, used by the CuPy
backend. Every CUDA kernel is tested against its reference.
"""
from ..backend import array_module
from . import reference

__all__ = ["reference", "ops_for"]


def ops_for(*arrays):
    """The module of fused ops for these arrays: ``reference`` for NumPy, ``cuda`` for CuPy."""
    if array_module(*arrays).__name__ == "numpy":
        return reference
    from . import cuda

    return cuda
