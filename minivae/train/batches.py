"""From an epoch's order to the batches a model trains on: gather, binarize, corrupt, into reused buffers."""
from __future__ import annotations

import dataclasses

from ..backend import array_module
from ..backend.buffers import Buffers
from ..datasets import binarize


@dataclasses.dataclass
class Batch:
    """One training batch, as ``fit`` hands it to ``model.train_step``.

    x: what the model reads, (N, D) (corrupted for a denoising VAE);
    target: the clean batch (x itself when nothing corrupts it); y: labels
    (N,) or None; warmup: the KL warm-up's fraction in [0, 1] at this step
    (1 without warm-up). The arrays are the loop's buffers, valid for this step.
    """

    x: object
    target: object
    y: object = None
    warmup: float = 1.0


def corrupt(x, rng, sigma=0.0, mask=0.0, out=None, work=None):
    """A denoising VAE's input: x + N(0, sigma^2) clipped to [0, 1], then pixels zeroed with probability mask.

    x is not modified. ``out`` (the result) and ``work`` (scratch) are
    (N, D) arrays of x's dtype, allocated when None.
    """
    xp = array_module(x)
    out = x.copy() if out is None else out
    if out is not x:
        xp.copyto(out, x)
    if sigma > 0:
        noise = rng.standard_normal(x.shape, dtype=x.dtype, out=work)
        noise *= x.dtype.type(sigma)
        out += noise
        xp.clip(out, 0, 1, out=out)
    if mask > 0:
        keep = rng.random(x.shape, dtype=x.dtype, out=work)
        xp.greater_equal(keep, x.dtype.type(mask), out=keep)     # 1 with probability 1 - mask
        out *= keep
    return out


class BatchMaker:
    """The batches of one run: index rows of the (device) data into buffers kept per batch size.

    ``rng`` (the loop's noise generator) draws the dynamic binarization and
    the corruption; nothing of size (N, D) is allocated after the first
    batch of each size.
    """

    def __init__(self, x, y, config, rng, backend):
        self.x, self.y, self.config, self.rng, self.backend = x, y, config, rng, backend
        self.buffers = Buffers(backend.xp, x.dtype)

    def __call__(self, idx, idx_device, warmup=1.0):
        """The Batch of rows ``idx`` (host indices; ``idx_device`` the same on x's device)."""
        c, buf = self.config, self.buffers
        shape = (len(idx), self.x.shape[1])
        xb = self.backend.take_rows(self.x, idx_device, out=buf("x", shape))
        if c.binarize:
            binarize(xb, self.rng, out=xb, work=buf("work", shape))
        xin = xb
        if c.denoise or c.mask_noise:
            xin = corrupt(xb, self.rng, c.denoise, c.mask_noise, out=buf("x_in", shape), work=buf("work", shape))
        return Batch(x=xin, target=xb, y=None if self.y is None else self.y[idx], warmup=warmup)
