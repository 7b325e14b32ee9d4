"""Array backends: where arrays live (NumPy on the CPU, CuPy on a GPU).

Math code never imports NumPy directly; it asks for the array module of its
inputs with :func:`array_module`, or a model asks its :class:`Backend` for
``backend.xp``. One code path therefore runs on both devices.

A backend is an object you pass around (``VAE(..., backend="numpy")``):
its array module ``xp`` and its fused ops ``ops``. This module holds what
every backend shares and the registry of backends by name; the backends
themselves are :mod:`minivae.backend.numpy_backend` (NumPy) and :mod:`minivae.backend.cupy_backend` (CuPy),
which register themselves, so this module imports neither them nor the
kernels.

:func:`use_backend` sets the default for models created inside a ``with``
block; the default lives in a :class:`contextvars.ContextVar`, so nothing
global outlives the block.
"""
from __future__ import annotations

import contextlib
import contextvars
import types

import numpy

from ..errors import ConfigError

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
    """What every backend is: an array module and a module of fused ops.

    Attributes
    ----------
    name : str
        ``"numpy"`` or ``"cupy"`` (the key it is registered under).
    xp : module
        The array module math code uses (``numpy``, ``cupy``).
    ops : module
        The fused training-step operations, with the signatures and semantics
        of :mod:`minivae.backend.kernels.reference` (``kernels.numpy_ops`` on
        NumPy, ``kernels.cuda`` on CuPy), the optimizers' updates included.
        Layers, models and optimizers reach them only here.

    This base class knows no concrete backend: :mod:`minivae.backend.numpy_backend` and
    :mod:`minivae.backend.cupy_backend` define them and register them by name
    (:func:`register_backend`), the way thinc's ``CupyOps`` overrides the
    generic ``Ops``.
    """

    name = "base"

    def __init__(self, xp, ops):
        self.xp, self.ops = xp, ops

    def asarray(self, x, dtype=None):
        """Move ``x`` to this backend (no copy when it is already there)."""
        return self.xp.asarray(x, dtype=dtype)

    def to_numpy(self, x):
        """Bring ``x`` back to the host as a NumPy array."""
        return numpy.asarray(x)

    def take_rows(self, x, idx, out):
        """out[i] = x[idx[i]]: gather rows of x (a batch) into ``out`` without allocating."""
        return self.xp.take(x, idx, axis=0, out=out)

    def default_rng(self, seed):
        """A seeded random generator of this backend, owned by its caller."""
        return self.xp.random.default_rng(seed)

    def synchronize(self):
        """Wait for queued device work (nothing to wait for on the CPU)."""

    def __repr__(self):
        return f"{type(self).__name__}()"


_BACKENDS = {}


def register_backend(name, factory, modules=()):
    """Make ``get_backend(name)`` build backends with ``factory()``.

    ``modules``: names of array modules (``"numpy"``) that mean this backend
    where one is passed instead of a name (``Dense(..., numpy, ...)``).
    """
    _BACKENDS[name] = factory
    for module in modules:
        _MODULES[module] = name


_MODULES = {}
_default = contextvars.ContextVar("minivae_backend", default=None)


def get_backend(backend=None):
    """Resolve ``backend``: a Backend, a registered name, an array module, or None for the current default."""
    if backend is None:
        backend = _default.get() or "numpy"
    if isinstance(backend, Backend):
        return backend
    if isinstance(backend, types.ModuleType):
        backend = _MODULES.get(backend.__name__, backend.__name__)
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
