"""Checks of lesson 16 (richer posteriors): the log-determinant of one planar flow step and the KL
of a full-covariance Gaussian posterior; and of lesson 20 (inverse autoregressive flows): MADE's masks
and one IAF step given the MADE's outputs.

The references are the library's own: :func:`minivae.planar.planar_flow` with one step (K = 1) and
one sample (S = 1), :func:`minivae.full_covariance.full_kl`, :func:`minivae.iaf.masks_from_degrees` and
:func:`minivae.iaf.iaf_step` (through its sigmoid and softplus).
"""
from __future__ import annotations

import numpy as np

from ..activations import sigmoid
from ..full_covariance import full_kl, tril_size
from ..iaf import masks_from_degrees
from ..likelihoods import softplus
from ..planar import planar_flow, u_hat
from .compare import SHAPES, _call, _call_for, _case, _compare, _gauss_inputs, _report, _rng


# ------------------------------------------------------------ inputs
def _planar_inputs(rng, shape, special=None):
    """z, u, w (N, M), b (N,) of one planar step; ``special`` picks a hard case.

    "saturated": |a| = |w^T z + b| in [4, 6], so h'(a) < 1.4e-3 and the step is almost the identity;
    "near-singular": u moved along w until w^T u = -3, so w^T u_hat = m(-3) = softplus(-3) - 1 ~ -0.95,
    and a = 0, so det = 1 + h'(0) m ~ 0.05 (log det ~ -3).
    """
    n = shape[0]
    z, u, w = rng.standard_normal(shape), rng.standard_normal(shape), rng.standard_normal(shape)
    b = rng.standard_normal(n)
    if special == "saturated":
        b = np.where(rng.random(n) < 0.5, -1.0, 1.0) * rng.uniform(4, 6, n) - (w * z).sum(-1)
    elif special == "near-singular":
        r = (w * w).sum(-1, keepdims=True)
        u = u - ((w * u).sum(-1, keepdims=True) + 3.0) * w / r           # w^T u = -3: m = softplus(-3) - 1 ~ -0.95
        b = -(w * z).sum(-1)                                             # a = 0: h' = 1, det = 1 + m ~ 0.05
    return z, u, w, b


def _one_step_log_det(z, u, w, b):
    """log det of one planar step per row: planar_flow with S = 1 sample and K = 1 step."""
    return planar_flow(z[None], u[:, None], w[:, None], b[:, None])[1][0]


# ---------------------------------------------- lesson 16: planar log-det
def check_planar_log_det(student_fn):
    """``student_fn(z, u_hat, w, b) -> log_det (N,)`` of one planar step f(z) = z + u_hat tanh(w^T z + b):

        log |det df/dz| = log |1 + h'(w^T z + b) u_hat^T w|,   h'(a) = 1 - tanh(a)^2,

    per row; z, u_hat, w: (N, M), b: (N,). u_hat = :func:`minivae.planar.u_hat` (u, w), so
    w^T u_hat > -1 and the step is invertible. Reference :func:`minivae.planar.planar_flow`
    (one step). Cases: random shapes, a saturated tanh (|a| in [4, 6], h' ~ 0: log det ~ 0) and a step close
    to singular (w^T u_hat ~ -0.95 at a = 0: log det ~ -3).
    """
    check = "check_planar_log_det"
    rng, results = _rng(18), []
    cases = [(s, None) for s in SHAPES] + [((6, 4), "saturated"), ((5, 3), "near-singular")]
    for shape, special in cases:
        z, u, w, b = _planar_inputs(rng, shape, special)
        uh = u_hat(u, w)
        inputs = {"z": z, "u_hat": uh, "w": w, "b": b}
        got = _call(check, student_fn, {k: v.copy() for k, v in inputs.items()})
        want = _one_step_log_det(z, u, w, b)
        a = (w * z).sum(-1) + b
        uw = (uh * w).sum(-1)
        hp = 1 - np.tanh(a) ** 2
        with np.errstate(divide="ignore", invalid="ignore"):
            mistakes = {
                "tanh(a) used where its derivative h'(a) = 1 - tanh(a)^2 belongs": np.log(np.abs(1 + np.tanh(a) * uw)),
                "h'(a) written as 1 - tanh(a) (the square left out)": np.log(np.abs(1 + (1 - np.tanh(a)) * uw)),
                "the 1 + left out: det(I + u psi^T) = 1 + psi^T u, not psi^T u": np.log(np.abs(hp * uw)),
                "the bias b left out of a = w^T z + b": np.log(np.abs(1 + (1 - np.tanh(a - b) ** 2) * uw)),
                "the determinant itself, not its log": 1 + hp * uw,
                "||w||^2 where u_hat^T w belongs": np.log(np.abs(1 + hp * (w * w).sum(-1))),
                "h'(a) evaluated at a = u_hat^T z + b (u_hat and w swapped in a)":
                    np.log(np.abs(1 + (1 - np.tanh((uh * z).sum(-1) + b) ** 2) * uw)),
            }
        title = {None: f"z, u_hat, w of shape {shape}, b of shape {shape[:1]}",
                 "saturated": f"shape {shape}, |w^T z + b| in [4, 6]: tanh saturates, h' ~ 0, so log det ~ 0",
                 "near-singular": f"shape {shape}, w^T u_hat ~ -0.95 at a = 0: det ~ 0.05, log det ~ -3"}[special]
        results.append(_case(check, title, [lambda: _compare(check, "log_det", got, want, inputs, mistakes)]))
    return _report(check, results)


# ------------------------------------------------- lesson 16: full KL
def _full_inputs(rng, shape, special=None):
    """mu, logvar (N, M) and l_flat (N, M(M-1)/2); "prior": all 0 (KL 0); "L only": mu = 0, logvar = 0."""
    n, m = shape
    mu, logvar = _gauss_inputs(rng, shape)
    l_flat = rng.standard_normal((n, tril_size(m)))
    if special == "prior":
        mu, logvar, l_flat = np.zeros(shape), np.zeros(shape), np.zeros_like(l_flat)
    elif special == "L only":
        mu, logvar = np.zeros(shape), np.zeros(shape)
    return mu, logvar, l_flat


def check_full_kl(student_fn):
    """``student_fn(mu, logvar, l_flat) -> kl (N,)``: KL(N(mu, C C^T) || N(0, I)) per example, with

        C = L ⊙ L_mask + diag(sigma),  sigma = exp(logvar / 2),
        KL = 1/2 (tr(C C^T) + ||mu||^2 - M - log det(C C^T))
           = 1/2 sum_j (mu_j^2 + exp(logvar_j) - logvar_j - 1) + 1/2 sum_{i>j} L_ij^2.

    mu, logvar: (N, M); l_flat: (N, M(M-1)/2), the strictly-lower entries of L (their order does
    not matter here). Reference :func:`minivae.full_covariance.full_kl`. Cases: random shapes (M = 1
    has no L), the prior itself (KL = 0), and mu = 0, logvar = 0 (only L: KL = 1/2 ||L||^2).
    """
    check = "check_full_kl"
    rng, results = _rng(19), []
    cases = [(s, None) for s in SHAPES] + [((8, 32), None), ((3, 5), "prior"), ((4, 4), "L only")]
    for shape, special in cases:
        mu, logvar, l_flat = _full_inputs(rng, shape, special)
        inputs = {"mu": mu, "logvar": logvar, "l_flat": l_flat}
        got = _call(check, student_fn, {k: v.copy() for k, v in inputs.items()})
        want = full_kl(mu, logvar, l_flat)
        diag = 0.5 * (mu ** 2 + np.exp(logvar) - logvar - 1).sum(-1)
        ll = (l_flat ** 2).sum(-1)
        mistakes = {
            "the off-diagonal term 1/2 sum L_ij^2 left out (that is the diagonal posterior's KL)": diag,
            "the L term without its 1/2 (or counted in both triangles of C C^T)": diag + ll,
            "L_ij, not L_ij^2, in tr(C C^T)": diag + 0.5 * l_flat.sum(-1),
            "log det(C C^T) written as sum_j log sigma_j (logvar / 2), not sum_j log sigma_j^2":
                0.5 * (mu ** 2 + np.exp(logvar) - logvar / 2 - 1).sum(-1) + 0.5 * ll,
            "sigma = exp(logvar / 2) used where sigma^2 belongs in the trace":
                0.5 * (mu ** 2 + np.exp(logvar / 2) - logvar - 1).sum(-1) + 0.5 * ll,
            "the -M left out": diag + 0.5 * ll + 0.5 * shape[1],
        }
        title = {None: f"mu, logvar of shape {shape}, l_flat of shape {l_flat.shape}",
                 "prior": f"shape {shape}, mu = 0, logvar = 0, L = 0: q is the prior, KL must be 0",
                 "L only": f"shape {shape}, mu = 0, logvar = 0: KL must be 1/2 sum L_ij^2"}[special]
        results.append(_case(check, title, [lambda: _compare(check, "kl", got, want, inputs, mistakes)]))
    return _report(check, results)


# ----------------------------------------------- lesson 20: MADE's masks
def check_made_masks(student_fn):
    """``student_fn(deg_in, deg_h) -> (m_in (M, H), m_out (H, M))``: MADE's masks from the degrees,

        m_in[i, k] = 1 if deg_h[k] >= deg_in[i] else 0,     m_out[k, i] = 1 if deg_in[i] > deg_h[k] else 0,

    so that output i depends only on inputs of smaller degree. deg_in: (M,) a permutation of 1..M (the
    order); deg_h: (H,) integers in 1..M-1. Reference :func:`minivae.iaf.masks_from_degrees`. Cases: the
    natural and the reversed order, random orders and widths, and M = 2 (one hidden degree).
    """
    check = "check_made_masks"
    rng, results = _rng(20), []
    for m, h, order in [(4, 3, "natural"), (4, 6, "reversed"), (6, 10, "random"), (2, 3, "natural"), (9, 8, "random")]:
        deg_in = {"natural": np.arange(1, m + 1), "reversed": np.arange(m, 0, -1),
                  "random": rng.permutation(m) + 1}[order]
        deg_h = rng.integers(1, m, h) if order == "random" else np.arange(h) % (m - 1) + 1
        inputs = {"deg_in": deg_in, "deg_h": deg_h}
        got = _call_for(check, student_fn, inputs, 2, results)
        if got is None:
            continue
        want_in, want_out = masks_from_degrees(deg_in, deg_h)
        strict_in, loose_out = (deg_h[None, :] > deg_in[:, None]) * 1.0, (deg_in[None, :] >= deg_h[:, None]) * 1.0
        mistakes_in = {"> where >= belongs: hidden unit k must see the inputs of its own degree": strict_in}
        mistakes_out = {">= where > belongs: output i would see input i itself (not autoregressive)": loose_out}
        title = f"{order} order over M = {m} variables, H = {h} hidden units"
        results.append(_case(check, title, [
            lambda: _compare(check, "m_in", got[0], want_in, inputs, mistakes_in),
            lambda: _compare(check, "m_out", got[1], want_out, inputs, mistakes_out)]))
    return _report(check, results)


# ----------------------------------------------- lesson 20: one IAF step
def check_iaf_step(student_fn):
    """``student_fn(z, m, s) -> (z_new (N, M), log_det (N,))``: one IAF step given the MADE's outputs,

        sigma = sigmoid(s),   z_new = sigma * z + (1 - sigma) * m,   log_det = sum_i log sigma_i,

    per row; z, m, s: (N, M). Reference :func:`minivae.iaf.iaf_step`'s arithmetic (log sigma =
    -softplus(-s)). Cases: random shapes, and s in [-800, -750], where sigma = sigmoid(s) underflows to 0 in
    float64 and log(sigmoid(s)) is -inf: write log sigma = -softplus(-s) = s - log1p(exp(s)) for s < 0.
    """
    check = "check_iaf_step"
    rng, results = _rng(21), []
    for shape, special in [(s, None) for s in SHAPES] + [((5, 4), "underflow")]:
        z, m = rng.standard_normal(shape), rng.standard_normal(shape)
        s = rng.uniform(-800, -750, shape) if special else 2 * rng.standard_normal(shape)
        inputs = {"z": z, "m": m, "s": s}
        got = _call_for(check, student_fn, inputs, 2, results)
        if got is None:
            continue
        sigma = sigmoid(s)
        want_z, want_ld = sigma * z + (1 - sigma) * m, -softplus(-s).sum(axis=-1)
        with np.errstate(all="ignore"):
            mistakes_z = {"sigma and 1 - sigma swapped": (1 - sigma) * z + sigma * m,
                          "s used where sigma = sigmoid(s) belongs": s * z + (1 - s) * m}
            mistakes_ld = {"sum log(1 - sigma): the Jacobian's diagonal is sigma": np.log(1 - sigma).sum(-1),
                           "sum s: log sigma = log sigmoid(s), not s": s.sum(-1),
                           "the determinant itself, not its log": np.exp(want_ld),
                           "sigma underflowed to 0: write log sigma = -softplus(-s)": np.log(sigma).sum(-1)}
        title = (f"z, m, s of shape {shape}" if special is None else
                 f"shape {shape}, s in [-800, -750]: sigmoid(s) underflows to 0, log sigma = -softplus(-s) ~ s")
        results.append(_case(check, title, [
            lambda: _compare(check, "z_new", got[0], want_z, inputs, mistakes_z),
            lambda: _compare(check, "log_det", got[1], want_ld, inputs, mistakes_ld)]))
    return _report(check, results)
