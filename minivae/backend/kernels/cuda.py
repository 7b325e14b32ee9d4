"""CUDA kernels of the fused training-step operations, for CuPy arrays.

Every function here has the signature and the semantics of its namesake in
:mod:`minivae.backend.kernels.reference` (the NumPy version, which is the spec), and
is tested against it (``tests/test_kernels.py``). The CUDA source is in the
``*.cu`` files beside this module, one per concept, each kernel with its
equation in a comment; ``tests/test_nvcc.py`` compiles them with ``nvcc``.

How a call is checked, compiled and launched: see
:mod:`minivae.backend.kernels.cuda_launch`, which holds that machinery.

The sources are compiled with ``--fmad=false``: NVRTC would otherwise fuse
``a * b + c`` into one rounding, and the kernels would no longer round like
the NumPy reference. They do the reference's operations in its order, so the
only differences left are in ``exp``, ``log`` and ``tanh`` (a few units of
float rounding) and in the order of the per-row sums (kept in double here).
"""
from __future__ import annotations

import functools

import numpy

from ...errors import DataError, ShapeError
from .reference import rmsprop_update, sgd_update  # noqa: F401  (no kernel: the reference's array code runs on CuPy)
from .cuda_launch import (  # noqa: F401  (re-exported: tests and callers use cuda.SOURCES, cuda._module, ...)
    ACT_CODES, BLOCK, INT_LIMIT, KERNELS, MAX_GRID, NVRTC_OPTIONS, SOURCES, WARP, _SUFFIX, _act_code, _check,
    _check_layout, _check_shape, _grid, _module, _out, _row_block, _rows, _scalar, cuda_source)

__all__ = ["reparam_kl_forward", "reparam_kl_backward", "bernoulli_nll_grad", "gaussian_nll_grad", "bias_act_forward",
           "act_backward", "adam_update", "adam_update_multi", "sgd_update", "rmsprop_update", "SOURCES", "KERNELS",
           "NVRTC_OPTIONS", "cuda_source"]


#: the activations whose bias_act_forward takes a work array: none, the kernels need no scratch
SCRATCH_ACTS = ()

def _kernel(name, dtype):
    return _module(KERNELS[name]).get_function(f"{name}_{_SUFFIX[numpy.dtype(dtype)]}")


# -------------------------------------------------------------------- ops
def reparam_kl_forward(mu, logvar, eps, z=None, kl=None):
    """z = mu + exp(logvar / 2) * eps and kl_n = 1/2 sum_j (mu^2 + exp(logvar) - logvar - 1).

    mu, logvar, eps: (N, D) -> z: (N, D), kl: (N,). One warp per row
    (``reparam_kl.cu``). See :func:`minivae.backend.kernels.reference.reparam_kl_forward`.
    """
    import cupy

    op = "reparam_kl_forward"
    dt = _check(op, mu=mu, logvar=logvar, eps=eps)
    n, d = _rows(op, "mu", mu)
    _check_shape(op, "logvar", logvar, mu.shape)
    _check_shape(op, "eps", eps, mu.shape)
    z = _out(cupy, op, "z", z, (n, d), dt)
    kl = _out(cupy, op, "kl", kl, (n,), dt)
    if n == 0:
        return z, kl
    rows_per_block = BLOCK // WARP
    grid = (-(-n // rows_per_block),)
    _kernel(op, dt)(grid, (BLOCK,), (mu, logvar, eps, z, kl, numpy.int32(n), numpy.int32(d)))
    return z, kl


def reparam_kl_backward(dz, mu, logvar, eps, kl_weight, dmu=None, dlogvar=None):
    """dmu = dz + w mu,  dlogvar = 1/2 (dz eps sigma + w (sigma^2 - 1)),  sigma = exp(logvar / 2).

    ``kl_weight`` = w = dLoss/dKL_n: a scalar (Python, NumPy or a 0-d CuPy
    array) or a (D,) vector. dz, mu, logvar, eps: (N, D) -> dmu, dlogvar: (N, D).
    One thread per element (``reparam_kl.cu``).
    See :func:`minivae.backend.kernels.reference.reparam_kl_backward`.
    """
    import cupy

    op = "reparam_kl_backward"
    dt = _check(op, dz=dz, mu=mu, logvar=logvar, eps=eps)
    n, d = _rows(op, "mu", mu)
    for name, a in (("dz", dz), ("logvar", logvar), ("eps", eps)):
        _check_shape(op, name, a, mu.shape)
    dmu = _out(cupy, op, "dmu", dmu, (n, d), dt)
    dlogvar = _out(cupy, op, "dlogvar", dlogvar, (n, d), dt)
    if isinstance(kl_weight, cupy.ndarray) or numpy.ndim(kl_weight) > 0:
        w = cupy.asarray(kl_weight, dtype=dt)            # no copy when it is already so
        if w.shape not in ((), (d,)):
            raise ShapeError(f"{op}: kl_weight has shape {tuple(w.shape)}, expected a scalar or ({d},)")
        if not w.flags.c_contiguous:
            w = w.copy()                                # (ascontiguousarray would make a 0-d array 1-d)
        w_step, w_scalar = numpy.int32(w.ndim), dt.type(0)          # 1: w[j], 0: w[0]
    else:
        w, w_step, w_scalar = mu, numpy.int32(-1), _scalar(op, "kl_weight", kl_weight, dt)  # w is not read
    if n == 0:
        return dmu, dlogvar
    size = n * d
    _kernel(op, dt)(_grid(size), (BLOCK,), (dz, mu, logvar, eps, w, w_step, w_scalar, dmu, dlogvar,
                                            numpy.int32(size), numpy.int32(d)))
    return dmu, dlogvar


def bernoulli_nll_grad(x, logits, scale, dlogits=None, nll=None, work=None):
    """nll_n = sum_d [softplus(l) - x l] and dlogits = scale (sigmoid(l) - x), finite for any logit.

    x, logits: (N, D) -> nll: (N,), dlogits: (N, D). One block per row
    (``likelihoods.cu``); ``work`` (the NumPy versions' scratch) is not
    needed and not touched. See :func:`minivae.backend.kernels.reference.bernoulli_nll_grad`.
    """
    import cupy

    op = "bernoulli_nll_grad"
    dt, n, d = _pixel_pair(op, x, logits, "logits")
    dlogits = _out(cupy, op, "dlogits", dlogits, (n, d), dt)
    nll = _out(cupy, op, "nll", nll, (n,), dt)
    if n == 0:
        return nll, dlogits
    _kernel(op, dt)((n,), (_row_block(d),), (x, logits, _scalar(op, "scale", scale, dt), dlogits, nll,
                                              numpy.int32(d)))
    return nll, dlogits


def gaussian_nll_grad(x, mean, logvar, scale, dmean=None, nll=None, work=None):
    """nll_n = 1/2 sum_d [(x - mean)^2 / sigma^2 + logvar + log 2 pi], dmean = scale (mean - x) / sigma^2,
    and for a per-pixel logvar dlogvar_d = scale sum_n 1/2 (1 - (x - mean)^2 / sigma_d^2).

    x, mean: (N, D); logvar: a host number or a (D,) CuPy array -> nll (N,),
    dmean (N, D), dlogvar (D,) or None. One block per row, then (learned
    variance) one thread per pixel (``likelihoods.cu``); ``work`` is not
    needed. See :func:`minivae.backend.kernels.reference.gaussian_nll_grad`.
    """
    import cupy

    op = "gaussian_nll_grad"
    dt, n, d = _pixel_pair(op, x, mean, "mean")
    dmean = _out(cupy, op, "dmean", dmean, (n, d), dt)
    nll = _out(cupy, op, "nll", nll, (n,), dt)
    learned = isinstance(logvar, cupy.ndarray)
    if learned:
        _check(op, dt, logvar=logvar)
        _check_shape(op, "logvar", logvar, (d,))
        lv, lv_step, lv_scalar = logvar, numpy.int32(1), dt.type(0)
    elif numpy.ndim(logvar) > 0:
        raise DataError(f"{op}: logvar is a {type(logvar).__name__} of shape {numpy.shape(logvar)}, expected a "
                        f"host number (fixed variance) or a ({d},) CuPy array (learned)")
    else:
        lv, lv_step, lv_scalar = mean, numpy.int32(0), _scalar(op, "logvar", logvar, dt)   # lv is not read
    scale = _scalar(op, "scale", scale, dt)
    dlogvar = cupy.empty(d, dtype=dt) if learned else None
    if n == 0:
        if learned:
            dlogvar.fill(0)
        return nll, dmean, dlogvar
    _kernel(op, dt)((n,), (_row_block(d),), (x, mean, lv, lv_step, lv_scalar, scale, dmean, nll, numpy.int32(d)))
    if learned:
        _kernel("gaussian_dlogvar", dt)(_grid(d), (BLOCK,), (x, mean, logvar, scale, dlogvar, numpy.int32(n),
                                                              numpy.int32(d)))
    return nll, dmean, dlogvar


def bias_act_forward(a, b, act, out=None, work=None):
    """y = act(a + b) in one pass; a: (N, D), b: (D,) -> y: (N, D). ``out`` may be ``a``.

    ``work`` (the NumPy versions' scratch) is not needed.
    See :func:`minivae.backend.kernels.reference.bias_act_forward` (``bias_act.cu``).
    """
    import cupy

    op = "bias_act_forward"
    code = _act_code(op, act)
    dt = _check(op, a=a, b=b)
    n, d = _rows(op, "a", a)
    _check_shape(op, "b", b, (d,))
    y = _out(cupy, op, "out", out, (n, d), dt)
    if n * d:
        _kernel(op, dt)(_grid(n * d), (BLOCK,), (a, b, y, numpy.int32(n * d), numpy.int32(d), code))
    return y


def act_backward(dy, y, act, out=None):
    """dx = dy * act'(x), act' written through y; dy, y: (N, D) -> dx. ``out`` may be ``dy``.

    See :func:`minivae.backend.kernels.reference.act_backward` (``bias_act.cu``).
    """
    import cupy

    op = "act_backward"
    code = _act_code(op, act)
    dt = _check(op, dy=dy, y=y)
    _check_shape(op, "y", y, dy.shape)
    dx = _out(cupy, op, "out", out, dy.shape, dt)
    if dy.size:
        _kernel(op, dt)(_grid(dy.size), (BLOCK,), (dy, y, dx, numpy.int32(dy.size), code))
    return dx


def _adam_scalars(dt, lr, beta1, beta2, eps, t):
    """The reference's host-side scalars, in the arrays' dtype (see adam.cu)."""
    f = dt.type
    bc1, bc2 = 1 - beta1**t, 1 - beta2**t
    return f(1 - beta1), f(1 - beta2), f(1 / bc2), f(eps), f(lr / bc1)


def adam_update(p, g, m, v, lr, beta1, beta2, eps, t, work=None):
    """One Adam step in place (Kingma & Ba 2015, Algorithm 1); t >= 1 the step count.

    Updates p, m, v; g is read only. All four arrays have one shape and
    dtype; ``work`` (the NumPy versions' scratch) is not needed. See :func:`minivae.backend.kernels.reference.adam_update` (``adam.cu``).
    """
    op = "adam_update"
    dt = _check(op, p=p, g=g, m=m, v=v)
    for name, a in (("g", g), ("m", m), ("v", v)):
        _check_shape(op, name, a, p.shape)
    if p.size:
        _kernel(op, dt)(_grid(p.size), (BLOCK,),
                        (p, g, m, v, numpy.int32(p.size), *_adam_scalars(dt, lr, beta1, beta2, eps, t)))


def adam_update_multi(ps, gs, ms, vs, lr, beta1, beta2, eps, t):
    """:func:`adam_update` for many parameters in one launch (multi-tensor Adam).

    ps, gs, ms, vs: sequences of K arrays, the k-th of each of one shape, all
    of one dtype. Same results and side effects as K calls of
    :func:`adam_update`. The table of addresses is built once per set of
    arrays and cached (parameters and optimizer state do not move).
    """
    op = "adam_update_multi"
    ps, gs, ms, vs = (list(a) for a in (ps, gs, ms, vs))
    if not ps or not len(ps) == len(gs) == len(ms) == len(vs):
        raise ShapeError(f"{op}: got {len(ps)} params, {len(gs)} grads, {len(ms)} m and {len(vs)} v; "
                         f"expected as many of each, at least one")
    dt = None
    for k, (p, g, m, v) in enumerate(zip(ps, gs, ms, vs)):
        dt = _check(op, dt, **{f"p[{k}]": p, f"g[{k}]": g, f"m[{k}]": m, f"v[{k}]": v})
        for name, a in (("g", g), ("m", m), ("v", v)):
            _check_shape(op, f"{name}[{k}]", a, p.shape)
    sizes = [p.size for p in ps]
    total = sum(sizes)
    if total > INT_LIMIT:
        raise ShapeError(f"{op}: {total} elements in all, at most {INT_LIMIT} fit one launch")
    if total == 0:
        return
    ptrs, offsets = _adam_table(tuple(_address(a) for a in (*ps, *gs, *ms, *vs)), tuple(sizes))
    _kernel(op, dt)(_grid(total), (BLOCK,),
                    (ptrs, offsets, numpy.int32(len(ps)), numpy.int32(total),
                     *_adam_scalars(dt, lr, beta1, beta2, eps, t)))


def _pixel_pair(op, x, a, name):
    """Check images x and the decoder output a (``name``): (N, D) CuPy arrays of one dtype; (dtype, N, D)."""
    dt = _check(op, x=x, **{name: a})
    n, d = _rows(op, name, a)
    _check_shape(op, "x", x, a.shape)
    return dt, n, d


def _address(a):
    """The device address of a CuPy array's first element."""
    return a.data.ptr


@functools.lru_cache(maxsize=16)
def _adam_table(ptrs, sizes):
    """Device arrays of the 4 K addresses and the K + 1 offsets (cached per set of arrays)."""
    import cupy

    return (cupy.asarray(numpy.array(ptrs, dtype=numpy.uint64)),
            cupy.asarray(numpy.cumsum((0, *sizes), dtype=numpy.int32)))
