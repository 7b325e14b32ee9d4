"""Checks of the bounds on log p(x): the one-sample log weights (lesson 6), the
importance-weighted bound L_K (lesson 10), the Rényi bound L_alpha (lesson 22) and the log weight of two
stochastic layers (lesson 21)."""
from __future__ import annotations

import math

import numpy as np

from .. import iwae, renyi
from .compare import SHAPES, _call, _case, _compare, _gauss_inputs, _report, _rng


# ------------------------------------------------ lesson 6: the log weights
def check_log_weights(student_fn):
    """``student_fn(ll, z, logvar, eps) -> log_w (N,)``: the one-sample Monte Carlo ELBO

        log w = log p(x|z) + log p(z) - log q(z|x)
        log p(z)   = -1/2 sum_j (z_j^2 + log 2 pi)
        log q(z|x) = -1/2 sum_j (eps_j^2 + log sigma_j^2 + log 2 pi)

    with ll = log p(x|z) (N,), z, logvar, eps (N, D). Reference
    :func:`minivae.iwae.log_weights` with K = 1 and beta = 1.
    """
    check = "check_log_weights"
    rng, results = _rng(8), []
    for shape in SHAPES:
        mu, logvar = _gauss_inputs(rng, shape)
        eps = rng.standard_normal(shape)
        z = mu + np.exp(logvar / 2) * eps
        ll = rng.uniform(-200, -50, shape[0])
        inputs = {"ll": ll, "z": z, "logvar": logvar, "eps": eps}
        got = _call(check, student_fn, {k: v.copy() for k, v in inputs.items()})
        want = iwae.log_weights(ll[None], z[None], logvar, eps[None])[0]
        l2p = math.log(2 * math.pi)
        log_pz = -0.5 * (z**2 + l2p).sum(-1)
        mistakes = {
            "log sigma written where log sigma^2 belongs in log q(z|x)":
                ll + log_pz + 0.5 * (eps**2 + logvar / 2 + l2p).sum(-1),
            "z^2 used in log q(z|x), where ((z - mu) / sigma)^2 = eps^2 belongs":
                ll + log_pz + 0.5 * (z**2 + logvar + l2p).sum(-1),
            "log q(z|x) added instead of subtracted": ll + log_pz - 0.5 * (eps**2 + logvar + l2p).sum(-1),
            "log p(z) left out": ll + 0.5 * (eps**2 + logvar + l2p).sum(-1),
        }
        results.append(_case(check, f"z of shape {shape}", [lambda: _compare(check, "log_w", got, want, inputs, mistakes)]))
    return _report(check, results)


# ---------------------------------------------------------- lesson 10: IWAE
def check_iwae_bound(student_fn):
    """``student_fn(log_w) -> L_K (N,)`` from log weights (K, N): log (1/K) sum_k exp(log w_k).

    Reference :func:`minivae.iwae.bound`. One case has log weights near -1000,
    where exp underflows to 0: subtract the max first (log-sum-exp).
    """
    check = "check_iwae_bound"
    rng, results = _rng(9), []
    for (k, n), offset in (((1, 3), -100.0), ((5, 4), -100.0), ((50, 7), -100.0), ((10, 3), -1000.0)):
        log_w = offset + 5 * rng.standard_normal((k, n))
        inputs = {"log_w": log_w}
        got = _call(check, student_fn, {"log_w": log_w.copy()})
        want = iwae.bound(log_w)
        mistakes = {"the -log K left out (a sum instead of a mean of the weights)": want + math.log(k),
                    "the mean of the log weights (that is the ELBO, not L_K)": log_w.mean(0),
                    "the max of the log weights": log_w.max(0)}
        title = f"log_w of shape {(k, n)} around {offset:g}" + (" (exp underflows: use log-sum-exp)" if offset < -500 else "")
        results.append(_case(check, title, [lambda: _compare(check, "L_K", got, want, inputs, mistakes)]))
    return _report(check, results)



# ------------------------------------------------------ lesson 22: Rényi
def check_renyi_bound(student_fn):
    """``student_fn(log_w, alpha) -> L_alpha (N,)`` from log weights (K, N) and a finite alpha != 1:

        L_alpha = 1/(1 - alpha) log (1/K) sum_k exp((1 - alpha) log w_k).

    Reference :func:`minivae.renyi.bound`. The cases take alpha on both sides
    of 0 and above 1 (where 1 - alpha < 0), and log weights where exp((1 - alpha)
    log w) underflows (near -2000) or overflows (alpha = 2 near -1000): take the
    max of (1 - alpha) log w out first.
    """
    check = "check_renyi_bound"
    rng, results = _rng(22), []
    for (k, n), alpha, offset in (((1, 3), 0.5, -100.0), ((5, 4), 0.5, -100.0), ((8, 6), -2.0, -100.0),
                                  ((6, 3), 3.0, -100.0), ((10, 3), 0.0, -100.0), ((10, 3), 0.5, -2000.0),
                                  ((4, 3), 2.0, -1000.0)):
        log_w = offset + 5 * rng.standard_normal((k, n))
        inputs = {"log_w": log_w, "alpha": alpha}
        got = _call(check, student_fn, {"log_w": log_w.copy(), "alpha": alpha})
        want, t = renyi.bound(log_w, alpha), 1.0 - alpha
        mistakes = {"the factor 1/(1 - alpha) left out": t * want,
                    "the -log K left out (a sum instead of a mean of the w^(1 - alpha))": want + math.log(k) / t,
                    "the IWAE bound (alpha = 0), whatever alpha": iwae.bound(log_w),
                    "the mean of the log weights (the ELBO, alpha -> 1)": log_w.mean(0)}
        if alpha != 0:
            mistakes["alpha where 1 - alpha belongs (w^alpha / alpha)"] = renyi.bound(log_w, 1.0 - alpha)
        title = f"log_w of shape {(k, n)} around {offset:g}, alpha = {alpha:g}" + (
            " (exp under- or overflows: use log-sum-exp)" if offset < -500 else "")
        results.append(_case(check, title, [lambda: _compare(check, "L_alpha", got, want, inputs, mistakes)]))
    return _report(check, results)


# ------------------------------------------------- lesson 21: two stochastic layers
def check_two_layer_log_weight(student_fn):
    """``student_fn(ll, z1, eps1, logvar1, mu_p, logvar_p, z2, eps2, logvar2) -> log_w (N,)``: one sample's

        log w = log p(x|z1) + log p(z1|z2) + log p(z2) - log q(z1|x) - log q(z2|z1)
        log q(z|.)   = -1/2 sum_j (eps_j^2 + logvar_j + log 2 pi)             (z = mu + sigma eps)
        log p(z1|z2) = -1/2 sum_j ((z1_j - mu_p,j)^2 / sigma_p,j^2 + logvar_p,j + log 2 pi)
        log p(z2)    = -1/2 sum_j (z2_j^2 + log 2 pi)

    with ll = log p(x|z1) (N,); z1, eps1, logvar1, mu_p, logvar_p (N, M1); z2, eps2, logvar2 (N, M2).
    Reference :func:`minivae.models.two_layer.log_weight`.
    """
    from ..models.two_layer import log_weight

    check = "check_two_layer_log_weight"
    rng, results = _rng(21), []
    l2p = math.log(2 * math.pi)

    def gauss(z, mu, var):
        return -0.5 * ((z - mu) ** 2 / var + np.log(var) + l2p).sum(-1)

    for (n, m1), m2 in zip(SHAPES, (1, 2, 5)):
        mu1, logvar1 = _gauss_inputs(rng, (n, m1))
        eps1, eps2 = rng.standard_normal((n, m1)), rng.standard_normal((n, m2))
        z1 = mu1 + np.exp(logvar1 / 2) * eps1
        mu2, logvar2 = _gauss_inputs(rng, (n, m2))
        z2 = mu2 + np.exp(logvar2 / 2) * eps2
        mu_p, logvar_p = _gauss_inputs(rng, (n, m1))
        ll = rng.uniform(-200, -50, n)
        inputs = {"ll": ll, "z1": z1, "eps1": eps1, "logvar1": logvar1, "mu_p": mu_p, "logvar_p": logvar_p,
                  "z2": z2, "eps2": eps2, "logvar2": logvar2}
        got = _call(check, student_fn, {k: v.copy() for k, v in inputs.items()})
        want = log_weight(**inputs)
        log_q1, log_q2 = gauss(z1, mu1, np.exp(logvar1)), gauss(z2, mu2, np.exp(logvar2))
        log_p1, log_p2 = gauss(z1, mu_p, np.exp(logvar_p)), gauss(z2, 0, 1)
        mistakes = {
            "p(z1) = N(0, I) used where the learned p(z1|z2) belongs": want - log_p1 + gauss(z1, 0, 1),
            "log q(z2|z1) left out": want + log_q2,
            "sigma_p = exp(logvar_p / 2) used where sigma_p^2 belongs in log p(z1|z2)":
                want - log_p1 + gauss(z1, mu_p, np.exp(logvar_p / 2)),
            "z1^2 used in log q(z1|x), where ((z1 - mu1) / sigma1)^2 = eps1^2 belongs":
                want + log_q1 - gauss(z1, 0, np.exp(logvar1)),
            "the log q terms added instead of subtracted": want + 2 * (log_q1 + log_q2),
        }
        results.append(_case(check, f"z1 of shape {(n, m1)}, z2 of shape {(n, m2)}",
                             [lambda: _compare(check, "log_w", got, want, inputs, mistakes)]))
    return _report(check, results)
