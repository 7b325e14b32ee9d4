"""A conditional VAE's labels (CVAE): y checked, as one-hot rows, and appended to what encoder and decoder read.

With C classes, encoder and decoder read [x, onehot(y)] and [z, onehot(y)]:
the label is one more input, never reconstructed and given no gradient.
An unconditional model (``num_classes=None``) takes no labels.
"""
from __future__ import annotations

import numpy

from ..errors import ConfigError, DataError, ShapeError


class Labels:
    """The labels of a model with ``num_classes`` C classes (None: unconditional)."""

    def __init__(self, num_classes, backend, dtype):
        self.num_classes, self.backend, self.dtype = num_classes, backend, dtype

    def onehot(self, y, n):
        """One-hot labels (n, C) on the backend for integer labels y (n,) (or one int for all n); None for an
        unconditional model, which refuses labels (ConfigError); DataError / ShapeError for bad ones."""
        c = self.num_classes
        if c is None:
            if y is not None:
                raise ConfigError("labels y were given, but this VAE is unconditional "
                                  "(num_classes=None); build it with num_classes=C to condition on labels")
            return None
        if y is None:
            raise DataError(f"this VAE is conditional (num_classes={c}): pass the labels y, "
                            "integers in [0, num_classes)")
        y = numpy.asarray(self.backend.to_numpy(y))
        if y.ndim == 0:
            y = numpy.full(n, int(y))
        if y.shape != (n,):
            raise ShapeError(f"labels y must have shape ({n},), got {y.shape}")
        if not numpy.issubdtype(y.dtype, numpy.integer):
            raise DataError(f"labels y must be integers, got dtype {y.dtype}")
        if n and (y.min() < 0 or y.max() >= c):
            raise DataError(f"labels must be in [0, {c}), got values in [{y.min()}, {y.max()}]")
        onehot = numpy.zeros((n, c), dtype=self.dtype)
        onehot[numpy.arange(n), y] = 1
        return self.backend.asarray(onehot)

    def append(self, a, onehot, buf=None, name=None):
        """What a network reads: a (R, F), or [a, onehot] (R, F + C) with the labels (N, C) repeated down the
        R = K N rows; in the kept buffer ``buf(name)`` (training), or a new array."""
        if onehot is None:
            return a
        rows, f = a.shape
        shape = (rows, f + onehot.shape[1])
        out = self.backend.xp.empty(shape, dtype=self.dtype) if name is None else buf(name, shape)
        out[:, :f] = a
        for s in range(0, rows, onehot.shape[0]):
            out[s:s + onehot.shape[0], f:] = onehot
        return out
