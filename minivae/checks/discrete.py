"""Checks of lesson 17 (discrete latents): the Gumbel-softmax sample and its backward pass, the KL of
a categorical posterior to the uniform prior, and VQ-VAE's nearest-code quantization.

The references are the library's own: :func:`minivae.gumbel.gumbel_softmax`,
:func:`minivae.gumbel.gumbel_softmax_backward`, :func:`minivae.gumbel.categorical_kl` and
:func:`minivae.quantizer.nearest_codes`.
"""
from __future__ import annotations

import numpy as np

from ..gumbel import categorical_kl, gumbel_noise, gumbel_softmax, gumbel_softmax_backward
from ..quantizer import nearest_codes
from .compare import _call, _case, _compare, _describe, _report, _rng


# ------------------------------------------------------------ helpers
def _softmax(s, axis=-1):
    """softmax along ``axis`` with the max taken out (the mistakes below are built from it)."""
    e = np.exp(s - s.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _log_softmax(a):
    s = a - a.max(axis=-1, keepdims=True)
    return s - np.log(np.exp(s).sum(axis=-1, keepdims=True))


def _finite_or_hint(name, got, want, hint):
    """False (printing ``hint``) when ``got`` is a numeric array of the reference's shape holding NaN or inf;
    True otherwise (a wrong type or shape is left to :func:`_compare` to report)."""
    try:
        a = np.asarray(got)
    except Exception:  # ragged lists and the like
        return True
    if got is None or a.shape != np.shape(want) or not np.issubdtype(a.dtype, np.number) or np.isfinite(a).all():
        return True
    print(f"  FAIL {name}: your output holds NaN or inf where the reference is finite; {hint}")
    return False


def _gumbel_inputs(rng, shape, scale):
    """logits (shape) ~ scale N(0, 1) and standard Gumbel noise g of the same shape."""
    return scale * rng.standard_normal(shape), gumbel_noise(rng.random(shape))


# ------------------------------------------------------- the relaxed sample
def check_gumbel_softmax(student_fn):
    """``student_fn(logits, g, tau) -> y``: y = softmax((log pi + g) / tau) over the last axis, pi = softmax(logits).

    logits, g: (..., K) (g standard Gumbel noise), tau > 0 a float; y has the logits' shape.
    Reference :func:`minivae.gumbel.gumbel_softmax`. One case has logits of +-50 at tau = 0.05,
    where exp((a + g) / tau) overflows: take the row maximum out first.
    """
    check = "check_gumbel_softmax"
    rng, results = _rng(40), []
    cases = [((1, 2), 1.0, 0.5, ""), ((4, 3), 1.0, 2.0, ""), ((16, 10), 2.0, 0.3, ""),
             ((5, 4, 6), 1.0, 0.7, " (N, M, K): the softmax is over the last axis"),
             ((6, 5), 50.0, 0.05, " (logits +-50 at tau = 0.05: exp overflows unless the row max is taken out)")]
    for shape, scale, tau, note in cases:
        a, g = _gumbel_inputs(rng, shape, scale)
        inputs = {"logits": a, "g": g, "tau": tau}
        got = _call(check, student_fn, {"logits": a.copy(), "g": g.copy(), "tau": tau})
        want = gumbel_softmax(a, g, tau)[0]
        with np.errstate(all="ignore"):
            mistakes = {
                "tau multiplied where it divides: softmax((log pi + g) * tau)": _softmax((a + g) * tau),
                "the noise added after the division: softmax(log pi / tau + g)": _softmax(a / tau + g),
                "the noise subtracted: softmax((log pi - g) / tau)": _softmax((a - g) / tau),
                "the temperature left out: softmax(log pi + g)": _softmax(a + g),
                "the Gumbel noise left out: softmax(log pi / tau) is not random": _softmax(a / tau),
                "log-softmax where the softmax belongs": _log_softmax((a + g) / tau),
                "the softmax taken over the first axis (the examples), not the K classes": _softmax((a + g) / tau, 0),
            }
        hint = "subtract max_k (a_k + g_k) before dividing by tau and taking exp (the softmax does not change)"
        results.append(_case(check, f"logits of shape {shape}, tau = {tau}{note}", [
            lambda: _finite_or_hint("y", got, want, hint) and _compare(check, "y", got, want, inputs, mistakes)]))
    return _report(check, results)


def check_gumbel_softmax_backward(student_fn):
    """``student_fn(dy, y, tau) -> dlogits``: the backward pass of y = softmax((log pi + g) / tau).

    dy = dL/dy and y (the relaxed sample) of shape (..., K), tau > 0; returns dL/dlogits of that
    shape, dlogits = y * (dy - <dy, y>) / tau with <dy, y> = sum_k dy_k y_k per row. Reference
    :func:`minivae.gumbel.gumbel_softmax_backward`.
    """
    check = "check_gumbel_softmax_backward"
    rng, results = _rng(41), []
    for shape, tau in (((1, 2), 0.5), ((4, 3), 2.0), ((16, 10), 0.3), ((5, 4, 6), 0.7)):
        a, g = _gumbel_inputs(rng, shape, 1.0)
        y, cache = gumbel_softmax(a, g, tau)
        dy = rng.standard_normal(shape)
        inputs = {"dy": dy, "y": y, "tau": tau}
        got = _call(check, student_fn, {"dy": dy.copy(), "y": y.copy(), "tau": tau})
        want = gumbel_softmax_backward(dy, cache)
        dot = (dy * y).sum(-1, keepdims=True)
        mistakes = {
            "the factor 1/tau left out (d s / d logits = 1/tau)": y * (dy - dot),
            "tau multiplied where it divides": y * (dy - dot) * tau,
            "the <dy, y> term left out (only the diagonal of the softmax's Jacobian)": y * dy / tau,
            "the softmax's Jacobian skipped: dy / tau": dy / tau,
            "a sign error": -want,
            "<dy, y> summed over every element, not over the K classes of each row": y * (dy - (dy * y).sum()) / tau,
        }
        results.append(_case(check, f"dy, y of shape {shape}, tau = {tau}", [
            lambda: _compare(check, "dlogits", got, want, inputs, mistakes)]))
    return _report(check, results)


# ----------------------------------------------------------- the KL term
def check_categorical_kl(student_fn):
    """``student_fn(logits) -> kl (N,)``: KL(q(z|x) || uniform) = sum_m sum_k q_mk log(K q_mk), q_m = softmax(logits_m).

    logits: (N, M, K), M categorical variables of K classes per example. Reference
    :func:`minivae.gumbel.categorical_kl`. One case has uniform logits (KL must be 0), one logits
    of size ~400, where exp(logits) overflows and q underflows to 0: 0 log 0 must count as 0
    (use log q = log_softmax(logits)).
    """
    check = "check_categorical_kl"
    rng, results = _rng(42), []
    cases = [((1, 1, 2), 1.0, ""), ((4, 3, 5), 1.0, ""), ((16, 20, 10), 2.0, " (the 20 x 10 code of the lesson)"),
             ((3, 2, 4), 0.0, " (uniform logits: KL must be 0)"),
             ((4, 3, 6), 400.0, " (logits of size ~400: exp overflows, q underflows to 0; 0 log 0 must count as 0)")]
    for shape, scale, note in cases:
        a = scale * rng.standard_normal(shape)
        inputs = {"logits": a}
        got = _call(check, student_fn, {"logits": a.copy()})
        want = categorical_kl(a)
        log_q, k = _log_softmax(a), shape[-1]
        q = np.exp(log_q)
        per_var = (q * (log_q + np.log(k))).sum(-1)                          # (N, M)
        mistakes = {
            "the reversed KL(uniform || q) = sum_k (1/K) log(1 / (K q_k))": (-(log_q + np.log(k)) / k).sum((-2, -1)),
            "log K left out: sum_k q log q is minus the entropy, not the KL": (q * log_q).sum((-2, -1)),
            "the logits used as log q (they are log q only up to a constant per variable)":
                (q * (a + np.log(k))).sum((-2, -1)),
            "a mean over the M variables instead of a sum": per_var.mean(-1),
            "a sign error": -per_var.sum(-1),
        }
        hint = "compute log q = logits - max - log sum_k exp(logits_k - max), so q = 0 gives 0 * (finite) = 0"
        results.append(_case(check, f"logits of shape {shape}{note}", [
            lambda: _finite_or_hint("kl", got, want, hint) and _compare(check, "kl", got, want, inputs, mistakes)]))
    return _report(check, results)


# ----------------------------------------------------- VQ-VAE's quantizer
def _compare_codes(got, want, z_e, codebook, mistakes):
    """Integer code indices against the reference: dtype, shape, then which rows differ."""
    inputs = {"z_e": z_e, "codebook": codebook}
    if got is None:
        print("  FAIL idx: your function returned None (forgot a return?)")
        return False
    got = np.asarray(got)
    if got.shape != want.shape:
        print(f"  FAIL idx: shape {got.shape}, expected {want.shape} (one index per row of z_e) on inputs "
              f"{_describe(inputs)}" + (" (argmin over the wrong axis?)" if got.size != want.size else ""))
        return False
    if got.dtype.kind not in "iu":
        print(f"  FAIL idx: dtype {got.dtype}, expected integer indices into the codebook (np.argmin gives them)")
        return False
    wrong = np.flatnonzero(got != want)
    if wrong.size == 0:
        return True
    r = int(wrong[0])
    yours, ref = int(got[r]), int(want[r])
    d2 = ((z_e[r] - codebook) ** 2).sum(-1)
    where = (f"code {yours} at squared distance {d2[yours]:.4g}" if 0 <= yours < len(codebook)
             else f"{yours}, not a code")
    print(f"  FAIL idx: {wrong.size} of {want.size} rows get another code on inputs {_describe(inputs)}")
    print(f"       first at row {r}: yours {where}, the nearest is code {ref} at squared distance {d2[ref]:.4g}")
    for label, bad in mistakes.items():
        if np.array_equal(got, bad) and not np.array_equal(bad, want):
            print(f"       hint: your indices match a common mistake: {label}")
            break
    return False


def check_nearest_codes(student_fn):
    """``student_fn(z_e, codebook) -> idx (R,)``: idx_r = argmin_k ||z_e_r - e_k||^2, integer indices.

    z_e: (R, D) encoder outputs, codebook: (K, D) codes e_k. Reference
    :func:`minivae.quantizer.nearest_codes` (its first output). The codes have different norms,
    so the largest dot product z . e_k is not the nearest code.
    """
    check = "check_nearest_codes"
    rng, results = _rng(43), []
    for r, d, k, note in ((1, 1, 2, ""), (10, 2, 4, ""), (200, 8, 64, " (the lesson's codebook size)"),
                          (30, 3, 8, " (each z_e a code plus a little noise)")):
        codebook = rng.standard_normal((k, d)) * rng.uniform(0.3, 3.0, (k, 1))   # codes of different norms
        if "noise" in note:
            z_e = codebook[rng.integers(0, k, r)] + 0.01 * rng.standard_normal((r, d))
        else:
            z_e = rng.standard_normal((r, d))
        got = _call(check, student_fn, {"z_e": z_e.copy(), "codebook": codebook.copy()})
        want = np.asarray(nearest_codes(z_e, codebook)[0])
        d2 = ((z_e[:, None, :] - codebook[None]) ** 2).sum(-1)                 # (R, K), small here
        dots = z_e @ codebook.T
        mistakes = {
            "argmax where argmin belongs (the farthest code)": d2.argmax(1),
            "the largest dot product z . e_k: the ||e_k||^2 term of the distance left out": dots.argmax(1),
            "+2 z . e_k where -2 z . e_k belongs in ||z - e||^2 = ||z||^2 - 2 z . e + ||e||^2":
                ((codebook ** 2).sum(1) + 2 * dots).argmin(1),
            "the L1 distance sum_d |z_d - e_d| in place of the squared Euclidean one":
                np.abs(z_e[:, None, :] - codebook[None]).sum(-1).argmin(1),
        }
        results.append(_case(check, f"z_e of shape {(r, d)}, codebook of shape {(k, d)}{note}", [
            lambda: _compare_codes(got, want, z_e, codebook, mistakes)]))
    return _report(check, results)
