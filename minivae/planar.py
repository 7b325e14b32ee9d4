r"""Planar normalizing flows (Rezende & Mohamed 2015), forward and backward by hand.

A sample z_0 ~ q_0(z|x) is pushed through K planar steps

    z_{k+1} = f_k(z_k) = z_k + u_hat_k h(a_k),   a_k = w_k^T z_k + b_k,   h = tanh,

each with the Jacobian I + u_hat_k psi_k^T, psi_k = h'(a_k) w_k, whose determinant is (matrix determinant lemma)

    det_k = 1 + h'(a_k) u_hat_k^T w_k,                                  h'(a) = 1 - h(a)^2 in (0, 1],

so that log q_K(z_K|x) = log q_0(z_0|x) - sum_k log det_k.

Invertibility (the paper's appendix A.1). f_k is invertible when w^T u_hat >= -1; the free parameter u is
mapped to

    u_hat = u + (m(w^T u) - w^T u) w / ||w||^2,   m(t) = -1 + softplus(t),

and then w^T u_hat = w^T u + (m - w^T u) = m(w^T u) > -1 exactly. Both the forward and the backward use
this identity instead of the dot product w^T u_hat. Written with sp = softplus(w^T u) > 0:

    det = 1 + h' m = (1 - h') + h' sp = h^2 + (1 - h^2) sp,

a convex combination of 1 and sp with weight h' in (0, 1]: it lies between min(1, sp) and max(1, sp),
so det > 0 and no |.| is needed. Rounding: 1 + h' m CAN round to 0 (h = 0 and m = sp - 1 rounds to -1
once sp < eps/2: w^T u < -17 in float32, -37 in float64; an encoder can produce that). The form
h^2 + (1 - h^2) sp adds two non-negative numbers, so it has no cancellation (a few ulps of relative error)
and is 0 only when both underflow: sp = 0 needs w^T u < -103 (float32) / -745 (float64) and h^2 = 0 needs
|a| < 3e-23 / 2e-162. That never happens in practice, and if it did log_det = -inf is loud (the training
loop stops on a non-finite loss), not a silent wrong answer. log1p does not help log det: the argument
carries an absolute error of an ulp anyway; it is used inside softplus, where it does. The coefficient
m - w^T u = softplus(-w^T u) - 1 is written that way, without the cancellation of softplus(t) - t.

Backward, one step (dfoo = dL/dfoo; the upstream gradients are dz' = dL/dz_{k+1} and dld = dL/dlog_det,
the same dld for every step since log_det = sum_k log det_k). Per sample, through

    z' = z + u_hat h:        dh  = dz'^T u_hat,   du_hat = sum_s h dz',   dz  = dz' + (through a)
    ld = log det:            ddet = dld / det
    det = h^2 + (1-h^2) sp:  dh += ddet 2 h (1 - sp) = -2 h m ddet,       dsp = sum_s ddet h'
    h = tanh(a):             da  = dh (1 - h^2)
    a = w^T z + b:           dz += da w,   dw  = sum_s da z,   db = sum_s da

and then, per flow, through the parameter map (t = w^T u, c = m(t) - t, r = ||w||^2):

    sp = softplus(t):                 dt = dsp sigmoid(t)
    u_hat = u + (c / r) w:            g  = du_hat^T w,   dc/dt = sigmoid(t) - 1 = -sigmoid(-t)
                                      dt += -(g / r) sigmoid(-t)
                                      du = du_hat + dt w
                                      dw += (c / r) du_hat + dt u - (2 c g / r^2) w

(t = w^T u gives dt/du = w and dt/dw = u; d(1/r)/dw = -2 w / r^2). "sum_s" sums over the S samples,
and also over the N examples when the flow is shared (parameters passed with N = 1).
"""
from __future__ import annotations

from .activations import sigmoid
from .backend import array_module
from .errors import DataError, ShapeError
from .likelihoods import softplus

FLOAT_DTYPES = ("float32", "float64")


def _reparameterize(u, w):
    """t = w^T u, r = ||w||^2, sp = softplus(t), c = m(t) - t, u_hat = u + (c / r) w; u, w: (..., M)."""
    xp = array_module(u, w)
    if u.ndim < 1 or u.shape != w.shape:
        raise ShapeError(f"u and w must have the same shape (..., M), got {u.shape} and {w.shape}")
    t = xp.einsum("...m,...m->...", w, u)                        # w^T u
    r = xp.einsum("...m,...m->...", w, w)                        # ||w||^2
    if not bool(xp.all(r > 0)):
        raise DataError("every planar w must be a finite nonzero vector (||w||^2 > 0): u_hat divides by "
                        "||w||^2; do not initialize w at 0")
    sp = softplus(t)                                             # 1 + m(t) > 0
    c = softplus(-t) - 1                                         # m(t) - t, without cancellation
    uh = u + (c / r)[..., None] * w
    return t, r, sp, c, uh


def u_hat(u, w):
    """u_hat = u + (m(w^T u) - w^T u) w / ||w||^2,  m(t) = -1 + softplus(t),  so w^T u_hat = m(w^T u) > -1.

    u, w: (..., M) -> u_hat (..., M). DataError when some w is 0 (the map divides by ||w||^2).
    """
    return _reparameterize(u, w)[-1]


def _dot(z, v, shared):
    """v_n^T z_{s,n}: z (S, N, M), v (N, M) or (1, M) when shared -> (S, N) (a GEMV when shared)."""
    if shared:
        return z @ v[0]
    return array_module(z, v).einsum("snm,nm->sn", z, v)


def _contract(h, v, shared):
    """sum_s h_{s,n} v_{s,n}: h (S, N), v (S, N, M) -> (N, M), or summed over n too -> (1, M) when shared."""
    if shared:
        return h.reshape(1, -1) @ v.reshape(-1, v.shape[-1])
    return array_module(h, v).einsum("sn,snm->nm", h, v)


def _sum_samples(x, shared):
    """sum_s x_{s,n}: (S, N) -> (N,), or the total -> (1,) when shared."""
    return x.sum(axis=(0, 1)).reshape(1) if shared else x.sum(axis=0)


def _check_flow(z0, u, w, b):
    """(S, N, M, K, shared) of valid inputs, else a ShapeError / DataError saying what was expected."""
    for name, x in (("z0", z0), ("u", u), ("w", w), ("b", b)):
        if not hasattr(x, "shape") or not hasattr(x, "dtype"):
            raise ShapeError(f"{name} must be an array, got {type(x).__name__}")
    if z0.ndim != 3:
        raise ShapeError(f"z0 must be (S, N, M) samples, got shape {z0.shape}")
    S, N, M = z0.shape
    if u.ndim != 3 or u.shape != w.shape:
        raise ShapeError(f"u and w must both be (N, K, M) flow parameters, got {u.shape} and {w.shape}")
    if u.shape[0] not in (1, N) or u.shape[2] != M:
        raise ShapeError(f"u and w must be (N, K, M) = ({N}, K, {M}), or (1, K, {M}) for one flow shared by "
                         f"all examples, for z0 of shape {z0.shape}; got {u.shape}")
    if b.shape != u.shape[:2]:
        raise ShapeError(f"b must be (N, K) = {u.shape[:2]} like u's first two axes, got {b.shape}")
    dtype = z0.dtype.name
    if dtype not in FLOAT_DTYPES or any(x.dtype != z0.dtype for x in (u, w, b)):
        raise DataError(f"z0, u, w, b must share one dtype of {FLOAT_DTYPES}, got {dtype}, {u.dtype.name}, "
                        f"{w.dtype.name}, {b.dtype.name}")
    return S, N, M, u.shape[1], u.shape[0] == 1 and N != 1


def planar_flow(z0, u, w, b):
    """K planar steps z_{k+1} = z_k + u_hat_k tanh(w_k^T z_k + b_k), with their log-determinants.

    z0: (S, N, M) samples (S per example; S may be 1); u, w: (N, K, M); b: (N, K): per-example flow
    parameters, or N = 1 for one flow shared by (broadcast over) all examples. K = u.shape[1].
    Returns (zK (S, N, M), log_det (S, N), cache) with

        log_det = sum_k log(1 + h'(a_k) m_k) = sum_k log(h_k^2 + (1 - h_k^2) softplus(w_k^T u_k)),

    using w_k^T u_hat_k = m_k (module docstring). The cache holds, per step, the input z_k, h_k and
    det_k, and the parameter map's t, ||w||^2, softplus(t), c and u_hat; it is for
    :func:`planar_flow_backward`; it references z0, u and w without copying them, so do not overwrite
    those arrays (e.g. a layer's reused output buffer) before the backward. Every output has z0's dtype.
    """
    xp = array_module(z0, u, w, b)
    S, N, M, K, shared = _check_flow(z0, u, w, b)
    t, r, sp, c, uh = _reparameterize(u, w)                      # (Np, K), uh: (Np, K, M)
    z, log_det = z0, xp.zeros((S, N), dtype=z0.dtype)
    steps = []                                                   # (z_k, h_k, det_k) per step
    for k in range(K):
        a = _dot(z, w[:, k], shared) + b[:, k]                   # (S, N)
        h = xp.tanh(a)
        hh = h * h
        det = hh + (1 - hh) * sp[:, k]                           # = 1 + h' m > 0
        steps.append((z, h, det))
        z_next = h[..., None] * uh[:, k]                         # (S, N, M)
        z_next += z
        z = z_next
        log_det += xp.log(det)
    cache = (z0.shape, shared, u, w, t, r, sp, c, uh, steps)
    return z, log_det, cache


def planar_flow_backward(dzK, dlog_det, cache):
    """Gradients of K planar steps (derivation in the module docstring).

    dzK: dL/dzK (S, N, M); dlog_det: dL/dlog_det (S, N); cache from :func:`planar_flow`.
    Returns (dz0 (S, N, M), du, dw, db) with the shapes of u, w, b as passed: summed over the S samples,
    and over the N examples too when the flow was shared (N = 1). The upstream gradients are not written.
    """
    shape, shared, u, w, t, r, sp, c, uh, steps = cache
    if getattr(dzK, "shape", None) != shape or getattr(dlog_det, "shape", None) != shape[:2]:
        raise ShapeError(f"dzK must be (S, N, M) = {shape} and dlog_det (S, N) = {shape[:2]} like the forward "
                         f"outputs, got {getattr(dzK, 'shape', dzK)} and {getattr(dlog_det, 'shape', dlog_det)}")
    xp = array_module(dzK, dlog_det, u)
    K = u.shape[1]
    du, dw, db = xp.empty_like(u), xp.empty_like(w), xp.empty((u.shape[0], K), dtype=u.dtype)
    sig, sig_neg = sigmoid(t), sigmoid(-t)                       # dsp/dt, -dc/dt: (Np, K)
    dz = dzK
    for k in reversed(range(K)):
        (z, h, det), w_k, uh_k = steps[k], w[:, k], uh[:, k]
        hp = 1 - h * h                                           # h'(a)
        ddet = dlog_det / det                                    # (S, N)
        dh = _dot(dz, uh_k, shared) + ddet * 2 * h * (1 - sp[:, k])
        da = dh * hp
        duh = _contract(h, dz, shared)                           # (Np, M)
        dsp = _sum_samples(ddet * hp, shared)                    # (Np,)
        db[:, k] = _sum_samples(da, shared)
        dw_a = _contract(da, z, shared)                          # through a = w^T z + b
        dz_prev = da[..., None] * w_k                            # (S, N, M); dzK is never written
        dz_prev += dz
        dz = dz_prev
        # through the parameter map u_hat(u, w) and sp = softplus(w^T u)
        g = xp.einsum("nm,nm->n", duh, w_k)                      # du_hat^T w
        dt = dsp * sig[:, k] - (g / r[:, k]) * sig_neg[:, k]
        cr = c[:, k] / r[:, k]
        du[:, k] = duh + dt[:, None] * w_k
        dw[:, k] = dw_a + cr[:, None] * duh + dt[:, None] * u[:, k] - (2 * cr * g / r[:, k])[:, None] * w_k
    dz0 = dz if K else dzK.copy()
    return dz0, du, dw, db
