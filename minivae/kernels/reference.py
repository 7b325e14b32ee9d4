"""Reference (NumPy/CuPy-array) semantics of the fused training-step operations.

Each function does, in a few passes over memory, what the readable lecture
functions do in many (:mod:`minivae.reparam`, :mod:`minivae.kl`,
:mod:`minivae.likelihoods`, :mod:`minivae.activations`, :class:`minivae.optim.Adam`),
and gives the same numbers to floating-point rounding. The CUDA kernels of
:mod:`minivae.kernels.cuda` have exactly these signatures and semantics.

Conventions: arrays are C-contiguous and of one float dtype (float32 or
float64); ``out``-style arguments, when given, receive the result and are
returned; scalars are taken in the arrays' dtype. No argument is mutated
except the outputs (and p, m, v for ``adam_update``, which updates in place).
"""
from __future__ import annotations

from ..backend import array_module

ACTS = ("identity", "relu", "leaky_relu", "tanh", "sigmoid")
LEAKY_SLOPE = 0.01


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
    """out_n = sum_d log(r_nd) for r >= 1, taking the log of products of up to 2^halvings factors.

    ``log`` is the costliest pass of the Bernoulli loss (without AVX-512,
    NumPy's float32 log is scalar, ~2 ns per element); multiplying each
    row's column halves together first (``halvings`` times, an odd column
    carried over) cuts the logs up to 2^halvings-fold (16 by default). With
    r in [1, 2] a product of 16 factors is at most 65536: no overflow, and a
    few more roundings per row sum than summing the logs.
    ``r``: (N, D), overwritten -> out: (N,).
    """
    xp = array_module(r)
    w = r.shape[1]
    for _ in range(halvings):
        if w < 2:
            break
        h = w // 2
        xp.multiply(r[:, :h], r[:, h:2 * h], out=r[:, :h])
        if w % 2:
            r[:, h] = r[:, w - 1]
        w = h + w % 2
    out = _out(xp, out, r.shape[:1], r.dtype)
    return xp.sum(xp.log(r[:, :w]), axis=1, out=out)


def bernoulli_nll_grad(x, logits, scale, dlogits=None, nll=None):
    """Bernoulli negative log-likelihood per example and its scaled gradient, in one pass.

        nll_n     = sum_d [ softplus(l_nd) - x_nd l_nd ]
                  = sum_d log(1 + e) + sum_d l (1[l >= 0] - x),   e = exp(-|l|) <= 1
        dlogits   = scale * (sigmoid(l) - x),   sigmoid(l) = 1/(1+e) if l >= 0 else e/(1+e)

    (softplus(l) = max(l, 0) + log(1 + e), and max(l, 0) = l 1[l >= 0].)
    Finite for any logit. log(1 + e) stands for log1p(e): they differ by less
    than one unit of rounding of the per-example sum.
    x, logits: (N, D) -> nll: (N,), dlogits: (N, D). ``scale`` is usually 1/N.

    NumPy notes (measured, see PERFORMANCE.md): masked ufuncs (``where=``,
    ``copyto(..., where=)``) are ~30x slower than plain ones, so the branch
    is taken arithmetically: the numerator max(e, 1[l >= 0]) is 1 or e. One
    ``exp`` over all logits; the logs via :func:`sum_log_rows`; the row dot
    products by ``einsum``.
    """
    xp = array_module(logits)
    dt = logits.dtype
    dlogits = _out(xp, dlogits, logits.shape, dt)
    e = xp.abs(logits)                                  # scratch (N, D)
    xp.negative(e, out=e)
    xp.exp(e, out=e)                                    # e = exp(-|l|)
    r = xp.add(e, dt.type(1))                           # scratch (N, D): 1 + e
    pos = xp.greater_equal(logits, 0)                   # 1[l >= 0]
    xp.maximum(e, pos, out=e)                           # 1 if l >= 0 else e
    xp.divide(e, r, out=e)                              # sigmoid(l)
    xp.subtract(e, x, out=dlogits)
    dlogits *= xp.asarray(scale, dtype=dt)
    xp.subtract(pos, x, out=e)                          # 1[l >= 0] - x
    nll = sum_log_rows(r, out=nll)                      # sum_d log(1 + e)
    nll += xp.einsum("nd,nd->n", logits, e)
    return nll, dlogits


def bias_act_forward(a, b, act, out=None):
    """y = act(a + b), the bias add and the activation in one pass.

    a: (N, D) (the product x @ W), b: (D,) -> y: (N, D). ``out`` may be ``a``.
    """
    xp = array_module(a)
    y = _out(xp, out, a.shape, a.dtype)
    xp.add(a, b, out=y)
    if act == "relu":
        xp.maximum(y, xp.zeros(a.shape[-1:], a.dtype), out=y)   # a zero row: 2x faster than the scalar 0
    elif act == "leaky_relu":
        xp.maximum(y, y * a.dtype.type(LEAKY_SLOPE), out=y)
    elif act == "tanh":
        xp.tanh(y, out=y)
    elif act == "sigmoid":
        e = xp.exp(-xp.abs(y))
        pos = y >= 0
        xp.divide(1, 1 + e, out=y, where=pos)
        xp.divide(e, 1 + e, out=y, where=~pos)
    elif act != "identity":
        raise ValueError(f"unknown activation {act!r}; expected one of {ACTS}")
    return y


def act_backward(dy, y, act, out=None):
    """dx = dy * act'(x), with act' written through the output y.

    relu: 1[y > 0]; leaky_relu: 1 or slope; tanh: 1 - y^2; sigmoid: y (1 - y).
    dy, y: (N, D) -> dx: (N, D). ``out`` may be ``dy`` only if the caller owns it.
    """
    xp = array_module(dy)
    dx = _out(xp, out, dy.shape, dy.dtype)
    if act == "relu":
        xp.multiply(dy, y > 0, out=dx)
    elif act == "leaky_relu":
        xp.multiply(dy, xp.where(y > 0, 1, LEAKY_SLOPE).astype(dy.dtype), out=dx)
    elif act == "tanh":
        t = y * y
        xp.subtract(1, t, out=t)
        xp.multiply(dy, t, out=dx)
    elif act == "sigmoid":
        t = 1 - y
        t *= y
        xp.multiply(dy, t, out=dx)
    elif act == "identity":
        xp.copyto(dx, dy)
    else:
        raise ValueError(f"unknown activation {act!r}; expected one of {ACTS}")
    return dx


def adam_update(p, g, m, v, lr, beta1, beta2, eps, t):
    """One Adam step in place (Kingma & Ba 2015, Algorithm 1), t >= 1 the step count.

        m <- beta1 m + (1 - beta1) g
        v <- beta2 v + (1 - beta2) g^2
        p <- p - lr * (m / (1 - beta1^t)) / (sqrt(v / (1 - beta2^t)) + eps)

    computed, with the same value, as p - a m / (sqrt(v) + eps sqrt(1 - beta2^t)),
    a = lr sqrt(1 - beta2^t) / (1 - beta1^t) (the form of Algorithm 1's last
    remark): 12 passes over memory. Updates p, m, v; g is read only. All four
    arrays have one shape and dtype (any shape: a flat buffer of all
    parameters works as well as one parameter).
    """
    xp = array_module(p)
    f = p.dtype.type
    bc1, bc2 = 1 - beta1**t, 1 - beta2**t
    tmp = xp.subtract(g, m)
    tmp *= f(1 - beta1)
    m += tmp                                   # m + (1-b1)(g - m) = b1 m + (1-b1) g
    xp.multiply(g, f(1 - beta2), out=tmp)
    tmp *= g
    v *= f(beta2)
    v += tmp                                   # b2 v + (1-b2) g^2
    xp.sqrt(v, out=tmp)
    tmp += f(eps * bc2**0.5)
    xp.divide(m, tmp, out=tmp)
    tmp *= f(lr * bc2**0.5 / bc1)
    p -= tmp
