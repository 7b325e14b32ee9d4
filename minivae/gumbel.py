"""Categorical latents by the Gumbel-softmax / Concrete relaxation (HY-673 lecture 10), by hand.

A categorical VAE has M categorical variables of K classes each. The encoder
outputs logits a, (N, M, K), the unnormalized log-probabilities, so

    log pi = log_softmax(a)                      (over the K classes)

Gumbel-max trick: with g_k = -log(-log u_k), u_k ~ U(0, 1) independent,
argmax_k (log pi_k + g_k) is an exact sample of Categorical(pi). The argmax
has no useful gradient, so Maddison et al. (2017, "Concrete") and Jang et
al. (2017, "Gumbel-softmax") replace it by a softmax at temperature tau:

    y = softmax((log pi + g) / tau)              y -> one_hot(argmax) as tau -> 0

y is a differentiable function of the logits and of the noise g, like
z = mu + sigma * eps; the caller draws u (or g) and passes it in, so every
function here is deterministic. log pi = a - logsumexp(a) differs from a by
a constant per row, so the samplers use a + g in place of log pi + g.

Speed: NumPy reduces a short last axis (K ~ 10) one row at a time, slowly;
so row sums are one GEMV (s @ 1), and on NumPy with K <= 32 the row max is
K column maxima (15x faster at K = 10). CuPy keeps its own reductions.
"""
from __future__ import annotations

import math

import numpy

from .backend import array_module
from .errors import ConfigError, DataError, ShapeError, finite_number
from .logsumexp import logsumexp
from .softmax import log_softmax


def check_tau(tau):
    """tau as a float; ConfigError unless it is a finite number > 0."""
    return finite_number("temperature (tau)", tau, "> 0", ok=lambda v: v > 0)


def _check_same_shape(name, a, logits):
    """ShapeError unless ``a`` has the logits' shape (..., K) with K >= 1."""
    shape, want = tuple(getattr(a, "shape", ())), tuple(getattr(logits, "shape", ()))
    if len(want) == 0 or want[-1] == 0:
        raise ShapeError(f"logits must have shape (..., K) with K >= 1 classes on the last axis, got {want}")
    if shape != want:
        raise ShapeError(f"{name} must have the logits' shape {want}, got {shape}")


def _row_max(s):
    """max_k s_k over the last axis, keepdims: (..., K) -> (..., 1)."""
    xp = array_module(s)
    if xp is not numpy or s.shape[-1] > 32:
        return s.max(axis=-1, keepdims=True)
    m = s[..., :1].copy()
    for k in range(1, s.shape[-1]):                              # K column maxima: no per-row loop
        xp.maximum(m, s[..., k:k + 1], out=m)
    return m


def _row_sum(s):
    """sum_k s_k over the last axis as one GEMV with a vector of ones, keepdims: (..., K) -> (..., 1)."""
    k = s.shape[-1]
    return (s.reshape(-1, k) @ array_module(s).ones(k, dtype=s.dtype)).reshape(s.shape[:-1] + (1,))


def _inverse(tau, dtype):
    """1 / tau in ``dtype``, at most its largest finite value (so 0 / tau stays 0 for any tau > 0)."""
    return dtype.type(min(1.0 / tau, float(numpy.finfo(dtype).max)))


def _one_hot(idx, k, dtype, xp):
    """one_hot(idx) over k classes: idx (...) integers -> (..., k) of ``dtype``."""
    return xp.take(xp.eye(k, dtype=dtype), idx, axis=0)


def gumbel_noise(u):
    """g = -log(-log u), standard Gumbel noise, for uniforms u in (0, 1): same shape, same dtype.

    The caller draws u in the open interval; u is not validated (cheap), only
    clipped to [tiny, 1 - eps(dtype)] so that u = 0 or 1 after rounding gives
    a finite g: g in [-4.47, 15.9] in float32, [-6.56, 36.0] in float64.
    P(g <= t) = exp(-exp(-t)) (the Gumbel CDF: -log(-log u) inverts it).
    """
    xp = array_module(u)
    dtype = getattr(u, "dtype", None)
    if dtype is None or dtype.kind != "f":
        raise DataError(f"u must be a float array of uniforms in (0, 1), got {type(u).__name__} of dtype {dtype}")
    info = numpy.finfo(dtype)
    g = xp.clip(u, info.tiny, dtype.type(1) - info.eps)          # (...) a fresh array: u is not written
    xp.log(g, out=g)                                             # log u in [log tiny, -eps]
    xp.negative(g, out=g)                                        # -log u > 0
    xp.log(g, out=g)
    xp.negative(g, out=g)                                        # g = -log(-log u)
    return g


def gumbel_softmax(logits, g, tau):
    """The relaxed sample y = softmax((log pi + g) / tau) over the last axis, pi = softmax(logits).

    logits, g: (..., K), e.g. (N, M, K); tau > 0 a float.
    Returns (y of the logits' shape and dtype, cache = (y, tau)).

    Computed as softmax(s) with s = (a + g - max_k (a_k + g_k)) / tau: log pi
    differs from a by a constant per row, which the softmax ignores. The row
    max is subtracted before dividing by tau, so s <= 0 with one 0 per row:
    exp() never overflows for any logits and any tau (logits of +-50 at
    tau = 0.1 stay finite). y is also the cache: do not write into it.
    """
    tau = check_tau(tau)
    _check_same_shape("g (the Gumbel noise)", g, logits)
    xp = array_module(logits, g)
    s = xp.empty_like(logits)                                    # (..., K) in the logits' dtype
    xp.add(logits, g, out=s)                                     # log pi + g + const
    s -= _row_max(s)                                             # the max-subtracted softmax, in place:
    s *= _inverse(tau, s.dtype)                                  # s = (log pi + g) / tau + const <= 0
    xp.exp(s, out=s)
    s /= _row_sum(s)                                             # y: rows sum to 1
    return s, (s, tau)


def gumbel_softmax_backward(dy, cache):
    """dL/dlogits for y = softmax(s), s = (log pi + g) / tau, log pi = log_softmax(a): dy's shape.

    Chain rule, one edge at a time, per row of K classes:

      softmax:      ds = (diag(y) - y y^T) dy = y * (dy - <dy, y>)      (<.,.> over k)
      scaling:      dlog_pi = ds / tau
      log_softmax:  d log pi_j / d a_k = delta_jk - pi_k, so
                    da = (I - pi 1^T) dlog_pi = dlog_pi - pi * sum_j dlog_pi_j

    sum_j ds_j = <y, dy> - <dy, y> sum_j y_j = 0, so the log_softmax edge
    removes nothing and

      da = y * (dy - <dy, y>) / tau                   (each row sums to 0)

    Neither the (K, K) Jacobian nor pi is formed; dy and the cache are not written.
    """
    y, tau = cache
    if tuple(getattr(dy, "shape", ())) != y.shape:
        raise ShapeError(f"dy must have the shape of y {y.shape}, got {tuple(getattr(dy, 'shape', ()))}")
    xp = array_module(dy, y)
    da = xp.empty_like(y)                                        # (..., K) in y's dtype
    xp.multiply(dy, y, out=da)
    dot = _row_sum(da)                                           # <dy, y>, (..., 1)
    xp.subtract(dy, dot, out=da)
    da *= y
    da *= _inverse(tau, y.dtype)
    return da


def straight_through(y):
    """Forward of the straight-through Gumbel-softmax: one_hot(argmax_k y), same shape and dtype as y.

    The decoder sees a true one-hot sample (the Gumbel-max sample of the same
    noise), while the backward pass pretends the forward was y itself:

        y_hard = y + stop_gradient(one_hot(argmax y) - y),
        dL/dlogits = gumbel_softmax_backward(dL/dy_hard, cache)

    so there is no separate backward function. The gradient is biased: the
    forward is piecewise constant in the logits (its true derivative is 0
    almost everywhere), and the relaxed gradient is that of a different
    function; the bias shrinks as tau -> 0 while the variance grows (Jang
    et al. 2017, section 2.2; Bengio et al. 2013).
    """
    xp = array_module(y)
    return _one_hot(y.argmax(axis=-1), y.shape[-1], y.dtype, xp)


def gumbel_max_sample(logits, g):
    """one_hot(argmax_k (log pi_k + g_k)), pi = softmax(logits): an exact sample of Categorical(pi).

    The Gumbel-max trick: P(argmax_k (log pi_k + g_k) = j) = pi_j for
    independent standard Gumbel g_k. logits, g: (..., K) -> (..., K) one-hot
    rows in the logits' dtype. (log pi + g and a + g share the argmax.)
    """
    _check_same_shape("g (the Gumbel noise)", g, logits)
    xp = array_module(logits, g)
    return _one_hot((logits + g).argmax(axis=-1), logits.shape[-1], logits.dtype, xp)


def _check_kl_logits(logits):                                    # (..., M, K) with K >= 1
    if getattr(logits, "ndim", 0) < 2 or logits.shape[-1] == 0:
        raise ShapeError("logits must have shape (N, M, K) (M categorical variables of K >= 1 classes), "
                         f"got {tuple(getattr(logits, 'shape', ()))}")


def _kl_terms(logits):
    """(q, log(K q), KL_m) for the categorical KL: (..., M, K), (..., M, K), (..., M, 1).

    log q = a - m - log sum_k exp(a_k - m), m = max_k a_k (softmax.log_softmax,
    written out to share one exp pass with q = exp(a - m) / sum_k exp(a_k - m)):
    finite for finite logits, so no log 0.
    """
    xp = array_module(logits)
    log_q = logits - _row_max(logits)                            # a - m <= 0
    q = xp.exp(log_q)
    total = _row_sum(q)                                          # sum_k exp(a_k - m) in [1, K]
    q /= total
    log_q -= xp.log(total / total.dtype.type(logits.shape[-1]))  # log(K q) = a - m - log(total / K)
    kl_m = _row_sum(q * log_q)                                   # sum_k q log(K q), (..., M, 1)
    return q, log_q, kl_m


def categorical_kl(logits):
    """KL(q || uniform) per example: sum_m sum_k q_mk log(K q_mk), q_m = softmax(logits_m).

    The closed-form KL term of the categorical VAE (Jang et al. 2017) with the
    uniform prior p(z_m = k) = 1/K. logits: (N, M, K) -> (N,) in the logits'
    dtype (any leading shape: (..., M, K) -> (...)).
    log q is log_softmax's max-shifted form, so q_mk = 0 (exp underflow)
    contributes 0 * finite = 0, never 0 * log 0. Each KL_m >= 0 in exact
    arithmetic is clipped at 0 against rounding; uniform logits give exactly 0.
    """
    _check_kl_logits(logits)
    xp = array_module(logits)
    kl_m = _kl_terms(logits)[2][..., 0]                          # (N, M)
    xp.maximum(kl_m, 0, out=kl_m)
    return kl_m.sum(axis=-1)


def categorical_kl_backward(dkl, logits):
    """dL/dlogits of the categorical KL: the logits' shape (N, M, K), given dkl = dL/dKL.

    With KL_m = sum_k q_k log q_k + log K and dq_k/da_j = q_k (delta_kj - q_j):

      dKL_m/da_j = sum_k q_k (delta_kj - q_j) (log q_k + 1)
                 = q_j (log q_j + 1) - q_j sum_k q_k (log q_k + 1)
                 = q_j (log q_j - sum_k q_k log q_k)
                 = q_j (log q_j + log K - KL_m)

    and KL = sum_m KL_m, so dlogits_nmk = dkl_n q_nmk (log(K q_nmk) - KL_nm).
    Each row sums to 0 (sum_j q_j (log(K q_j) - KL_m) = KL_m - KL_m).
    dkl: a scalar or (N,) (the KL's shape: one weight per example).
    """
    _check_kl_logits(logits)
    lead = tuple(logits.shape[:-2])
    dshape = tuple(getattr(dkl, "shape", ()))
    if dshape not in ((), lead):
        raise ShapeError(f"dkl must be a scalar or have the KL's shape {lead}, got {dshape}")
    q, da, kl_m = _kl_terms(logits)                              # da holds log(K q) here
    da -= kl_m
    da *= q
    da *= dkl[..., None, None] if dshape else dkl
    return da


def temperature(step, tau0=1.0, tau_min=0.5, rate=1e-5):
    """The annealing schedule of Jang et al. (2017): tau = max(tau_min, tau0 exp(-rate * step)).

    step: the training step (>= 0); tau0 > 0 the starting temperature;
    0 < tau_min <= tau0 its floor; rate >= 0 the decay per step.
    Returns tau as a float. ConfigError names the option that is out of range.
    """
    step = finite_number("step", step, ">= 0", ok=lambda v: v >= 0)
    tau0 = finite_number("tau0", tau0, "> 0 (the starting temperature)", ok=lambda v: v > 0)
    tau_min = finite_number("tau_min", tau_min, "> 0 (the floor of the temperature)", ok=lambda v: v > 0)
    rate = finite_number("rate", rate, ">= 0 (the decay per step)", ok=lambda v: v >= 0)
    if tau_min > tau0:
        raise ConfigError(f"tau_min must be <= tau0 (the schedule decays from tau0 down to tau_min), "
                          f"got tau_min={tau_min!r} > tau0={tau0!r}")
    return max(tau_min, tau0 * math.exp(-rate * step))


def log_relaxed_density(y, logits, tau):
    """log p(y) of the Concrete(pi, tau) distribution at a point y of the open simplex: (..., K) -> (...).

    Maddison et al. (2017), eq. (Concrete density), with respect to the
    Lebesgue measure on the first K - 1 coordinates:

      p(y) = (K-1)! tau^(K-1) prod_k [pi_k y_k^(-tau-1)] / (sum_i pi_i y_i^(-tau))^K

      log p(y) = log (K-1)! + (K-1) log tau + sum_k (log pi_k - (tau+1) log y_k)
                 - K logsumexp_i (log pi_i - tau log y_i)

    For a Monte Carlo KL between Concrete distributions, log q(y) - log p(y)
    at the relaxed sample (Maddison et al.'s choice). Jang et al. instead use
    the closed-form KL between the categoricals, which is categorical_kl.
    y must have no zero entry (with a small tau, y underflows: such an entry
    gives NaN, not a number). No backward is provided.
    """
    tau = check_tau(tau)
    _check_same_shape("y (the relaxed sample)", y, logits)
    xp = array_module(y, logits)
    k = logits.shape[-1]
    log_pi = log_softmax(logits)
    log_y = xp.log(y)
    t = log_pi - log_y.dtype.type(tau) * log_y                   # log pi_i - tau log y_i, (..., K)
    lse = logsumexp(t, axis=-1)                                  # (...)
    const = math.lgamma(k) + (k - 1) * math.log(tau)
    return const + (t - log_y).sum(axis=-1) - k * lse
