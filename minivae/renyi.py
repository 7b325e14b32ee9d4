"""The Rényi variational bound (Li & Turner 2016), forward and backward by hand.

With K samples z_k ~ q(z|x) and their log importance weights
log w_k = log p(x, z_k) - log q(z_k|x) (:func:`minivae.iwae.log_weights`),
the bound of order alpha (alpha != 1) is

    L_alpha = 1/(1 - alpha) log 1/K sum_k w_k^(1 - alpha)
            = [logsumexp_k((1 - alpha) log w_k) - log K] / (1 - alpha).

Members of the family:
    alpha = 0        L_0 = log 1/K sum_k w_k, the IWAE bound (:func:`minivae.iwae.bound`);
    alpha -> 1       the mean of the log-weights, the K-sample ELBO estimate
                     (l'Hôpital: d/dt log 1/K sum_k exp(t log w_k) at t = 0);
    alpha -> -inf    VR-max, max_k log w_k (the largest term dominates the sum).
L_alpha is non-increasing in alpha (a power mean of the w_k of order 1 - alpha).

Gradient. With t = 1 - alpha and the normalized weights

    w~_k = w_k^t / sum_j w_j^t = softmax_k(t log w_k),

    dL_alpha / dlog w_k = 1/t * t w_k^t / sum_j w_j^t = w~_k,

so the bound's gradient is the w~-weighted average of the d log w_k / dtheta,
exactly as the IWAE's with w~ = softmax(log w) (alpha = 0) replaced; alpha -> 1
weights every sample 1/K (the ELBO), VR-max puts all weight on the argmax
(the first one on a tie). Subtracting the maximum of t log w (log-sum-exp)
keeps every exponent <= 0 for any log-weights.

Shapes: log_w (K, N), one column per example -> the bound (N,), the weights (K, N).
"""
from __future__ import annotations

import math

from .backend import array_module
from .errors import ConfigError
from .logsumexp import logsumexp
from .softmax import softmax

#: the order of VR-max (Li & Turner's alpha -> -inf)
VR_MAX = -math.inf


def check_alpha(alpha, name="alpha"):
    """alpha as a float: any real number but 1, or -inf (VR-max); ConfigError naming ``name`` otherwise."""
    try:
        a = float(alpha)
    except (TypeError, ValueError):
        a = math.nan
    if isinstance(alpha, bool) or math.isnan(a) or a == math.inf or a == 1.0:
        raise ConfigError(f"{name} (the order of the Rényi bound) must be a finite number other than 1 "
                          f"(1 is the ELBO's limit), or -inf for VR-max, got {alpha!r}")
    return a


def bound(log_w, alpha):
    """L_alpha per example: (K, N) log-weights -> (N,); alpha = -inf is VR-max, max_k log w_k."""
    alpha = check_alpha(alpha)
    if alpha == VR_MAX:
        return log_w.max(axis=0)
    t = 1.0 - alpha                                          # a Python float keeps float32 float32
    return (logsumexp(t * log_w, axis=0) - math.log(log_w.shape[0])) / t


def normalized_weights(log_w, alpha):
    """dL_alpha/dlog w = w~ = softmax_k((1 - alpha) log w_k): (K, N), each column sums to 1.

    VR-max (alpha = -inf): 1 at the first largest log-weight of each column, 0 elsewhere.
    """
    alpha = check_alpha(alpha)
    if alpha == VR_MAX:
        xp = array_module(log_w)
        best = log_w.argmax(axis=0)                                        # (N,)
        return (xp.arange(log_w.shape[0])[:, None] == best[None, :]).astype(log_w.dtype)
    return softmax((1.0 - alpha) * log_w, axis=0)
