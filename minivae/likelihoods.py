"""Decoder likelihoods log p(x|z), per example, and their gradients.

The decoder outputs, for each of the D pixels, either a logit ``l`` of a
Bernoulli (binary or [0, 1] pixels) or a mean of a Gaussian (continuous
pixels). HY-673 lecture 10 lists both Monte Carlo ELBO estimates; the
reconstruction term of the VAE loss is ``recon = -log p(x|z)``.
"""
from __future__ import annotations

from .activations import sigmoid, softplus
from .backend import array_module
from .backend.kernels.reference import LOG_2PI          # log(2 pi), defined once, beside the fused ops below


def bernoulli_log_likelihood(x, logits):
    """log p(x|z) for p(x_d|z) = Bernoulli(sigmoid(l_d)), from logits.

    With p_d = sigmoid(l_d):
        x_d log p_d + (1 - x_d) log(1 - p_d) = x_d l_d - softplus(l_d),
    which stays finite for any logit (no log(0)). x in [0, 1] need not be binary.
    x, logits: (N, D) -> (N,).
    """
    return (x * logits - softplus(logits)).sum(axis=-1)


def bernoulli_log_likelihood_backward(dll, x, logits):
    """d/dl_d [x_d l_d - softplus(l_d)] = x_d - sigmoid(l_d).

    dll: (N,) upstream dLoss/dlog p(x|z) -> dlogits: (N, D).
    """
    return dll[..., None] * (x - sigmoid(logits))


def gaussian_log_likelihood(x, mean, logvar=0.0):
    """log p(x|z) for p(x_d|z) = N(mean_d, sigma_d^2), sigma_d^2 = exp(logvar_d).

        log p(x|z) = -1/2 sum_d [ (x_d - mean_d)^2 / sigma_d^2 + log sigma_d^2 + log 2 pi ]

    With a fixed logvar this is the lectures' MSE loss, -||x - mean||^2 / (2 sigma^2),
    plus its constant -D/2 (log sigma^2 + log 2 pi). ``logvar`` is a scalar
    (fixed variance), (D,) (learned per pixel) or (N, D).
    x, mean: (N, D) -> (N,).
    """
    xp = array_module(x, mean)
    logvar = xp.asarray(logvar, dtype=x.dtype)
    r = x - mean
    terms = r * r * xp.exp(-logvar) + logvar + LOG_2PI
    return -0.5 * xp.broadcast_to(terms, r.shape).sum(axis=-1)


def gaussian_log_likelihood_backward(dll, x, mean, logvar=0.0):
    """Gradients of the Gaussian log-likelihood.

        d/dmean_d   = (x_d - mean_d) / sigma_d^2
        d/dlogvar_d = 1/2 [ (x_d - mean_d)^2 / sigma_d^2 - 1 ]

    dll: (N,) -> dmean: (N, D), dlogvar with logvar's shape (summed over
    the examples for a per-pixel (D,) logvar; None for a Python scalar).
    """
    xp = array_module(x, mean)
    fixed = not hasattr(logvar, "shape")
    logvar = xp.asarray(logvar, dtype=x.dtype)
    r = x - mean
    inv_var = xp.exp(-logvar)
    g = dll[..., None]
    dmean = g * r * inv_var
    if fixed:
        return dmean, None
    dlogvar = g * 0.5 * (r * r * inv_var - 1)
    if logvar.ndim < dlogvar.ndim:
        dlogvar = dlogvar.reshape(-1, *logvar.shape).sum(axis=0) if logvar.ndim else dlogvar.sum()
    return dmean, dlogvar
