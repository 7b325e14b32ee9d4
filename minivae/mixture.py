"""The log-density of a mixture of diagonal Gaussians, forward and backward by hand.

The math under the learned priors of HY-673 lecture 10: the mixture-of-Gaussians
prior (learned means, variances and weights) and the VampPrior (Tomczak &
Welling 2018: a uniform mixture of the encoder's posteriors q(z|u_c) of C
learned pseudo-inputs u_c). For z in R^M and C components with means mu_c,
variances sigma_c^2 = exp(logvar_c) and log weights log pi_c (sum_c pi_c = 1),

    log N_c(z) = -1/2 sum_m [ (z_m - mu_cm)^2 / sigma_cm^2 + logvar_cm + log 2 pi ]
    a_c        = log pi_c + log N_c(z)
    log p(z)   = logsumexp_c a_c = m + log sum_c exp(a_c - m),   m = max_c a_c
    r_c        = softmax_c(a_c) = exp(a_c - log p(z))             (responsibilities)

The quadratic term of R rows against C components is expanded into GEMMs, with
P = 1 / sigma^2 = exp(-logvar) (C, M), so no (R, C, M) array is ever formed:

    quad_rc = sum_m (z_rm - mu_cm)^2 P_cm
            = [(z * z) @ P^T]_rc - 2 [z @ (mu * P)^T]_rc + sum_m mu_cm^2 P_cm

Precision: the expansion subtracts terms of size sum_m (z_rm^2 + mu_cm^2) P_cm
to get quad_rc, so its absolute rounding error is about eps times that size, not
eps times quad_rc (eps = 1.2e-7 in float32). For |z|, |mu| <= 10, sigma^2 in
[e^-2, e^2] and M = 32 (|log p(z)| up to ~1e3), a float32 log p(z) is within
about 1e-3 nats of the float64 value (measured 6e-4 to 9e-4 over 400 to 2500
rows; the direct (R, C, M) formula in float32: 2e-4 to 3e-4; see
tests/test_mixture.py). Rounding can also make quad_rc slightly negative, so it
is clamped at 0. In float64 the loss is about 1e-12 nats. Use float64 when |z|
and |mu| are many sigmas large and errors of 1e-3 nats matter.
"""
from __future__ import annotations

from typing import NamedTuple

from .backend import array_module
from .errors import ShapeError
from .likelihoods import LOG_2PI


class MixtureCache(NamedTuple):
    """What mixture_log_prob_backward needs: the inputs, P = exp(-logvars), mu * P, and r."""
    z: object           # (R, M)
    zz: object          # (R, M)  z * z
    means: object       # (C, M)
    P: object           # (C, M)  1 / sigma^2
    mP: object          # (C, M)  mu * P
    r: object           # (R, C)  responsibilities


def _shape(a):
    return tuple(getattr(a, "shape", ())) if hasattr(a, "ndim") else type(a).__name__


def check_mixture_shapes(z, means, logvars, log_weights):
    """(R, M, C) of z (R, M), means and logvars (C, M), log_weights (C,); else a ShapeError saying which."""
    if getattr(z, "ndim", None) != 2:
        raise ShapeError(f"z must be an array of shape (R, M) (R rows of M latent dimensions), got {_shape(z)}")
    R, M = z.shape
    if getattr(means, "ndim", None) != 2 or means.shape[1] != M or means.shape[0] < 1:
        raise ShapeError(f"means must have shape (C, {M}) with C >= 1 components (M = {M} from z), "
                         f"got {_shape(means)}")
    C = means.shape[0]
    if getattr(logvars, "ndim", None) != 2 or tuple(logvars.shape) != (C, M):
        raise ShapeError(f"logvars must have the shape of means, ({C}, {M}), got {_shape(logvars)}")
    if getattr(log_weights, "ndim", None) != 1 or tuple(log_weights.shape) != (C,):
        raise ShapeError(f"log_weights must have shape ({C},) (one log weight per component), "
                         f"got {_shape(log_weights)}")
    return R, M, C


def mixture_log_prob(z, means, logvars, log_weights):
    """log p(z) = logsumexp_c [ log_weights_c + log N(z; means_c, diag(exp(logvars_c))) ], per row.

    z: (R, M); means, logvars: (C, M); log_weights: (C,) log mixture weights
    (normalized: logsumexp = 0 is the caller's job; they are not renormalized).
    Returns (logp (R,), cache), in the inputs' dtype, on their array module.

        quad_rc = max(0, [(z*z) @ P^T]_rc - 2 [z @ (mu*P)^T]_rc + sum_m mu_cm^2 P_cm),  P = exp(-logvars)
        a_rc    = log_weights_c - 1/2 (quad_rc + sum_m logvars_cm + M log 2 pi)
        logp_r  = m_r + log sum_c exp(a_rc - m_r),  m_r = max_c a_rc

    Subtracting the row maximum m_r keeps every exp() in (0, 1] with at least
    one equal to 1, so a z far (1e3) from every mean gets a finite log p(z),
    dominated by its nearest component. The expansion loses precision in float32
    when |z| and |means| are large compared with sigma (see the module docstring:
    about 1e-3 nats for |z|, |mu| <= 10, M = 32).
    """
    _, M, _ = check_mixture_shapes(z, means, logvars, log_weights)
    xp = array_module(z, means, logvars, log_weights)
    P = xp.exp(-logvars)                                          # (C, M)  1 / sigma^2
    mP = means * P                                                # (C, M)
    zz = z * z                                                    # (R, M)
    a = zz @ P.T                                                  # (R, C)  sum_m z^2 / sigma^2
    a -= z @ (mP + mP).T                                          # - 2 sum_m z mu / sigma^2
    a += (means * mP).sum(axis=1)                                 # + sum_m mu^2 / sigma^2
    xp.maximum(a, 0, out=a)                                       # quad >= 0 despite rounding
    a *= -0.5
    a += log_weights - 0.5 * (logvars.sum(axis=1) + M * LOG_2PI)  # (R, C)  a_rc
    m = a.max(axis=1, keepdims=True)                              # (R, 1)
    a -= m
    e = xp.exp(a, out=a)                                          # (R, C)  exp(a - m), in (0, 1]
    s = e.sum(axis=1, keepdims=True)                              # (R, 1)  >= 1
    logp = (m + xp.log(s))[:, 0]                                  # (R,)
    e /= s                                                        # r_rc = softmax_c(a_rc)
    return logp, MixtureCache(z, zz, means, P, mP, e)


def mixture_log_prob_backward(dlogp, cache):
    """Gradients of L(logp) through log p(z), given dlogp = dL/dlogp (R,) and the forward's cache.

    With g_rc = dlogp_r r_rc (R, C) (da_rc, since dlogp_r/da_rc = r_rc) and
    G_c = sum_r g_rc, every term is a GEMM or a (C, M) / (R, M) elementwise op:

        dlog_weights_c = G_c
        dz_rm      = sum_c g_rc (mu_cm - z_rm) P_cm = [g @ (mu*P)]_rm - z_rm [g @ P]_rm
        dmeans_cm  = sum_r g_rc (z_rm - mu_cm) P_cm = P_cm ([g^T @ z]_cm - mu_cm G_c)
        dlogvars_cm = 1/2 sum_r g_rc [(z_rm - mu_cm)^2 P_cm - 1]
                    = 1/2 (P_cm ([g^T @ (z*z)]_cm - 2 mu_cm [g^T @ z]_cm + mu_cm^2 G_c) - G_c)
                    = 1/2 (P_cm ([g^T @ (z*z)]_cm - mu_cm [g^T @ z]_cm) - mu_cm dmeans_cm - G_c)

    (d quad_rc / dlogvars_cm = -(z_rm - mu_cm)^2 P_cm, since dP/dlogvar = -P.)
    The clamp quad >= 0 is ignored: it acts only where quad is a rounding error
    away from 0, where its true gradient vanishes too. dlogvars is expanded like
    the forward and loses float32 precision the same way.
    Returns (dz (R, M), dmeans (C, M), dlogvars (C, M), dlog_weights (C,)); dlogp is not modified.
    """
    z, zz, means, P, mP, r = cache
    R = r.shape[0]
    if getattr(dlogp, "ndim", None) != 1 or tuple(dlogp.shape) != (R,):
        raise ShapeError(f"dlogp must have shape ({R},) (one dL/dlogp per row of z), got {_shape(dlogp)}")
    g = dlogp[:, None] * r                                        # (R, C)  dL/da
    G = g.sum(axis=0)                                             # (C,)
    dz = g @ mP                                                   # (R, M)
    gP = g @ P                                                    # (R, M)
    gP *= z
    dz -= gP
    gz = g.T @ z                                                  # (C, M)
    dmeans = P * (gz - means * G[:, None])                        # (C, M)
    gzz = g.T @ zz                                                # (C, M)
    gzz -= means * gz
    gzz *= P
    gzz -= means * dmeans
    gzz -= G[:, None]
    gzz *= 0.5                                                    # (C, M)  dlogvars
    return dz, dmeans, gzz, G


def responsibilities(cache):
    """r (R, C): r_rc = softmax_c(a_rc), the posterior probability of component c for row r.

    Rows sum to 1. This is the cache's own array (no copy): copy it before
    writing into it, or the backward of that forward pass changes.
    """
    return cache.r
