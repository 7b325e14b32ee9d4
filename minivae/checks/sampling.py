"""Check of lesson 1's exercise: the effective sample size of importance weights.

The reference :func:`effective_sample_size` is written out here; the lesson uses it to count
how many of n samples from the prior really contribute to the naive estimate of p(x).
"""
from __future__ import annotations

import numpy as np

from ..errors import DataError, ShapeError
from .compare import _call, _case, _compare, _report, _rng


def effective_sample_size(log_w):
    """ESS = (sum_k w_k)^2 / sum_k w_k^2 from log weights log_w (K, N), per column: (N,).

    Computed with w_k / max_k w_k = exp(log w_k - max_k log w_k), which leaves the ratio unchanged
    and cannot overflow or underflow to 0/0. ESS = K when all weights are equal, 1 when one dominates.
    """
    log_w = np.asarray(log_w, dtype=np.float64)
    if log_w.ndim != 2 or log_w.shape[0] == 0:
        raise ShapeError(f"log_w must have shape (K, N) with K >= 1, got {log_w.shape}")
    if not np.isfinite(log_w).all():
        raise DataError("log_w must be finite")
    w = np.exp(log_w - log_w.max(0))                      # (K, N), the largest weight is 1
    return w.sum(0) ** 2 / (w * w).sum(0)


def check_effective_sample_size(student_fn):
    """``student_fn(log_w) -> ESS (N,)`` from log weights (K, N): (sum_k w_k)^2 / sum_k w_k^2.

    Reference :func:`effective_sample_size`. One case has log weights near -1000, where exp
    underflows to 0: divide every weight by the largest first (subtract the max of the logs).
    """
    check = "check_effective_sample_size"
    rng, results = _rng(19), []
    cases = (((1, 3), -100.0, 5.0), ((5, 4), -100.0, 5.0), ((50, 7), -100.0, 2.0), ((8, 2), -30.0, 0.0),
             ((10, 3), -1000.0, 5.0))
    for (k, n), offset, spread in cases:
        log_w = offset + spread * rng.standard_normal((k, n))
        inputs = {"log_w": log_w}
        got = _call(check, student_fn, {"log_w": log_w.copy()})
        want = effective_sample_size(log_w)
        w = np.exp(log_w - log_w.max(0))
        mistakes = {"divided by K: that is the fraction ESS / K, not the count": want / k,
                    "the inverse, sum w^2 / (sum w)^2": 1 / want,
                    "the log weights used in place of the weights": log_w.sum(0) ** 2 / (log_w ** 2).sum(0),
                    "sum w / sum w^2 (the numerator not squared), with w scaled to max 1": w.sum(0) / (w * w).sum(0)}
        title = f"log_w of shape {(k, n)} around {offset:g}" + (
            " (equal weights: ESS = K)" if spread == 0 else "") + (
            " (exp underflows: subtract the max first)" if offset < -500 else "")
        results.append(_case(check, title, [lambda: _compare(check, "ESS", got, want, inputs, mistakes)]))
    return _report(check, results)
