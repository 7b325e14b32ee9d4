"""Softmax and the cross-entropy of a classifier, forward and backward by hand.

For logits a_n (a row of C scores) and a label y_n in {0, ..., C - 1},

    softmax(a)_c  = exp(a_c) / sum_k exp(a_k)
    log_softmax(a)_c = a_c - m - log sum_k exp(a_k - m),   m = max_k a_k
    L = -1/N sum_n log softmax(a_n)_{y_n}                  (mean cross-entropy, nats)
    dL/da_n = (softmax(a_n) - onehot(y_n)) / N

Subtracting the row's maximum m changes nothing in exact arithmetic (it
cancels between numerator and denominator) and keeps every exp() in (0, 1],
so no logit, however large, overflows.
"""
from __future__ import annotations

import numpy

from .backend import array_module
from .errors import DataError, ShapeError


def log_softmax(a):
    """log softmax(a) along the last axis, stably: a - m - log sum_k exp(a_k - m), m = max_k a_k.

    a: (N, C) (or any shape; the classes are the last axis) -> same shape, same dtype.
    """
    xp = array_module(a)
    shifted = a - a.max(axis=-1, keepdims=True)                  # every entry <= 0
    return shifted - xp.log(xp.exp(shifted).sum(axis=-1, keepdims=True))


def softmax(a, axis=-1):
    """softmax(a)_c = exp(a_c - m) / sum_k exp(a_k - m) along ``axis`` (the last: the classes); sums to 1 there."""
    xp = array_module(a)
    e = xp.exp(a - a.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def check_labels(labels, n, num_classes):
    """labels as an integer array (n,) with values in [0, num_classes); else a clear error.

    ShapeError for another shape, DataError for non-integer dtypes (floats,
    booleans) or values out of range.
    """
    if not hasattr(labels, "dtype"):                              # a list or a scalar
        labels = numpy.asarray(labels)
    shape = tuple(labels.shape)
    if shape != (n,):
        raise ShapeError(f"labels must have shape ({n},) (one class index per row of logits), got {shape}")
    if labels.dtype.kind not in "iu":
        raise DataError(f"labels must be integers (class indices in [0, {num_classes})), got dtype {labels.dtype}")
    if n:
        lo, hi = int(labels.min()), int(labels.max())
        if lo < 0 or hi >= num_classes:
            raise DataError(f"labels must be in [0, {num_classes}) (class indices), got values in [{lo}, {hi}]")
    return labels


def softmax_cross_entropy(logits, labels):
    """Mean cross-entropy L = -1/N sum_n log softmax(a_n)_{y_n} and the cache of its backward.

    logits: (N, C) float with N >= 1; labels: (N,) integers in [0, C).
    Returns (L as a 0-d array of the logits' dtype, cache = (p, labels))
    with p = softmax(logits), (N, C).
    """
    if getattr(logits, "ndim", 0) != 2 or logits.shape[0] == 0:
        raise ShapeError(f"logits must have shape (N, C) with N >= 1, got {tuple(getattr(logits, 'shape', ()))}")
    n, c = logits.shape
    xp = array_module(logits)
    labels = xp.asarray(check_labels(labels, n, c))
    log_p = log_softmax(logits)                                   # (N, C)
    loss = -log_p[xp.arange(n), labels].mean()
    return loss, (xp.exp(log_p), labels)


def softmax_cross_entropy_backward(cache):
    """dL/dlogits = (softmax(logits) - onehot(labels)) / N, (N, C), for the pass that made ``cache``.

    Each row sums to zero: raising every logit of a row by the same amount
    changes no probability.
    """
    p, labels = cache
    xp = array_module(p)
    n = p.shape[0]
    dlogits = p.copy()                                            # p is the cache's: not modified
    dlogits[xp.arange(n), labels] -= 1
    dlogits /= p.dtype.type(n)
    return dlogits
