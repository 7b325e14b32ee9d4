"""Reference (NumPy/CuPy-array) semantics of the fused training-step operations.

Each function does, in a few passes over memory, what the readable lecture
functions do in many (:mod:`minivae.reparam`, :mod:`minivae.kl`,
:mod:`minivae.likelihoods`, :mod:`minivae.activations`; the optimizers'
updates of :mod:`minivae.optim` are in :mod:`.updates`, imported here),
and writes into the arrays it is given (``out``, ``work``) instead of
allocating, so that a training step reuses its buffers. It gives the same numbers to floating-point rounding. The CUDA kernels of
:mod:`minivae.backend.kernels.cuda` have exactly these signatures and semantics.

Conventions: arrays are C-contiguous and of one float dtype (float32 or
float64); ``out``-style arguments, when given, receive the result and are
returned; scalars are taken in the arrays' dtype. No argument is mutated
except the outputs (and the parameters and optimizer state of the ``*_update``
functions, which update them in place).
"""
from __future__ import annotations

import math

from .. import array_module
from .updates import adam_update, rmsprop_update, sgd_update  # noqa: F401  (the optimizers' updates, spec'd there)

ACTS = ("identity", "relu", "leaky_relu", "tanh", "sigmoid")
LEAKY_SLOPE = 0.01
#: log(2 pi), the constant of every Gaussian log-density in minivae, defined here, below the lecture math that
#: imports it (minivae.likelihoods.LOG_2PI)
LOG_2PI = math.log(2 * math.pi)
SCRATCH_ACTS = ("leaky_relu", "sigmoid")      # the activations whose bias_act_forward takes a work array


def _out(xp, out, shape, dtype):
    return xp.empty(shape, dtype=dtype) if out is None else out


def reparam_kl_forward(mu, logvar, eps, z=None, kl=None):
    """z = mu + exp(logvar / 2) * eps, and the closed-form KL per example.

        kl_n = 1/2 sum_j (mu_nj^2 + exp(logvar_nj) - logvar_nj - 1)

    mu, logvar, eps: (N, D) -> z: (N, D), kl: (N,).
    """
    xp = array_module(mu)
    z = _out(xp, z, mu.shape, mu.dtype)
    sigma = xp.exp(0.5 * logvar)
    xp.multiply(sigma, eps, out=z)
    z += mu
    t = sigma * sigma                 # sigma^2 = exp(logvar)
    t -= logvar
    t += mu * mu
    t -= 1
    kl = _out(xp, kl, mu.shape[:1], mu.dtype)
    xp.sum(t, axis=1, out=kl)
    kl *= 0.5
    return z, kl


def reparam_kl_backward(dz, mu, logvar, eps, kl_weight, dmu=None, dlogvar=None):
    """Backward of reparameterization plus a weighted KL term, in one pass.

        dmu     = dz + w * mu
        dlogvar = 1/2 (dz * eps * sigma + w * (sigma^2 - 1)),   sigma = exp(logvar / 2)

    w = kl_weight = dLoss/dKL_n: a scalar (beta / N) or a (D,) vector (free
    bits: beta / N where the dimension is above its floor, else 0).
    dz, mu, logvar, eps: (N, D) -> dmu, dlogvar: (N, D).
    """
    xp = array_module(mu)
    w = xp.asarray(kl_weight, dtype=mu.dtype)
    dmu = _out(xp, dmu, mu.shape, mu.dtype)
    dlogvar = _out(xp, dlogvar, mu.shape, mu.dtype)
    xp.multiply(mu, w, out=dmu)
    dmu += dz
    sigma = xp.exp(0.5 * logvar)
    xp.multiply(sigma, sigma, out=dlogvar)
    dlogvar -= 1
    dlogvar *= w
    sigma *= eps
    sigma *= dz
    dlogvar += sigma
    dlogvar *= 0.5
    return dmu, dlogvar


def sum_log_rows(r, out=None, halvings=4):
    """out_n = sum_d log(r_nd) for r >= 1, taking the log of products of 2^halvings factors.

    ``log`` is the costliest pass of the Bernoulli loss (without AVX-512,
    NumPy's float32 log is scalar); the product of each group of f =
    2^halvings columns (16 by default) first cuts the logs f-fold. With r in
    [1, 2] a product of f <= 64 factors is at most 2^64: no overflow, and a
    few more roundings per row sum than summing the logs. The groups are
    columns j, j + q, j + 2q, ... (q = D // f), multiplied as f slabs of
    (N, q), so the product is one pass over r; the D % f columns left over
    are logged one by one. ``r``: (N, D), not modified -> out: (N,).
    """
    xp = array_module(r)
    n, w = r.shape
    f = 2 ** halvings
    q = w // f
    out = _out(xp, out, (n,), r.dtype)
    if q:
        xp.sum(xp.log(r[:, :q * f].reshape(n, f, q).prod(axis=1)), axis=1, out=out)
    else:
        out[...] = 0
    if w % f:
        out += xp.log(r[:, q * f:]).sum(axis=1)
    return out


def bernoulli_nll_grad(x, logits, scale, dlogits=None, nll=None, work=None):
    """Bernoulli negative log-likelihood per example and its scaled gradient, in one pass.

        nll_n     = sum_d [ softplus(l_nd) - x_nd l_nd ]
                  = sum_d log(1 + e) + sum_d l 1[l >= 0] - sum_d x l,   e = exp(-|l|) <= 1
        dlogits   = scale * (sigmoid(l) - x),   sigmoid(l) = 1/(1+e) if l >= 0 else e/(1+e)

    (softplus(l) = max(l, 0) + log(1 + e), and max(l, 0) = l 1[l >= 0].)
    Finite for any logit. log(1 + e) stands for log1p(e): they differ by less
    than one unit of rounding of the per-example sum.
    x, logits: (N, D) -> nll: (N,), dlogits: (N, D). ``scale`` is usually 1/N.
    ``work``: an (N, D) scratch array in logits' dtype, overwritten (allocated
    when None); with it and the outputs given, nothing of size (N, D) is
    allocated.

    NumPy notes (measured, see PERFORMANCE.md): masked ufuncs (``where=``,
    ``copyto(..., where=)``) are ~30x slower than plain ones, so the branch
    is taken arithmetically: the numerator max(e, 1[l >= 0]) is 1 or e. One
    ``exp`` over all logits; the logs via :func:`sum_log_rows`; the row dot
    products by ``einsum``.
    """
    xp = array_module(logits)
    dt = logits.dtype
    dlogits = _out(xp, dlogits, logits.shape, dt)
    r = _out(xp, work, logits.shape, dt)                # scratch (N, D)
    nll = _out(xp, nll, logits.shape[:1], dt)
    xp.abs(logits, out=r)
    xp.negative(r, out=r)
    xp.exp(r, out=r)                                    # e = exp(-|l|)
    xp.greater_equal(logits, 0, out=dlogits)            # 1[l >= 0]
    nll[...] = xp.einsum("nd,nd->n", logits, dlogits)   # sum_d max(l, 0)
    xp.maximum(r, dlogits, out=dlogits)                 # 1 if l >= 0 else e
    r += dt.type(1)                                     # 1 + e
    xp.divide(dlogits, r, out=dlogits)                  # sigmoid(l)
    dlogits -= x
    dlogits *= xp.asarray(scale, dtype=dt)
    nll -= xp.einsum("nd,nd->n", logits, x)             # - sum_d x l
    nll += sum_log_rows(r)                              # + sum_d log(1 + e)
    return nll, dlogits


def gaussian_nll_grad(x, mean, logvar, scale, dmean=None, nll=None, work=None):
    """Gaussian negative log-likelihood per example and its scaled gradients, in one pass.

    With r = x - mean and sigma^2 = exp(logvar) (a scalar, or one per pixel):

        nll_n       = 1/2 sum_d [ r_nd^2 / sigma_d^2 + logvar_d + log 2 pi ]
        dmean       = scale * (mean - x) / sigma^2
        dlogvar_d   = scale * sum_n 1/2 (1 - r_nd^2 / sigma_d^2)      (only for a (D,) logvar)

    x, mean: (N, D); logvar: a host number (fixed variance) or a (D,) array
    (learned) -> nll: (N,), dmean: (N, D), dlogvar: (D,) or None for a
    number. ``scale`` is usually 1/N. ``work``: an (N, D) scratch array,
    overwritten (allocated when None).
    """
    xp = array_module(mean)
    dt = mean.dtype
    dmean = _out(xp, dmean, mean.shape, dt)
    q = _out(xp, work, mean.shape, dt)                  # scratch (N, D)
    nll = _out(xp, nll, mean.shape[:1], dt)
    learned = getattr(logvar, "ndim", 0) > 0
    if learned:
        inv_var = xp.exp(-logvar)                       # (D,)
        const = logvar.sum(dtype=dt) + dt.type(LOG_2PI * mean.shape[1])
    else:
        inv_var = dt.type(math.exp(-logvar))
        const = dt.type((logvar + LOG_2PI) * mean.shape[1])
    xp.subtract(mean, x, out=dmean)                     # -r
    xp.multiply(dmean, dmean, out=q)
    q *= inv_var                                        # r^2 / sigma^2
    xp.sum(q, axis=1, out=nll)
    nll += const
    nll *= dt.type(0.5)
    dlogvar = None
    if learned:
        dlogvar = xp.sum(q, axis=0)                     # sum_n r^2 / sigma^2
        xp.subtract(dt.type(mean.shape[0]), dlogvar, out=dlogvar)
        dlogvar *= dt.type(0.5 * scale)
    dmean *= inv_var * dt.type(scale)
    return nll, dmean, dlogvar


def bias_act_forward(a, b, act, out=None, work=None):
    """y = act(a + b), the bias add and the activation in one pass.

    a: (N, D) (the product x @ W), b: (D,) -> y: (N, D). ``out`` may be ``a``.
    ``work``: (N, D) scratch for the activations that need one (``SCRATCH_ACTS``:
    leaky ReLU keeps slope * y there, the sigmoid e = exp(-|y|)), allocated
    when None. The sigmoid is max(e, 1[y >= 0]) / (1 + e): 1 / (1 + e) for
    y >= 0 and e / (1 + e) below, without a masked ufunc.
    """
    xp = array_module(a)
    dt = a.dtype
    y = _out(xp, out, a.shape, dt)
    xp.add(a, b, out=y)
    if act in SCRATCH_ACTS:
        work = _out(xp, work, a.shape, dt)
    if act == "relu":
        xp.maximum(y, xp.zeros(a.shape[-1:], dt), out=y)       # a zero row: 2x faster than the scalar 0
    elif act == "leaky_relu":
        xp.multiply(y, dt.type(LEAKY_SLOPE), out=work)
        xp.maximum(y, work, out=y)
    elif act == "tanh":
        xp.tanh(y, out=y)
    elif act == "sigmoid":
        xp.abs(y, out=work)
        xp.negative(work, out=work)
        xp.exp(work, out=work)                                  # e = exp(-|y|) <= 1
        xp.greater_equal(y, 0, out=y)                           # 1[y >= 0]
        xp.maximum(work, y, out=y)                              # 1 if y >= 0 else e
        work += dt.type(1)
        xp.divide(y, work, out=y)
    elif act != "identity":
        raise ValueError(f"unknown activation {act!r}; expected one of {ACTS}")
    return y


def act_backward(dy, y, act, out=None):
    """dx = dy * act'(x), with act' written through the output y.

    relu: 1[y > 0]; leaky_relu: 1 or slope; tanh: 1 - y^2; sigmoid: y (1 - y).
    dy, y: (N, D) -> dx: (N, D). With ``out`` given and not ``dy``, nothing of
    size (N, D) is allocated; ``out`` may be ``dy`` only if the caller owns it.
    """
    xp = array_module(dy)
    dt = dy.dtype
    if act not in ACTS:
        raise ValueError(f"unknown activation {act!r}; expected one of {ACTS}")
    if act == "identity":
        dx = _out(xp, out, dy.shape, dt)
        xp.copyto(dx, dy)
        return dx
    in_place = out is dy
    dx = xp.empty(dy.shape, dt) if out is None or in_place else out    # act'(y) goes here first
    if act == "relu":
        xp.greater(y, 0, out=dx)                        # 1[y > 0]
    elif act == "leaky_relu":
        xp.greater(y, 0, out=dx)
        dx *= dt.type(1 - LEAKY_SLOPE)
        dx += dt.type(LEAKY_SLOPE)                      # 1 or slope
    elif act == "tanh":
        xp.multiply(y, y, out=dx)
        xp.subtract(dt.type(1), dx, out=dx)             # 1 - y^2
    else:                                               # sigmoid
        xp.subtract(dt.type(1), y, out=dx)
        dx *= y                                         # y (1 - y)
    if in_place:
        dy *= dx
        return dy
    dx *= dy
    return dx
