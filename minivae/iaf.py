r"""Inverse autoregressive flows (Kingma et al. 2016) with a one-hidden-layer MADE, forward and backward by hand.

A sample z_0 ~ q_0(z|x) = N(mu, diag sigma_0^2) is pushed through K steps

    [m_t, s_t] = MADE_t(z_{t-1}, h),   sigma_t = sigmoid(s_t),
    z_t = sigma_t * z_{t-1} + (1 - sigma_t) * m_t,

where h is the context (the encoder's last hidden layer) and MADE_t is autoregressive: m_t,i and s_t,i
depend on z_{t-1,j} only for j before i in the step's order. So dz_t,i / dz_{t-1,j} = 0 for j after i, the
Jacobian is triangular with diagonal sigma_t, and

    log |det dz_t / dz_{t-1}| = sum_i log sigma_t,i,   log q(z_K|x) = log q(z_0|x) - sum_t sum_i log sigma_t,i.

One pass in this direction samples z_K and scores it; the density of an arbitrary z_K would need the
inverse, which is sequential (z_{t-1,i} needs z_{t-1,<i} first): IAF is fast where a VAE needs it.

MADE (Germain et al. 2015), one hidden layer of width H. Each input i has a degree d(i), its place in the
step's order (1..M); hidden unit k has degree d(k) = 1 + (k mod (M - 1)) (every degree 1..M-1 appears when
H >= M - 1). A weight is kept where the masks say so:

    M_in[i, k]  = 1[d(k) >= d(i)]     input i reaches hidden unit k
    M_out[k, i] = 1[d(i) > d(k)]      hidden unit k reaches output i

so output i sees input j only through some k with d(j) <= d(k) < d(i): strictly before i. Odd steps use
the reversed order (d(i) = M + 1 - i), which is the same as reversing the variables between steps without
moving an array: even steps have lower-triangular Jacobians, odd steps upper-triangular ones.

The MADE's forward (weights as ``y = x @ W + b``; W_in = W ⊙ M_in, W_m' = W_m ⊙ M_out, W_s' = W_s ⊙ M_out):

    a = z W_in + h V + b,   u = tanh(a),   m = u W_m' + b_m,   s = u W_s' + b_s.

The step's backward, per sample (dfoo = dL/dfoo; dz' = dL/dz_t, dld = dL/d(sum_i log sigma_i)):

    z' = m + sigma (z - m):     dz = dz' sigma,   dsigma = dz' (z - m),   dm = dz' (1 - sigma)
    ld = sum_i log sigma_i:     ds = dsigma sigma (1 - sigma) + dld (1 - sigma)     (d log sigmoid(s)/ds = 1 - sigma)
    m, s = u W' + b:            du = dm W_m'^T + ds W_s'^T,   dW_m = (u^T dm) ⊙ M_out,   db_m = sum dm  (same for s)
    u = tanh(a):                da = du (1 - u^2)
    a = z W_in + h V + b:       dz += da W_in^T,   dW = (z^T da) ⊙ M_in,   db = sum da,
                                dV = h^T (sum_s da),   dh = (sum_s da) V^T

(h is shared by the S samples of an example, so its gradient sums over them). The masked entries of W, W_m,
W_s get a zero gradient, so an optimizer that starts them at 0 keeps them there; the forward masks anyway.

Identity start (:func:`init_made`): W_m = W_s = 0, b_m = 0 and b_s = ``SIGMA_BIAS`` = 4, so every step starts as
z' = sigmoid(4) z = 0.982 z, within 2% of the identity (log-det -0.018 per dimension). Kingma et al. start
sigma near 1 as an LSTM's forget gate (bias +1 or +2); 4 is nearer the identity, and Adam's steps do not
shrink with the gradient's scale sigma (1 - sigma), so the step still learns.
"""
from __future__ import annotations

import math

import numpy

from .activations import sigmoid
from .backend import array_module
from .errors import ConfigError, ShapeError
from .likelihoods import softplus

#: s's bias at the start: sigma = sigmoid(4) = 0.982, each step near the identity
SIGMA_BIAS = 4.0
#: a MADE's parameters: masked input weights, the context's weights, the hidden bias, the heads m and s
MADE_KEYS = ("W", "V", "b", "Wm", "bm", "Ws", "bs")


def min_hidden(latent_dim):
    """The narrowest MADE whose hidden layer has every degree 1..M-1 (so output i can see all of z_<i)."""
    return max(latent_dim - 1, 1)


def made_masks(latent_dim, hidden, reverse=False):
    """(M_in (M, H), M_out (H, M)) as float64 0/1 NumPy arrays; ``reverse``: the order M, ..., 1.

    ConfigError when H < M - 1 (some degree would be missing: an output would not see all earlier inputs).
    """
    if hidden < min_hidden(latent_dim):
        raise ConfigError(f"a MADE over {latent_dim} variables needs a hidden width of at least "
                          f"{min_hidden(latent_dim)} (every degree 1..M-1), got {hidden}")
    deg_in = numpy.arange(1, latent_dim + 1)
    if reverse:
        deg_in = deg_in[::-1]
    return masks_from_degrees(deg_in, numpy.arange(hidden) % min_hidden(latent_dim) + 1)


def masks_from_degrees(deg_in, deg_h):
    """M_in[i, k] = 1[d(k) >= d(i)] (M, H) and M_out[k, i] = 1[d(i) > d(k)] (H, M), float64 0/1.

    deg_in: (M,) the inputs' (and outputs') degrees; deg_h: (H,) the hidden units' degrees.
    """
    deg_in, deg_h = numpy.asarray(deg_in), numpy.asarray(deg_h)
    m_in = (deg_h[None, :] >= deg_in[:, None]).astype(numpy.float64)
    m_out = (deg_in[None, :] > deg_h[:, None]).astype(numpy.float64)
    return m_in, m_out


def init_made(rng, latent_dim, context_dim, hidden, dtype="float64"):
    """A step's parameters (NumPy, by MADE_KEYS) at the identity start (module docstring).

    W (M, H), V (C, H): U(-a, a) with a = 1 / sqrt(fan-in); b = 0; W_m = W_s = 0 and b_m = 0, b_s = SIGMA_BIAS,
    so that m = 0 and s = SIGMA_BIAS whatever z and h: z' = sigmoid(SIGMA_BIAS) z.
    """
    a_w, a_v = 1 / math.sqrt(latent_dim), 1 / math.sqrt(max(context_dim, 1))
    return {"W": rng.uniform(-a_w, a_w, (latent_dim, hidden)).astype(dtype),
            "V": rng.uniform(-a_v, a_v, (context_dim, hidden)).astype(dtype),
            "b": numpy.zeros(hidden, dtype), "Wm": numpy.zeros((hidden, latent_dim), dtype),
            "bm": numpy.zeros(latent_dim, dtype), "Ws": numpy.zeros((hidden, latent_dim), dtype),
            "bs": numpy.full(latent_dim, SIGMA_BIAS, dtype)}


def _check(z, h, p, masks):
    if z.ndim != 3 or h.ndim != 2 or h.shape[0] != z.shape[1]:
        raise ShapeError(f"z must be (S, N, M) samples and h (N, C) contexts, got {z.shape} and {h.shape}")
    m_in, m_out = masks
    want = {"W": m_in.shape, "V": (h.shape[1], m_in.shape[1]), "Wm": m_out.shape, "Ws": m_out.shape}
    if m_in.shape[0] != z.shape[2] or any(p[k].shape != v for k, v in want.items()):
        raise ShapeError(f"a MADE over z (S, N, {z.shape[2]}) with context (N, {h.shape[1]}) needs W, V, Wm, Ws "
                         f"and masks of shapes {want}, got {({k: p[k].shape for k in want})} and masks "
                         f"{m_in.shape}, {m_out.shape}")


def made_forward(z, h, p, masks):
    """[m, s] = MADE(z, h): z (S, N, M), h (N, C), p a dict by MADE_KEYS, masks (M_in, M_out).

    Returns m, s (S, N, M) and the cache for :func:`made_backward` (it references z, h and p unchanged).
    """
    _check(z, h, p, masks)
    S, N, M = z.shape
    w_in, w_m, w_s = p["W"] * masks[0], p["Wm"] * masks[1], p["Ws"] * masks[1]
    a = (z.reshape(S * N, M) @ w_in).reshape(S, N, -1) + (h @ p["V"] + p["b"])    # (S, N, H)
    u = array_module(a).tanh(a)
    m = u @ w_m + p["bm"]
    s = u @ w_s + p["bs"]
    return m, s, (z, h, p, masks, w_in, w_m, w_s, u)


def made_backward(dm, ds, cache):
    """Gradients of the MADE from dL/dm, dL/ds (S, N, M): (dz (S, N, M), dh (N, C), grads by MADE_KEYS)."""
    z, h, p, masks, w_in, w_m, w_s, u = cache
    S, N, M = z.shape
    H = u.shape[-1]
    u2, dm2, ds2 = u.reshape(S * N, H), dm.reshape(S * N, M), ds.reshape(S * N, M)
    g = {"Wm": (u2.T @ dm2) * masks[1], "bm": dm2.sum(axis=0),
         "Ws": (u2.T @ ds2) * masks[1], "bs": ds2.sum(axis=0)}
    du = dm @ w_m.T + ds @ w_s.T                                   # (S, N, H)
    da = du * (1 - u * u)
    da2 = da.reshape(S * N, H)
    g["W"] = (z.reshape(S * N, M).T @ da2) * masks[0]
    g["b"] = da2.sum(axis=0)
    dctx = da.sum(axis=0)                                          # (N, H): h is shared by the S samples
    g["V"] = h.T @ dctx
    return da @ w_in.T, dctx @ p["V"].T, g


def iaf_step(z, h, p, masks):
    """One IAF step z' = sigma z + (1 - sigma) m, [m, s] = MADE(z, h), sigma = sigmoid(s).

    z (S, N, M), h (N, C) -> z' (S, N, M), log_det = sum_i log sigma_i (S, N) (as -softplus(-s): no
    log(0) for any s), and the cache for :func:`iaf_step_backward`.
    """
    m, s, made_cache = made_forward(z, h, p, masks)
    sigma = sigmoid(s)
    z_next = m + sigma * (z - m)
    log_det = -softplus(-s).sum(axis=-1)
    return z_next, log_det, (z, m, sigma, made_cache)


def iaf_step_backward(dz_next, dlog_det, cache):
    """Backward of one step (module docstring): (dz (S, N, M), dh (N, C), grads by MADE_KEYS).

    dz_next: dL/dz' (S, N, M); dlog_det: dL/dlog_det (S, N). The upstream gradients are not written.
    """
    z, m, sigma, made_cache = cache
    one_minus = 1 - sigma
    dsigma = dz_next * (z - m)
    ds = (dsigma * sigma + dlog_det[..., None]) * one_minus
    dz_made, dh, g = made_backward(dz_next * one_minus, ds, made_cache)
    dz_made += dz_next * sigma
    return dz_made, dh, g


def iaf_flow(z0, h, steps):
    """K steps: ``steps`` is [(params, masks)], step t in the order of its masks (reversed for odd t).

    z0 (S, N, M), h (N, C) -> z_K (S, N, M), log_det = sum_t sum_i log sigma_t,i (S, N), cache.
    log q(z_K|x) = log q(z_0|x) - log_det.
    """
    z, log_det, caches = z0, 0, []
    for p, masks in steps:
        z, ld, c = iaf_step(z, h, p, masks)
        log_det = log_det + ld
        caches.append(c)
    if not steps:
        log_det = array_module(z0).zeros(z0.shape[:2], dtype=z0.dtype)
    return z, log_det, caches


def iaf_flow_backward(dzK, dlog_det, caches):
    """Backward of :func:`iaf_flow`: (dz0, dh (N, C) summed over the steps, [grads of each step])."""
    dz, dh, grads = dzK, None, []
    for c in reversed(caches):
        dz, dh_t, g = iaf_step_backward(dz, dlog_det, c)
        dh = dh_t if dh is None else dh + dh_t
        grads.append(g)
    return dz, dh, grads[::-1]


class MADE:
    """One IAF step's MADE as a layer: ``params``/``grads`` by MADE_KEYS (packed as ``flow.{t}.W`` ...) and masks.

    Step t of a flow uses the reversed order when t is odd. The math is the functions above; the posterior
    (:mod:`minivae.models.posteriors`) carries their caches.
    """

    def __init__(self, latent_dim, context_dim, hidden, rng, xp, dtype, reverse=False):
        self.masks = tuple(xp.asarray(mk, dtype=dtype) for mk in made_masks(latent_dim, hidden, reverse))
        self.params = {k: xp.asarray(v) for k, v in init_made(rng, latent_dim, context_dim, hidden, dtype).items()}
        self.params["W"] *= self.masks[0]                      # masked entries start (and stay) at 0
        self.grads = {k: xp.zeros_like(v) for k, v in self.params.items()}
