"""Checks of the Gaussian posterior: the closed-form KL and its backward pass
(lessons 2 and 5), the reparameterization trick and its backward pass (lesson 4)."""
from __future__ import annotations

import numpy as np

from ..kl import kl_backward, kl_divergence
from ..reparam import reparameterize, reparameterize_backward
from .compare import SHAPES, _call, _call_for, _case, _compare, _gauss_inputs, _report, _rng


# ------------------------------------------------------------ lesson 2: KL
def check_kl_divergence(student_fn):
    """``student_fn(mu, logvar) -> kl (N,)``: KL(N(mu, sigma^2) || N(0, I)) per example.

    Reference :func:`minivae.kl.kl_divergence`, 1/2 sum_j (mu^2 + sigma^2 - log sigma^2 - 1).
    """
    check = "check_kl_divergence"
    rng, results = _rng(0), []
    for shape, special in [(s, None) for s in SHAPES] + [((3, 5), "prior")]:
        mu, logvar = _gauss_inputs(rng, shape, special)
        inputs = {"mu": mu, "logvar": logvar}
        got = _call(check, student_fn, {"mu": mu.copy(), "logvar": logvar.copy()})
        s2 = np.exp(logvar)
        mistakes = {
            "a missing factor 1/2": (mu**2 + s2 - logvar - 1).sum(-1),
            "sigma = exp(logvar / 2) used where sigma^2 belongs": 0.5 * (mu**2 + np.exp(logvar / 2) - logvar - 1).sum(-1),
            "the sign of the log sigma^2 term flipped": 0.5 * (mu**2 + s2 + logvar - 1).sum(-1),
            "the whole KL negated": -kl_divergence(mu, logvar),
            "the -1 left out": 0.5 * (mu**2 + s2 - logvar).sum(-1),
            "a mean over dimensions instead of a sum": 0.5 * (mu**2 + s2 - logvar - 1).mean(-1),
        }
        title = f"mu, logvar of shape {shape}" + (" (mu = 0, logvar = 0: KL must be 0)" if special else "")
        results.append(_case(check, title, [lambda: _compare(check, "kl", got, kl_divergence(mu, logvar),
                                                             inputs, mistakes)]))
    return _report(check, results)


# ------------------------------------------------------- lesson 5: backward
def check_kl_backward(student_fn):
    """``student_fn(dkl, mu, logvar) -> (dmu, dlogvar)`` for the closed-form KL.

    dkl: (N,) upstream gradient dLoss/dKL_n. Reference :func:`minivae.kl.kl_backward`:
    dmu = dkl * mu, dlogvar = dkl * (exp(logvar) - 1) / 2.
    """
    check = "check_kl_backward"
    rng, results = _rng(1), []
    for shape in SHAPES:
        mu, logvar = _gauss_inputs(rng, shape)
        dkl = rng.standard_normal(shape[0])
        inputs = {"dkl": dkl, "mu": mu, "logvar": logvar}
        if (got := _call_for(check, student_fn, inputs, 2, results)) is None:
            continue
        dmu, dlogvar = kl_backward(dkl[:, None], mu, logvar)   # a weight per example
        g = dkl[:, None]
        mistakes_lv = {
            "a missing factor 1/2": g * (np.exp(logvar) - 1),
            "sigma = exp(logvar / 2) used where sigma^2 belongs": g * 0.5 * (np.exp(logvar / 2) - 1),
            "a sign error (1 - sigma^2 instead of sigma^2 - 1)": -dlogvar,
            "the upstream gradient dkl ignored": 0.5 * (np.exp(logvar) - 1),
        }
        mistakes_mu = {"a sign error": -dmu, "the upstream gradient dkl ignored": mu,
                       "a spurious factor 1/2": 0.5 * dmu}
        results.append(_case(check, f"mu, logvar of shape {shape}, dkl of shape {dkl.shape}", [
            lambda: _compare(check, "dmu", got[0], dmu, inputs, mistakes_mu),
            lambda: _compare(check, "dlogvar", got[1], dlogvar, inputs, mistakes_lv)]))
    return _report(check, results)


# ------------------------------------------------------ lesson 4: the trick
def check_reparameterize(student_fn):
    """``student_fn(mu, logvar, eps) -> z``: z = mu + exp(logvar / 2) * eps.

    Reference :func:`minivae.reparam.reparameterize`.
    """
    check = "check_reparameterize"
    rng, results = _rng(2), []
    for shape in SHAPES:
        mu, logvar = _gauss_inputs(rng, shape)
        eps = rng.standard_normal(shape)
        inputs = {"mu": mu, "logvar": logvar, "eps": eps}
        got = _call(check, student_fn, {k: v.copy() for k, v in inputs.items()})
        z = reparameterize(mu, logvar, eps)[0]
        mistakes = {
            "sigma^2 = exp(logvar) used where sigma belongs": mu + np.exp(logvar) * eps,
            "logvar used as sigma": mu + logvar * eps,
            "a sign error (mu - sigma * eps is also N(mu, sigma^2) in law, but not the agreed z)": mu - np.exp(logvar / 2) * eps,
        }
        results.append(_case(check, f"shape {shape}", [lambda: _compare(check, "z", got, z, inputs, mistakes)]))
    return _report(check, results)


def check_reparameterize_backward(student_fn):
    """``student_fn(dz, mu, logvar, eps) -> (dmu, dlogvar)`` for z = mu + exp(logvar / 2) * eps.

    Reference :func:`minivae.reparam.reparameterize_backward`:
    dmu = dz, dlogvar = dz * eps * sigma / 2.
    """
    check = "check_reparameterize_backward"
    rng, results = _rng(3), []
    for shape in SHAPES:
        mu, logvar = _gauss_inputs(rng, shape)
        eps, dz = rng.standard_normal(shape), rng.standard_normal(shape)
        inputs = {"dz": dz, "mu": mu, "logvar": logvar, "eps": eps}
        if (got := _call_for(check, student_fn, inputs, 2, results)) is None:
            continue
        _, cache = reparameterize(mu, logvar, eps)
        dmu, dlogvar = reparameterize_backward(dz, cache)
        sigma = np.exp(logvar / 2)
        mistakes = {
            "a missing factor 1/2 (d sigma / d logvar = sigma / 2)": dz * eps * sigma,
            "sigma^2 used where sigma belongs": 0.5 * dz * eps * sigma**2,
            "the factor sigma left out": 0.5 * dz * eps,
            "a sign error": -dlogvar,
            "eps left out": 0.5 * dz * sigma,
        }
        results.append(_case(check, f"shape {shape}", [
            lambda: _compare(check, "dmu", got[0], dmu, inputs, {"a sign error": -dmu}),
            lambda: _compare(check, "dlogvar", got[1], dlogvar, inputs, mistakes)]))
    return _report(check, results)

