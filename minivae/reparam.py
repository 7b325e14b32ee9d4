"""The reparameterization trick (Brown VAEs part 2; HY-673 lecture 10).

The encoder predicts ``mu`` and ``logvar = log sigma^2``. Stated once, used
everywhere in minivae:

    sigma = exp(logvar / 2)

A sample z ~ N(mu, sigma^2) is written as a deterministic function of the
parameters and parameter-free noise eps ~ N(0, I):

    z = mu + sigma * eps

so dL/dmu and dL/dlogvar flow through the sample.
"""
from __future__ import annotations

from .backend import array_module


def sigma_from_logvar(logvar):
    """sigma = exp(logvar / 2): the standard deviation of q(z|x)."""
    return array_module(logvar).exp(0.5 * logvar)


def reparameterize(mu, logvar, eps):
    """z = mu + exp(logvar / 2) * eps.

    mu, logvar: (N, D); eps: (N, D), or (K, N, D) for K samples per example.
    Returns z with eps's shape and the cache for :func:`reparameterize_backward`.
    """
    sigma = sigma_from_logvar(logvar)
    z = mu + sigma * eps
    return z, (sigma, eps)


def reparameterize_backward(dz, cache):
    """Gradients of z = mu + sigma * eps with sigma = exp(logvar / 2).

    dz/dmu = 1 and dz/dlogvar = sigma * eps / 2, so

        dmu = dz,   dlogvar = dz * eps * sigma / 2,

    summed over the sample axis when eps has K samples per example.
    dz: eps's shape -> dmu, dlogvar: (N, D).
    """
    sigma, eps = cache
    dmu = dz
    dlogvar = 0.5 * dz * eps * sigma
    if dz.ndim == 3:
        dmu, dlogvar = dmu.sum(axis=0), dlogvar.sum(axis=0)
    return dmu, dlogvar
