"""Arrays reused from one training step to the next.

A training step at a fixed batch size needs the same arrays every time: the
layers' outputs, the gradients flowing back, the loss's scratch. Allocating
them anew each step costs time (and, on a GPU, allocator traffic); keeping
them costs memory. :class:`Buffers` keeps them for the few batch sizes in use
(the full batch and the last, smaller one of an epoch, an evaluation size),
least recently used first out.
"""
from __future__ import annotations

import numpy


class Buffers:
    """Named arrays kept per batch size: ``buf("y", (N, D))`` is the same array every call.

    The array is made on first use (uninitialized, like ``xp.empty``) and
    kept with the other arrays of its leading size N; when more than
    ``keep`` sizes are in use, those of the least recently used size are
    dropped. An owner (a layer, a model) hands out what it gets here as its
    output: it is valid until the owner's next call at that batch size.
    """

    def __init__(self, xp, dtype, keep=4):
        self.xp, self.dtype, self.keep = xp, numpy.dtype(dtype), keep
        self._by_size = {}

    def __call__(self, name, shape, dtype=None):
        shape = tuple(int(s) for s in shape)
        dtype = self.dtype if dtype is None else numpy.dtype(dtype)
        size = shape[0] if shape else 0
        arrays = self._by_size.pop(size, None)
        if arrays is None:
            arrays = {}
            if len(self._by_size) >= self.keep:
                self._by_size.pop(next(iter(self._by_size)))     # the least recently used size
        self._by_size[size] = arrays                              # most recently used last
        a = arrays.get(name)
        if a is None or a.shape != shape or a.dtype != dtype:
            a = arrays[name] = self.xp.empty(shape, dtype=dtype)
        return a

    def sizes(self):
        """The batch sizes whose arrays are kept, least recently used first."""
        return list(self._by_size)

    def arrays(self):
        """Every kept array."""
        return [a for arrays in self._by_size.values() for a in arrays.values()]
