"""The CuPy backend: the same model code, with arrays on an NVIDIA GPU.

:class:`CupyBackend` sets ``xp = cupy`` and keeps everything else of
:class:`minivae.backend.Backend` (thinc's ``CupyOps`` pattern): math code asks
the backend for its array module, and the fused training-step ops come from
:mod:`minivae.backend.kernels.cuda` instead of :mod:`minivae.backend.kernels.numpy_ops`. Importing
this module registers it as ``"cupy"`` (``minivae`` imports it; the import
needs no CuPy).

CuPy is optional. Importing this module imports nothing from it; building a
:class:`CupyBackend` does, and raises :class:`minivae.errors.BackendError`
saying what is missing when CuPy is not installed or no CUDA device is
visible. :func:`gpu_unavailable_reason` tells the same without raising (the
tests use it to skip).
"""
from __future__ import annotations

import numpy

from . import Backend, register_backend
from ..errors import BackendError
from .kernels import cuda

INSTALL_HINT = ("install CuPy for your CUDA version (`pip install -e \".[gpu]\"` for CUDA 12, "
                "`pip install -e \".[gpu-cuda13]\"` for CUDA 13, or the cupy-cudaXXx wheel), or use backend='numpy'")


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
    """Arrays on the current CUDA device through CuPy (``xp = cupy``), ops from :mod:`minivae.backend.kernels.cuda`.

    ``asarray`` moves to the GPU and ``default_rng`` draws on it (its draws
    differ from NumPy's for the same seed); the rest is below.
    """

    name = "cupy"

    def __init__(self):
        cupy = _import_cupy()
        _check_device(cupy)
        super().__init__(cupy, cuda)

    def to_numpy(self, x):
        """Bring ``x`` back to the host as a NumPy array (waits for the GPU)."""
        if isinstance(x, self.xp.ndarray):
            return x.get()
        return numpy.asarray(x)

    def synchronize(self):
        """Wait until the work queued on the current device has finished."""
        self.xp.cuda.Device().synchronize()


register_backend("cupy", CupyBackend, modules=("cupy",))


class GraphedLossBackward:
    """``model.loss`` + ``model.backward`` for one batch size, captured once as a CUDA graph.

    A training step of a small VAE at batch 128 is launch-bound: the GPU waits
    for Python to issue some fifty small kernels. Replaying them as one graph
    costs a single launch. Shapes must be static, so the graph reads its input
    from two buffers owned by this object, ``x`` (N, D) and ``eps``
    (N, latent_dim), and writes to the model's ``grads`` and to ``out`` (the
    loss dict, updated in place at each replay).

    The optimizer step stays outside the graph: Adam's bias correction changes
    with the step count t, which a replay could not see. For the same reason
    the KL weight ``model.beta`` is frozen at capture: build a new
    GraphedLossBackward after changing it (KL warm-up).

    Memory: everything allocated during capture comes from a private memory
    pool that nothing else allocates from, so the graph's temporaries are
    never handed to other arrays between replays (the PyTorch design too).
    Only for models with ``iwae_k = 1``, no labels, and ``check=False``
    semantics (no host read-back inside the step).

    >>> step = GraphedLossBackward(model, 128)        # doctest: +SKIP
    >>> out = step(xb)               # eps drawn from model.rng into step.eps
    >>> opt.step(model.grads)
    """

    def __init__(self, model, batch_size):
        cupy = model.xp
        if model.backend.name != "cupy":
            raise BackendError(f"CUDA graphs need a model on backend 'cupy', this one is on {model.backend.name!r}")
        c = model.config
        if c.iwae_k != 1 or c.conditional:
            raise BackendError("GraphedLossBackward supports unconditional models with iwae_k = 1 only")
        self.model = model
        self.x = cupy.zeros((batch_size, c.input_dim), dtype=model.dtype)
        self.eps = cupy.zeros((batch_size, c.latent_dim), dtype=model.dtype)
        self.pool = cupy.cuda.MemoryPool()
        stream = cupy.cuda.Stream(non_blocking=True)
        with stream, cupy.cuda.using_allocator(self.pool.malloc):
            for _ in range(2):        # warm-up: compile kernels, create handles, fill the private pool
                model.loss(self.x, eps=self.eps, check=False)
                model.backward()
            stream.synchronize()
            stream.begin_capture()
            try:
                self.out = model.loss(self.x, eps=self.eps, check=False)
                model.backward()
            finally:
                self.graph = stream.end_capture()
        stream.synchronize()

    def __call__(self, x, eps=None):
        """Copy x (and eps, else draw it from model.rng) into the buffers and replay; return the loss dict."""
        self.x[...] = x
        if eps is None:
            self.model.rng.standard_normal(self.eps.shape, dtype=self.eps.dtype, out=self.eps)
        else:
            self.eps[...] = eps
        self.graph.launch()           # on the current stream, after the copies
        return self.out
