"""Check of lesson 3's exercise: the ELBO's reconstruction term in closed form for a linear-Gaussian decoder.

Model: x | z ~ N(W z + b, s^2 I_D) with W (D, M) in math layout; q(z|x) = N(mu, diag sigma^2),
sigma^2 = exp(logvar). With z = mu + sigma * eps the residual is (x - W mu - b) - W (sigma * eps), so

    E_q[log p(x|z)] = -1/2 [ (||x - W mu - b||^2 + sum_j sigma_j^2 ||W_:j||^2) / s^2 + D log(2 pi s^2) ].
"""
from __future__ import annotations

import math

import numpy as np

from .compare import _call, _case, _compare, _gauss_inputs, _report, _rng


def expected_log_likelihood(x, mu, logvar, W, b, s):
    """E_q[log N(x; W z + b, s^2 I)] for q = N(mu, diag exp(logvar)): x (N, D), mu, logvar (N, M) -> (N,)."""
    var = np.exp(logvar)                                          # (N, M)
    r = x - mu @ W.T - b                                          # (N, D)
    d = x.shape[1]
    return -0.5 * (((r * r).sum(1) + var @ (W * W).sum(0)) / s**2 + d * math.log(2 * math.pi * s**2))


def check_expected_log_likelihood(student_fn):
    """``student_fn(x, mu, logvar, W, b, s) -> (N,)``: the closed form above, one value per row of x.

    Reference :func:`expected_log_likelihood`; lesson 3 checks it against a Monte Carlo average of
    the library's ``gaussian_log_likelihood`` as well.
    """
    check = "check_expected_log_likelihood"
    rng, results = _rng(20), []
    for n, d, m, s in ((1, 1, 1, 1.0), (4, 5, 2, 0.5), (16, 10, 3, 2.0), (6, 3, 3, 0.3)):
        mu, logvar = _gauss_inputs(rng, (n, m))
        W, b = rng.standard_normal((d, m)), rng.standard_normal(d)
        x = rng.standard_normal((n, d))
        inputs = {"x": x, "mu": mu, "logvar": logvar, "W": W, "b": b, "s": s}
        got = _call(check, student_fn, {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in inputs.items()})
        want = expected_log_likelihood(x, mu, logvar, W, b, s)
        r2 = ((x - mu @ W.T - b) ** 2).sum(1)
        spread = np.exp(logvar) @ (W * W).sum(0)
        const = d * math.log(2 * math.pi * s**2)
        mistakes = {
            "the variance term sum_j sigma_j^2 ||W_:j||^2 left out: that is log p(x|z) at z = mu, not its "
            "expectation over q": -0.5 * (r2 / s**2 + const),
            "sigma_j where sigma_j^2 belongs in the variance term": -0.5 * ((r2 + np.exp(logvar / 2) @ (W * W).sum(0))
                                                                           / s**2 + const),
            "s where s^2 belongs": -0.5 * ((r2 + spread) / s + d * math.log(2 * math.pi * s)),
            "the constant D log(2 pi s^2) left out": -0.5 * (r2 + spread) / s**2,
            "the factor 1/2 left out": -((r2 + spread) / s**2 + const),
        }
        results.append(_case(check, f"x {x.shape}, mu {mu.shape}, s = {s}", [
            lambda: _compare(check, "E_q[log p(x|z)]", got, want, inputs, mistakes)]))
    return _report(check, results)
