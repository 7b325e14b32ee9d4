"""The CuPy backend: the same model code, with arrays on an NVIDIA GPU.

:class:`CupyBackend` sets ``xp = cupy`` and keeps everything else of
:class:`minivae.backend.Backend` (thinc's ``CupyOps`` pattern): math code asks
the backend for its array module, and the fused training-step ops come from
:mod:`minivae.kernels.cuda` instead of :mod:`minivae.kernels.reference`.

CuPy is optional. Importing this module imports nothing from it; building a
:class:`CupyBackend` does, and raises :class:`minivae.errors.BackendError`
saying what is missing when CuPy is not installed or no CUDA device is
visible. :func:`gpu_unavailable_reason` tells the same without raising (the
tests use it to skip).
"""
from __future__ import annotations

import numpy

from .backend import Backend
from .errors import BackendError

INSTALL_HINT = ("install CuPy for your CUDA version (`pip install cupy-cuda12x`, or "
                "`pip install -e \".[gpu]\"`), or use backend='numpy'")


def _import_cupy():
    """Import CuPy, or raise BackendError saying how to get it."""
    try:
        import cupy
    except ImportError as exc:
        raise BackendError(f"backend 'cupy' needs CuPy, which is not installed ({exc}): {INSTALL_HINT}") from exc
    except Exception as exc:  # a broken install (missing CUDA libraries) fails in other ways too
        raise BackendError(f"backend 'cupy': importing CuPy failed ({type(exc).__name__}: {exc}); "
                           f"check that the CuPy wheel matches your CUDA version, or use backend='numpy'") from exc
    return cupy


def _check_device(cupy):
    """Raise BackendError unless at least one CUDA device is visible; return the count."""
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # cupy's CUDARuntimeError: no driver, driver too old, ...
        raise BackendError(f"backend 'cupy': CuPy is installed but no CUDA device is usable "
                           f"({type(exc).__name__}: {exc}); run on a machine with an NVIDIA GPU and driver, "
                           f"or use backend='numpy'") from exc
    if count < 1:
        raise BackendError("backend 'cupy': CuPy is installed but no CUDA device is visible (0 devices; "
                           "check CUDA_VISIBLE_DEVICES); use backend='numpy'")
    return count


def gpu_unavailable_reason():
    """None when the CuPy backend can run here, else a short reason ("CuPy not installed (...)", "no CUDA device (...)")."""
    try:
        import cupy
    except Exception as exc:
        return f"CuPy not installed ({type(exc).__name__}: {exc})"
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:
        return f"no CUDA device ({type(exc).__name__}: {exc})"
    return None if count > 0 else "no CUDA device (0 visible; check CUDA_VISIBLE_DEVICES)"


class CupyBackend(Backend):
    """Arrays on the current CUDA device through CuPy.

    Attributes
    ----------
    name : str
        ``"cupy"``.
    xp : module
        ``cupy``.
    """

    name = "cupy"

    def __init__(self):
        cupy = _import_cupy()
        _check_device(cupy)
        self.xp = cupy

    def asarray(self, x, dtype=None):
        """Move ``x`` to the GPU (no copy when it is already there in ``dtype``)."""
        return self.xp.asarray(x, dtype=dtype)

    def to_numpy(self, x):
        """Bring ``x`` back to the host as a NumPy array (waits for the GPU)."""
        if isinstance(x, self.xp.ndarray):
            return x.get()
        return numpy.asarray(x)

    def default_rng(self, seed):
        """A seeded ``cupy.random.Generator``; its draws differ from NumPy's for the same seed."""
        return self.xp.random.default_rng(seed)

    def synchronize(self):
        """Wait until the work queued on the current device has finished."""
        self.xp.cuda.Device().synchronize()

    @property
    def ops(self):
        """The fused training-step operations: :mod:`minivae.kernels.cuda`."""
        from .kernels import cuda

        return cuda
