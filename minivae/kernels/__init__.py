"""Fused elementwise operations of a training step.

``reference`` holds their semantics, in NumPy/CuPy array code; ``cpu``
is what the NumPy backend runs (the references, with Adam's update on
BLAS's threads); ``cuda`` holds the CUDA kernels with the same signatures,
used by the CuPy backend. Every ``cpu`` and CUDA function is tested against
its reference.
"""
from ..backend import array_module
from . import cpu, reference

__all__ = ["reference", "cpu", "ops_for"]


def ops_for(*arrays):
    """The module of fused ops for these arrays: ``cpu`` for NumPy, ``cuda`` for CuPy."""
    if array_module(*arrays).__name__ == "numpy":
        return cpu
    from . import cuda

    return cuda
