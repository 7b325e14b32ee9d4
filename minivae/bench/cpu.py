"""Training epochs of minivae for the benchmark, and the process's memory."""
from __future__ import annotations

import ctypes
import resource
import time

import numpy

from ..optim import Adam
from ..vae import VAE


def set_blas_threads(n):
    """Set the thread count of NumPy's BLAS at run time; returns True if it could.

    Uses threadpoolctl when installed, else calls OpenBLAS's own setter in the
    library NumPy loaded (``openblas_set_num_threads``, with or without
    scipy-openblas's prefix and suffix).
    """
    try:
        import threadpoolctl
    except ImportError:
        threadpoolctl = None
    if threadpoolctl is not None:
        threadpoolctl.threadpool_limits(n, user_api="blas")
        return True
    with open("/proc/self/maps") as f:
        paths = {line.split()[-1] for line in f if "openblas" in line.split()[-1] and ".so" in line}
    for path in paths:
        lib = ctypes.CDLL(path)
        for name in ("scipy_openblas_set_num_threads64_", "scipy_openblas_set_num_threads",
                     "openblas_set_num_threads64_", "openblas_set_num_threads"):
            if hasattr(lib, name):
                getattr(lib, name)(ctypes.c_int(n))
                return True
    return False


def peak_rss_mb():
    """Peak resident memory of this process so far, in MiB (Linux: ru_maxrss is in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class MiniVAETrainer:
    """A VAE, its Adam, and the gather buffers of a benchmark run.

    Each step: gather the batch into a preallocated buffer (``numpy.take``
    with ``out=``, no copy of the dataset), ``loss``, ``backward``, Adam.
    """

    name = "minivae"

    def __init__(self, arch, lr=1e-3, seed=0, fused=True, threads=None):
        self.vae = VAE(**arch, seed=seed)
        self.vae.fused = fused
        self.opt = Adam(self.vae.params, lr=lr)
        if threads == 1:                    # no second thread for the elementwise halves either
            self.vae._split.enabled = self.opt._split.enabled = False
        self._bufs = {}

    def _buffer(self, n, d):
        if n not in self._bufs:
            self._bufs[n] = numpy.empty((n, d), dtype=self.vae.dtype)
        return self._bufs[n]

    def epoch(self, x, order, batch_size):
        """One pass over x[order] in minibatches; returns (seconds, mean training loss)."""
        vae, opt, total = self.vae, self.opt, 0.0
        t0 = time.perf_counter()
        for s in range(0, len(order), batch_size):
            idx = order[s:s + batch_size]
            xb = numpy.take(x, idx, axis=0, out=self._buffer(len(idx), x.shape[1]))
            total += float(vae.loss(xb, check=False)["loss"]) * len(idx)
            vae.backward()
            opt.step(vae.grads)
        return time.perf_counter() - t0, total / len(order)

    def test_loss(self, x, eps, batch_size=500):
        """Mean negative ELBO on x with the given eps (N, latent_dim), in nats per example."""
        total = 0.0
        for s in range(0, x.shape[0], batch_size):
            out = self.vae.loss(x[s:s + batch_size], eps=eps[s:s + batch_size], check=False)
            total += float(out["loss"]) * min(batch_size, x.shape[0] - s)
        return total / x.shape[0]
