"""The importance-weighted bound (Burda, Grosse & Salakhutdinov 2015).

With K samples z_k = mu + sigma * eps_k from q(z|x), the log importance weights

    log w_k = log p(x|z_k) + log p(z_k) - log q(z_k|x)

give the bound  L_K = log 1/K sum_k w_k <= log p(x),  which tightens as K grows
and equals the one-sample ELBO estimate at K = 1. Its gradient is the
normalized-weight average of the per-sample gradients:

    dL_K/dtheta = sum_k w~_k d log w_k / dtheta,   w~_k = w_k / sum_j w_j.

With sigma = exp(logvar / 2):
    log p(z)   = -1/2 sum_j (z_j^2 + log 2 pi)
    log q(z|x) = -1/2 sum_j (eps_j^2 + logvar_j + log 2 pi)
A KL weight beta scales log p(z) - log q(z|x) (beta = 1 is the true bound).

The VAE's step forms the same weights for every posterior and prior as
log p(x|z) - beta kl, kl = log q(z|x) - log p(z) (:mod:`minivae.models.latent`);
``log_weights`` and ``prior_posterior_backward`` are the diagonal Gaussian,
N(0, I) case written out as the lecture does, for the lessons, the checks
and ``tests/test_one_step.py``, which chains them against the VAE.
"""
from __future__ import annotations

import math

from .backend import array_module
from .logsumexp import logsumexp
from .softmax import softmax


def log_weights(ll, z, logvar, eps, beta=1.0):
    """log w = log p(x|z) + beta (log p(z) - log q(z|x)).

    ll: (K, N) log-likelihoods; z, eps: (K, N, D); logvar: (N, D) -> (K, N).
    """
    return ll - 0.5 * beta * ((z * z - eps * eps).sum(axis=-1) - logvar.sum(axis=-1))


def bound(log_w):
    """L_K = logsumexp_k(log w_k) - log K, per example: (K, N) -> (N,)."""
    return logsumexp(log_w, axis=0) - math.log(log_w.shape[0])


def normalized_weights(log_w):
    """w~_k = softmax_k(log w_k): (K, N), each column sums to 1."""
    return softmax(log_w, axis=0)


def prior_posterior_backward(dlog_w, dz, z, beta=1.0):
    """Add the log p(z) - log q(z|x) part of d log w to the decoder's dz.

    d log w/dz = -beta z (the prior; log q depends on z only through eps, held
    fixed), and d log w/dlogvar_j = beta / 2 directly.
    dlog_w: (K, N); dz, z: (K, N, D) -> (dz total (K, N, D), dlogvar direct (N, D)).
    """
    dz = dz - beta * dlog_w[..., None] * z
    dlogvar = (0.5 * beta) * dlog_w.sum(axis=0)[:, None]       # (N, 1)
    return dz, dlogvar.repeat(z.shape[-1], axis=1)


def bernoulli_log_likelihood_eval(x, logits):
    """log p(x|z) = sum_d [x_d l_d - softplus(l_d)] per row, fast for evaluation (no gradient).

    The same value as :func:`minivae.likelihoods.bernoulli_log_likelihood`,
    arranged for the many decoder passes of a k = 5000 estimate:

        sum_d softplus(l_d) = sum_d max(l_d, 0) + log prod_d (1 + exp(-|l_d|))

    Each factor 1 + exp(-|l_d|) lies in (1, 2], so the product of 2^h of them
    is at most 2^(2^h): halving the pixel axis by pairwise products up to 6
    times (while it is even) cannot overflow float32, and leaves one ``log``
    per 2^h pixels instead of one ``log1p`` per pixel. ``sum_d x_d l_d`` is a
    dot product. x, logits: (..., D) -> (...).
    """
    xp = array_module(x, logits)
    e = xp.abs(logits)
    xp.negative(e, out=e)
    xp.exp(e, out=e)
    e += 1                                                   # 1 + exp(-|l|), in (1, 2]
    d, halvings = e.shape[-1], 0
    while d % 2 == 0 and d > 1 and halvings < 6:
        d //= 2
        e = e[..., :d] * e[..., d:2 * d]
        halvings += 1
    return ((x * logits).sum(axis=-1) - xp.maximum(logits, 0).sum(axis=-1)
            - xp.log(e).sum(axis=-1))
