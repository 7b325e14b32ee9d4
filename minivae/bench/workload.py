"""The benchmark's data, minivae's training epochs for it, and the process's memory."""
from __future__ import annotations

import resource
import time

import numpy

from ..optim import Adam
from ..train import Batch
from ..models.vae import VAE


def peak_rss_mb():
    """Peak resident memory of this process so far, in MiB (Linux: ru_maxrss is in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class MiniVAETrainer:
    """A VAE, its Adam, its data, and the gather buffers of a benchmark run.

    Each step: gather the batch into a preallocated buffer (``numpy.take``
    with ``out=``, no copy of the dataset), then ``vae.train_step`` (loss,
    backward, Adam), as ``fit`` runs it. The caller sets BLAS's threads.
    """

    name = "minivae"

    def __init__(self, arch, x, x_test, lr=1e-3, seed=0):
        self.vae = VAE(**arch, seed=seed)
        self.opt = {"vae": Adam(self.vae.params, lr=lr)}
        self.x, self.x_test = x, x_test
        self._bufs = {}

    def _buffer(self, n, d):
        if n not in self._bufs:
            self._bufs[n] = numpy.empty((n, d), dtype=self.vae.dtype)
        return self._bufs[n]

    def epoch(self, order, batch_size):
        """One pass over x[order] in minibatches; returns (seconds, mean training loss)."""
        vae, opt, x, total = self.vae, self.opt, self.x, 0.0
        t0 = time.perf_counter()
        for s in range(0, len(order), batch_size):
            idx = order[s:s + batch_size]
            xb = numpy.take(x, idx, axis=0, out=self._buffer(len(idx), x.shape[1]))
            total += float(vae.train_step(Batch(x=xb, target=xb), opt)["loss"]) * len(idx)
        return time.perf_counter() - t0, total / len(order)

    def test_loss(self, eps, batch_size=500):
        """Mean negative ELBO on the test images with the given eps (N, latent_dim), in nats per example."""
        total, x = 0.0, self.x_test
        for s in range(0, x.shape[0], batch_size):
            out = self.vae.loss(x[s:s + batch_size], eps=eps[s:s + batch_size], check=False)
            total += float(out["loss"]) * min(batch_size, x.shape[0] - s)
        return total / x.shape[0]


def load_data(limit=None, test_limit=None):
    """(train images, test images, MiB of the full float32 arrays): MNIST in [0, 1], the first LIMIT of each."""
    from ..datasets import load_dataset

    train = load_dataset("mnist", "train").x
    test = load_dataset("mnist", "test").x
    dataset_mb = (train.nbytes + test.nbytes) / 2**20      # the float32 arrays, whatever --limit says
    return train[:limit] if limit else train, test[:test_limit] if test_limit else test, dataset_mb
