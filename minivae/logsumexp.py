"""A numerically stable log-sum-exp."""
from __future__ import annotations

import numpy

from .backend import array_module
from .softmax import softmax  # noqa: F401 (IWAE's weights were imported from here: one definition, in softmax.py)


def logsumexp(a, axis=None, keepdims=False):
    """log sum_i exp(a_i), computed as m + log sum_i exp(a_i - m), m = max_i a_i.

    Never overflows; an all -inf slice gives -inf (not NaN).
    """
    xp = array_module(a)
    m = xp.max(a, axis=axis, keepdims=True)
    m = xp.where(xp.isfinite(m), m, 0)
    total = xp.sum(xp.exp(a - m), axis=axis, keepdims=True)
    with numpy.errstate(divide="ignore"):         # an all -inf slice: log 0 = -inf, by design
        out = xp.log(total) + m
    return out if keepdims else xp.squeeze(out, axis=axis)

