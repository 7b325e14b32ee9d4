"""Checks of lesson 18 (changing the loss): the MMD^2 estimate and the split of the KL term.

    E_x KL(q(z|x) || p(z)) = I_q(x; z) + KL(q(z) || p(z)),   q(z) = 1/N sum_n q(z|x_n)

(HY-673 lecture 10, "Changing the loss": the beta-VAE's beta KL, InfoVAE's alpha I(x, z)).
References: :func:`minivae.mmd.mmd` (unbiased) for the MMD, and :func:`kl_decomposition`
below, whose first output is the estimator of :meth:`minivae.VAE.mutual_information`.
"""
from __future__ import annotations

import math

import numpy as np

from ..errors import DataError, ShapeError
from ..likelihoods import LOG_2PI
from ..mixture import mixture_log_prob
from ..mmd import kernel_scale, mmd
from .compare import _call, _call_for, _case, _compare, _report, _rng


# -------------------------------------------------------------- the reference
def kl_decomposition(mu, logvar, eps):
    """One-sample estimates of I_q(x; z) and KL(q(z) || p(z)) for N diagonal Gaussian posteriors.

    mu, logvar, eps: (N, M); z_n = mu_n + sigma_n eps_n ~ q(z|x_n), sigma = exp(logvar / 2);
    q(z) = 1/N sum_n N(z; mu_n, diag(sigma_n^2)) (the aggregate posterior of the N images),
    p(z) = N(0, I). With log q(z_n|x_n) = -1/2 sum_m (eps_nm^2 + logvar_nm + log 2 pi):

        I_hat  = 1/N sum_n [log q(z_n|x_n) - log q(z_n)]      (<= log N: q(z_n) >= q(z_n|x_n) / N)
        KL_hat = 1/N sum_n [log q(z_n) - log p(z_n)]

    Their sum is the one-sample estimate of E_x KL(q(z|x) || p(z)), node by node.
    Returns (I_hat, KL_hat) as floats, computed in float64.
    """
    mu, logvar, eps = (np.asarray(a, dtype=np.float64) for a in (mu, logvar, eps))
    if mu.ndim != 2 or mu.shape[0] < 1 or mu.shape[1] < 1 or logvar.shape != mu.shape or eps.shape != mu.shape:
        raise ShapeError(f"mu, logvar and eps must share one shape (N, M) with N, M >= 1, got "
                         f"{mu.shape}, {logvar.shape}, {eps.shape}")
    if not (np.isfinite(mu).all() and np.isfinite(logvar).all() and np.isfinite(eps).all()):
        raise DataError("mu, logvar and eps must be finite")
    n = mu.shape[0]
    z = mu + np.exp(0.5 * logvar) * eps                                          # (N, M)
    log_q_zx = -0.5 * (eps * eps + logvar + LOG_2PI).sum(axis=1)                 # log q(z_n|x_n)
    log_q_z = mixture_log_prob(z, mu, logvar, np.full(n, -math.log(n)))[0]       # log q(z_n)
    log_p_z = -0.5 * (z * z + LOG_2PI).sum(axis=1)                               # log p(z_n)
    return float((log_q_zx - log_q_z).mean()), float((log_q_z - log_p_z).mean())


# ------------------------------------------------------------ lesson 18: MMD
def _kernel(d2, kernel, s):
    return np.exp(-d2 / s) if kernel == "rbf" else s / (s + d2)


def _mmd_mistakes(z, zp, kernel, s):
    """MMD^2 as the common mistakes compute it (broadcast (N, P, M): small inputs only)."""
    n, p = len(z), len(zp)
    pairs = {"zz": (z, z), "pp": (zp, zp), "zp": (z, zp)}
    d = {k: ((a[:, None] - b[None]) ** 2).sum(-1) for k, (a, b) in pairs.items()}          # squared distances of every pair of rows
    K = {k: _kernel(v, kernel, s) for k, v in d.items()}
    off_zz, off_pp = K["zz"].sum() - np.trace(K["zz"]), K["pp"].sum() - np.trace(K["pp"])
    u_zz, u_pp = off_zz / (n * (n - 1)), off_pp / (p * (p - 1))
    value = u_zz + u_pp - 2 * K["zp"].mean()
    Kr = {k: _kernel(np.sqrt(v), kernel, s) for k, v in d.items()}
    out = {
        "the biased V-statistic: the pairs i = j kept in the within-sample sums (divided by N^2, P^2)":
            float(mmd(z, zp, kernel, s, unbiased=False)[0]),
        "the pairs i = j dropped but the within-sample sums still divided by N^2 and P^2 (not N(N-1), P(P-1))":
            off_zz / n ** 2 + off_pp / p ** 2 - 2 * K["zp"].mean(),
        "the cross term without its factor 2": u_zz + u_pp - K["zp"].mean(),
        "the within-prior term E k(z_p, z_p') left out": u_zz - 2 * K["zp"].mean(),
        "the cross term averaged over N^2 pairs instead of N P": u_zz + u_pp - 2 * K["zp"].sum() / n ** 2,
        "||a - b|| where its square ||a - b||^2 belongs in the kernel":
            (Kr["zz"].sum() - n) / (n * (n - 1)) + (Kr["pp"].sum() - p) / (p * (p - 1)) - 2 * Kr["zp"].mean(),
        "MMD (its square root) where MMD^2 belongs": math.sqrt(abs(value)),
    }
    if kernel == "rbf":
        out["exp(-d / (2 s)): the bandwidth s read as a variance sigma^2"] = \
            float(mmd(z, zp, kernel, 2 * s, unbiased=True)[0])
    else:
        out["1 / (s + d): the numerator s of the IMQ kernel s / (s + d) left out"] = value / s
    return out


def check_mmd(student_fn):
    """``student_fn(z, z_prior, kernel, scale) -> MMD^2`` (a float): the unbiased estimate

        1/(N(N-1)) sum_{i != j} k(z_i, z_j) + 1/(P(P-1)) sum_{p != q} k(zp_p, zp_q) - 2/(N P) sum_{i,p} k(z_i, zp_p)

    for z (N, M), z_prior (P, M), kernel "rbf" k = exp(-||a - b||^2 / s) or "imq"
    k = s / (s + ||a - b||^2), scale s > 0. Reference :func:`minivae.mmd.mmd` (unbiased=True).
    Cases: the smallest samples (N = P = 2), N != P, both kernels at the default bandwidth 2M,
    a narrow kernel, two well-separated samples, and the same sample twice.
    """
    check = "check_mmd"
    rng, results = _rng(23), []
    cases = [((2, 2, 1), "rbf", None, None), ((5, 7, 3), "imq", None, None), ((16, 16, 8), "rbf", None, None),
             ((16, 16, 8), "imq", None, None), ((12, 9, 4), "rbf", 0.5, None), ((10, 10, 2), "imq", 3.0, "shifted"),
             ((8, 8, 3), "rbf", None, "same")]
    for (n, p, m), kernel, scale, special in cases:
        s = kernel_scale(m, kernel) if scale is None else scale
        zp = rng.standard_normal((p, m))
        z = zp.copy() if special == "same" else rng.standard_normal((n, m)) + (2.0 if special == "shifted" else 0.0)
        got = _call(check, student_fn, {"z": z.copy(), "z_prior": zp.copy(), "kernel": kernel, "scale": s})
        want = float(mmd(z, zp, kernel, s, unbiased=True)[0])
        title = {None: f"z ~ N(0, I) of shape {z.shape}, z_prior of shape {zp.shape}",
                 "shifted": f"z ~ N(2, I) of shape {z.shape} against z_prior ~ N(0, I) of shape {zp.shape}",
                 "same": f"z_prior = z, shape {z.shape} (the unbiased estimate is negative, the biased one 0)"}[special]
        inputs = {"z": z, "z_prior": zp, "scale": s}
        mistakes = _mmd_mistakes(z, zp, kernel, s)
        results.append(_case(check, f"{title}, kernel {kernel!r}, scale {s:g}", [
            lambda: _compare(check, "MMD^2", got, want, inputs, mistakes)]))
    return _report(check, results)


# --------------------------------------------- lesson 18: the KL's two parts
def _decomposition_inputs(rng, shape, special=None):
    """mu, logvar, eps (N, M); "prior": q(z|x) = p(z); "identical": one posterior for every x;
    "separated": means 40 apart, sigma = e^-1/2, so each z_n is told apart from the others (I ~ log N)."""
    mu, logvar, eps = rng.standard_normal(shape), rng.uniform(-2.0, 1.0, shape), rng.standard_normal(shape)
    if special == "prior":
        mu, logvar = np.zeros(shape), np.zeros(shape)
    elif special == "identical":
        mu, logvar = np.repeat(mu[:1], shape[0], 0), np.repeat(logvar[:1], shape[0], 0)
    elif special == "separated":
        mu, logvar = 40.0 * np.arange(shape[0])[:, None] * np.ones(shape), np.full(shape, -1.0)
    return mu, logvar, eps


def _decomposition_mistakes(mu, logvar, eps):
    """(mistakes for I, mistakes for KL(q(z) || p(z))) as the common mistakes compute them."""
    n = len(mu)
    mi, kl = kl_decomposition(mu, logvar, eps)
    half = kl_decomposition(mu, logvar / 2, eps * np.exp(logvar / 4))       # same z, log sigma for log sigma^2
    z = mu + np.exp(logvar / 2) * eps
    kl_closed = float((0.5 * (mu ** 2 + np.exp(logvar) - logvar - 1)).sum(1).mean())
    sq_z = mi + float(0.5 * (eps * eps - z * z).sum(1).mean())               # z^2 where eps^2 belongs in log q(z|x)
    mi_m = {"log q(z) = log sum_n q(z|x_n): the mixture's weights 1/N left out": mi - math.log(n),
            "log sigma (logvar / 2) where log sigma^2 belongs in the Gaussian densities": half[0],
            "z^2 where eps^2 belongs in log q(z|x) = -1/2 sum (eps^2 + logvar + log 2 pi)": sq_z,
            "the two outputs swapped (I first, then KL(q(z) || p(z)))": kl,
            "the closed-form E_x KL(q(z|x) || p(z)) returned for I": kl_closed,
            "a sum over the N examples where their mean belongs": n * mi}
    kl_m = {"log q(z) = log sum_n q(z|x_n): the mixture's weights 1/N left out": kl + math.log(n),
            "log sigma (logvar / 2) where log sigma^2 belongs in the Gaussian densities": half[1],
            "the two outputs swapped (I first, then KL(q(z) || p(z)))": mi,
            "the closed-form E_x KL(q(z|x) || p(z)) returned, not the aggregate posterior's KL(q(z) || p(z))":
                kl_closed,
            "a sign error: E[log p(z) - log q(z)]": -kl,
            "a sum over the N examples where their mean belongs": n * kl}
    return mi_m, kl_m


def check_kl_decomposition(student_fn):
    """``student_fn(mu, logvar, eps) -> (I, KL_agg)``: one-sample estimates, with z_n = mu_n + sigma_n eps_n and
    the aggregate posterior q(z) = 1/N sum_n q(z|x_n), of

        I      = 1/N sum_n [log q(z_n|x_n) - log q(z_n)]   (the mutual information I_q(x; z))
        KL_agg = 1/N sum_n [log q(z_n) - log p(z_n)]       (KL(q(z) || p(z)), p = N(0, I))

    for mu, logvar, eps of shape (N, M). Reference :func:`kl_decomposition` (its I is the estimator of
    :meth:`minivae.VAE.mutual_information`). Cases: random shapes, q(z|x) = p(z) (both 0), one posterior
    for every x (I = 0), and well-separated posteriors (I = log N).
    """
    check = "check_kl_decomposition"
    rng, results = _rng(24), []
    cases = [((2, 1), None), ((8, 2), None), ((64, 4), None), ((200, 16), None),
             ((6, 3), "prior"), ((10, 2), "identical"), ((12, 2), "separated")]
    for shape, special in cases:
        mu, logvar, eps = _decomposition_inputs(rng, shape, special)
        inputs = {"mu": mu, "logvar": logvar, "eps": eps}
        if (got := _call_for(check, student_fn, inputs, 2, results)) is None:
            continue
        mi, kl = kl_decomposition(mu, logvar, eps)
        mi_m, kl_m = _decomposition_mistakes(mu, logvar, eps)
        title = {None: f"mu, logvar, eps of shape {shape}",
                 "prior": f"shape {shape}, mu = 0, logvar = 0: q(z|x) = q(z) = p(z), both outputs must be 0",
                 "identical": f"shape {shape}, one posterior for every x: q(z|x) = q(z), I must be 0",
                 "separated": f"shape {shape}, means 40 apart, sigma^2 = e^-1: I must be log N = "
                              f"{math.log(shape[0]):.4f}"}[special]
        results.append(_case(check, title, [
            lambda: _compare(check, "I (the mutual information)", got[0], mi, inputs, mi_m),
            lambda: _compare(check, "KL(q(z) || p(z))", got[1], kl, inputs, kl_m)]))
    return _report(check, results)
