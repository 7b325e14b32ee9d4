"""Array backends: where arrays live (NumPy on the CPU, CuPy on a GPU).

Math code never imports NumPy directly; it asks for the array module of its
inputs with :func:`array_module`, or a model asks its :class:`Backend` for
``backend.xp``. One code path therefore runs on both devices.

A backend is an object you pass around (``VAE(..., backend="numpy")``).
:func:`use_backend` sets the default for models created inside a ``with``
block; the default lives in a :class:`contextvars.ContextVar`, so nothing
global outlives the block.
"""
from __future__ import annotations

import contextlib
import contextvars

import numpy

from .errors import BackendError, ConfigError

DTYPES = ("float32", "float64")


def array_module(*arrays):
    """Return the array module (``numpy`` or ``cupy``) that owns ``arrays``.

    Mirrors ``cupy.get_array_module``, without importing CuPy when no CuPy
    array is present (CuPy is an optional dependency).
    """
    for a in arrays:
        if type(a).__module__.startswith("cupy"):
            import cupy

            return cupy
    return numpy


def check_dtype(dtype):
    """Return ``dtype`` as a string, raising ConfigError unless float32/float64."""
    name = numpy.dtype(dtype).name if not isinstance(dtype, str) else dtype
    if name not in DTYPES:
        raise ConfigError(f"dtype must be one of {DTYPES}, got {dtype!r}")
    return name


class Backend:
    """The NumPy backend; the base every backend extends.

    Attributes
    ----------
    name : str
        ``"numpy"`` or ``"cupy"``.
    xp : module
        The array module math code uses (``numpy`` here).
    """

    name = "numpy"

    def __init__(self):
        self.xp = numpy

    def asarray(self, x, dtype=None):
        """Move ``x`` to this backend (no copy when it is already there)."""
        return self.xp.asarray(x, dtype=dtype)

    def to_numpy(self, x):
        """Bring ``x`` back to the host as a NumPy array."""
        return numpy.asarray(x)

    def default_rng(self, seed):
        """A seeded random generator of this backend, owned by its caller."""
        return self.xp.random.default_rng(seed)

    def synchronize(self):
        """Wait for queued device work (nothing to wait for on the CPU)."""

    @property
    def ops(self):
        """The fused training-step operations (:mod:`minivae.kernels.cpu` here)."""
        from .kernels import cpu

        return cpu

    def __repr__(self):
        return f"{type(self).__name__}()"


_BACKENDS = {"numpy": Backend}


def register_backend(name, factory):
    """Make ``get_backend(name)`` build backends with ``factory()``."""
    _BACKENDS[name] = factory


def _load_cupy_backend():
    try:
        from .gpu import CupyBackend
    except ImportError as exc:
        raise BackendError(
            "backend 'cupy' needs CuPy and an NVIDIA GPU: install it with "
            "`pip install -e \".[gpu]\"` (or the cupy-cudaXXx wheel for your CUDA), "
            f"or use backend='numpy' ({exc})"
        ) from exc
    return CupyBackend()


_BACKENDS.setdefault("cupy", _load_cupy_backend)

_default = contextvars.ContextVar("minivae_backend", default=None)


def get_backend(backend=None):
    """Resolve ``backend`` (a Backend, a name, or None for the current default)."""
    if backend is None:
        backend = _default.get() or "numpy"
    if isinstance(backend, Backend):
        return backend
    if backend not in _BACKENDS:
        raise ConfigError(f"unknown backend {backend!r}; expected one of {sorted(_BACKENDS)}")
    return _BACKENDS[backend]()


@contextlib.contextmanager
def use_backend(backend):
    """``with use_backend("cupy"): ...`` makes new models use that backend."""
    token = _default.set(get_backend(backend))
    try:
        yield _default.get()
    finally:
        _default.reset(token)
