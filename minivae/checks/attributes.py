"""Check of lesson 11's exercise: an attribute vector balanced within classes (COMP 432's smile vector).

    v = 1/C sum_c ( mean of mu(x) over class c's top quarter of the attribute
                  - mean of mu(x) over class c's bottom quarter ),

the quarters taken within each class, so that both groups hold the same classes and v points
along the attribute only, not from one class to another.
"""
from __future__ import annotations

import numpy as np

from .compare import _call, _case, _compare, _report, _rng


def attribute_vector(mu, values, labels, q=0.25):
    """Balanced attribute vector from codes mu (N, M), attribute values (N,) and class labels (N,): (M,)."""
    diffs = []
    for c in np.unique(labels):
        sel = labels == c
        lo, hi = np.quantile(values[sel], [q, 1 - q])
        diffs.append(mu[sel & (values >= hi)].mean(0) - mu[sel & (values <= lo)].mean(0))
    return np.mean(diffs, 0)


def _naive(mu, values, q=0.25):
    lo, hi = np.quantile(values, [q, 1 - q])
    return mu[values >= hi].mean(0) - mu[values <= lo].mean(0)


def check_attribute_vector(student_fn):
    """``student_fn(mu, values, labels) -> v (M,)``: the balanced attribute vector above (quarters, q = 0.25).

    Reference :func:`attribute_vector`. In every case the attribute is confounded with the class
    (some classes have more of it), so the naive vector differs from the balanced one.
    """
    check = "check_attribute_vector"
    rng, results = _rng(22), []
    for n, m, c in ((40, 1, 2), (200, 4, 5), (600, 16, 10)):
        labels = rng.integers(0, c, n)
        labels[:4 * c] = np.repeat(np.arange(c), 4)               # every class has at least 4 members
        centres = 2 * rng.standard_normal((c, m))
        values = labels + rng.standard_normal(n)                    # the attribute grows with the class
        mu = centres[labels] + 0.5 * values[:, None] * rng.standard_normal(m) + 0.3 * rng.standard_normal((n, m))
        inputs = {"mu": mu, "values": values, "labels": labels}
        got = _call(check, student_fn, {k: v.copy() for k, v in inputs.items()})
        want = attribute_vector(mu, values, labels)
        mistakes = {"the naive vector: quarters of the whole set, not within each class": _naive(mu, values),
                    "bottom quarter minus top quarter (the sign flipped)": -want,
                    "the halves (above / below the median), not the quarters": attribute_vector(mu, values, labels, 0.5),
                    "the sum over classes, not the mean": want * len(np.unique(labels))}
        results.append(_case(check, f"mu {mu.shape}, {c} classes", [
            lambda: _compare(check, "attribute vector", got, want, inputs, mistakes)]))
    return _report(check, results)
