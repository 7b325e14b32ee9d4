"""Check of lesson 7's exercise: the optimum of the 1-1-1 linear beta-VAE.

Data x ~ N(0, v), encoder q(z|x) = N(a x, tau^2), decoder x_hat = w z with noise variance s^2 and a
weight beta on the KL. Setting the derivatives of the expected loss to zero (lesson 7, Step 1):

    w^2 = max(v - beta s^2, 0),   a = w / (w^2 + beta s^2),   tau^2 = beta s^2 / (w^2 + beta s^2),

taking the root w = +sqrt(w^2) (the sign of w and a is a symmetry of the loss).
"""
from __future__ import annotations

import numpy as np

from .compare import _call_for, _case, _compare, _report, _rng


def linear_vae_optimum(v, s, beta):
    """(w^2, a, tau^2) above, elementwise over arrays v, s, beta of one shape."""
    bs2 = beta * s**2
    w2 = np.maximum(v - bs2, 0.0)
    return w2, np.sqrt(w2) / (w2 + bs2), bs2 / (w2 + bs2)


def check_linear_vae_optimum(student_fn):
    """``student_fn(v, s, beta) -> (w2, a, tau2)``, each of the shape of v (arrays of one shape).

    Reference :func:`linear_vae_optimum`. Some cases have v < beta s^2, where the direction is
    switched off (w = 0, posterior collapse).
    """
    check = "check_linear_vae_optimum"
    rng, results = _rng(21), []
    for n, title in ((1, "one direction"), (6, "six directions, some below the noise"), (20, "twenty directions")):
        v = rng.uniform(0.1, 6.0, n)
        s = rng.uniform(0.5, 1.5, n)
        beta = rng.choice([0.5, 1.0, 2.0, 4.0], n)
        if n == 1:
            v, s, beta = np.array([4.0]), np.array([1.0]), np.array([2.0])
        inputs = {"v": v, "s": s, "beta": beta}
        if (got := _call_for(check, student_fn, inputs, 3, results)) is None:
            continue
        w2, a, tau2 = linear_vae_optimum(v, s, beta)
        no_beta = linear_vae_optimum(v, s, np.ones_like(beta))
        s_not_s2 = linear_vae_optimum(v, np.sqrt(s), beta)
        w2_mistakes = {"beta left out (that is the beta = 1 optimum)": no_beta[0],
                       "no max(., 0): a negative w^2 where the direction is switched off": v - beta * s**2,
                       "s where s^2 belongs": s_not_s2[0]}
        a_mistakes = {"beta left out (that is the beta = 1 optimum)": no_beta[1], "s where s^2 belongs": s_not_s2[1],
                      "a = w / beta s^2 (the w^2 left out of the denominator)": np.sqrt(w2) / (beta * s**2)}
        tau2_mistakes = {"beta left out of tau^2": s**2 / (w2 + s**2),
                         "1 - tau^2, i.e. w^2 / (w^2 + beta s^2)": w2 / (w2 + beta * s**2),
                         "s where s^2 belongs": s_not_s2[2]}
        results.append(_case(check, title, [
            lambda: _compare(check, "w2", got[0], w2, inputs, w2_mistakes),
            lambda: _compare(check, "a", got[1], a, inputs, a_mistakes),
            lambda: _compare(check, "tau2", got[2], tau2, inputs, tau2_mistakes)]))
    return _report(check, results)
