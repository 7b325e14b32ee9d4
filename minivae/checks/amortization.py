"""Check of lesson 19's exercise: the ELBO's gap split into its approximation and amortization parts.

    log p(x) - L_amortized(x) = (log p(x) - L*(x)) + (L*(x) - L_amortized(x)),

L*(x) the best ELBO of the posterior family for this x alone (Cremer, Li & Duvenaud, 2018).
"""
from __future__ import annotations

import numpy as np

from .compare import _call_for, _case, _compare, _report, _rng


def gap_parts(log_p, elbo_best, elbo_amortized):
    """(approximation gap log p - L*, amortization gap L* - L_amortized), elementwise."""
    return log_p - elbo_best, elbo_best - elbo_amortized


def check_gap_parts(student_fn):
    """``student_fn(log_p, elbo_best, elbo_amortized) -> (approximation, amortization)``, arrays of one shape.

    Reference :func:`gap_parts`, on values ordered as they must be: L_amortized <= L* <= log p.
    """
    check = "check_gap_parts"
    rng, results = _rng(23), []
    for n in (1, 5, 12):
        log_p = rng.uniform(-150, -60, n)
        elbo_best = log_p - rng.uniform(0.1, 3, n)
        elbo_amortized = elbo_best - rng.uniform(0.5, 6, n)
        inputs = {"log_p": log_p, "elbo_best": elbo_best, "elbo_amortized": elbo_amortized}
        if (got := _call_for(check, student_fn, inputs, 2, results)) is None:
            continue
        approx, amort = gap_parts(log_p, elbo_best, elbo_amortized)
        a_mistakes = {"the two parts swapped (this is the amortization gap)": amort, "a sign flipped": -approx,
                      "the total gap log p - L_amortized": approx + amort}
        m_mistakes = {"the two parts swapped (this is the approximation gap)": approx, "a sign flipped": -amort,
                      "the total gap log p - L_amortized": approx + amort}
        results.append(_case(check, f"{n} images", [
            lambda: _compare(check, "approximation gap", got[0], approx, inputs, a_mistakes),
            lambda: _compare(check, "amortization gap", got[1], amort, inputs, m_mistakes)]))
    return _report(check, results)
