"""Maximum mean discrepancy (MMD) between two samples, and its gradient, by hand.

InfoVAE / MMD-VAE (Zhao et al. 2017; HY-673 lecture 10, "Alternatives to KL
divergence": integral probability metrics such as the MMD) measures how far
the aggregate posterior q(z) is from the prior p(z) = N(0, I) by comparing
samples: z (N, M), one draw of q(z|x) per example of a batch, and z_p (P, M)
drawn from the prior. With a positive definite kernel k,

    MMD^2(q, p) = E k(z, z') + E k(z_p, z_p') - 2 E k(z, z_p)

is 0 exactly when q = p. The estimate replaces each expectation by a mean
over pairs of rows:

    unbiased:  1/(N(N-1)) sum_{i != j} k(z_i, z_j) + 1/(P(P-1)) sum_{p != q} k(zp_p, zp_q)
               - 2/(N P) sum_{i, p} k(z_i, zp_p)
    biased (V-statistic): the same with the diagonal pairs i = j, p = q kept and
               1/N^2, 1/P^2 instead; it is the squared RKHS distance of the two
               empirical mean embeddings, so it is >= 0.

Kernels, of the squared distance d = ||a - b||^2 and a bandwidth s (``scale``):

    rbf:  k = exp(-d / s),        dk/dd = -k / s
    imq:  k = s / (s + d),        dk/dd = -s / (s + d)^2 = -k^2 / s

Both derivatives are written through the kernel value k, like the activations.
Every squared distance comes from a GEMM, ||a - b||^2 = ||a||^2 + ||b||^2 - 2 a.b,
so nothing of shape (N, P, M) is ever built.
"""
from __future__ import annotations

import numpy

from .backend import array_module
from .errors import ConfigError, ShapeError, finite_number

KERNELS = ("rbf", "imq")


def _check_kernel(kernel):
    if kernel not in KERNELS:
        raise ConfigError(f"unknown MMD kernel {kernel!r}; expected one of {KERNELS}")


def kernel_scale(latent_dim, kernel):
    """The default bandwidth s = 2 M sigma_p^2, sigma_p^2 = 1 (the prior N(0, I)).

    Where it comes from: for two independent draws a, b of N(0, sigma_p^2 I_M),
    E ||a - b||^2 = 2 M sigma_p^2, so s is the typical squared distance between
    prior samples and the kernel is neither saturated (k ~ 1 everywhere) nor
    vanishing (k ~ 0 off the diagonal). Tolstikhin et al. 2018 (Wasserstein
    auto-encoders) use C = 2 d_z sigma_z^2 for the IMQ kernel C / (C + d); the
    same value is the usual choice of 2 sigma^2 for the RBF kernel.
    latent_dim: M, a positive int; kernel: one of KERNELS. Returns a float.
    """
    _check_kernel(kernel)
    if isinstance(latent_dim, bool) or not isinstance(latent_dim, (int, numpy.integer)) or latent_dim < 1:
        raise ConfigError(f"latent_dim must be a positive int, got {latent_dim!r}")
    sigma_p2 = 1.0
    return 2.0 * int(latent_dim) * sigma_p2


def _check_samples(z, z_prior, unbiased):
    """Both 2-D float arrays with the same M and enough rows; z_prior in z's dtype."""
    xp = array_module(z, z_prior)
    z, z_prior = xp.asarray(z), xp.asarray(z_prior)
    for name, a in (("z", z), ("z_prior", z_prior)):
        if a.ndim != 2:
            raise ShapeError(f"{name} must be 2-D (rows, latent_dim), got shape {a.shape}")
        if a.shape[0] < 1 or a.shape[1] < 1:
            raise ShapeError(f"{name} needs at least one row and one column, got shape {a.shape}")
    if z.shape[1] != z_prior.shape[1]:
        raise ShapeError(f"z and z_prior must have the same latent_dim M, got z {z.shape} and "
                         f"z_prior {z_prior.shape}")
    if z.dtype not in (numpy.float32, numpy.float64):
        raise ConfigError(f"z must be a float32 or float64 array, got dtype {z.dtype}")
    if unbiased and (z.shape[0] < 2 or z_prior.shape[0] < 2):
        raise ConfigError(f"the unbiased MMD needs >= 2 rows in z and in z_prior (it averages over pairs "
                          f"i != j), got {z.shape[0]} and {z_prior.shape[0]}; pass unbiased=False for fewer")
    return xp, z, xp.asarray(z_prior, dtype=z.dtype)


def squared_distances(gram, sq_a, sq_b):
    """D_ij = max(0, ||a_i||^2 + ||b_j||^2 - 2 a_i.b_j), written into ``gram`` = a @ b.T (N, P).

    sq_a (N,), sq_b (P,) are the squared row norms. Taken from the diagonals of
    the Gram matrices a @ a.T and b @ b.T, they make D_ii = g + g - 2g = 0
    exactly for a point and itself. The clamp removes rounding below 0.
    Returns ``gram``, overwritten.
    """
    xp = array_module(gram)
    gram *= -2.0
    gram += sq_a[:, None]
    gram += sq_b[None, :]
    return xp.maximum(gram, 0, out=gram)


def kernel_from_distances(d2, kernel, scale):
    """k(d) elementwise, in place on d2: rbf exp(-d / s), imq s / (s + d). Returns d2, overwritten."""
    xp = array_module(d2)
    if kernel == "rbf":
        d2 *= -1.0 / scale
        return xp.exp(d2, out=d2)
    d2 += scale
    return xp.divide(scale, d2, out=d2)


def mmd(z, z_prior, kernel="imq", scale=None, unbiased=True):
    """MMD^2 estimate between the rows of z (N, M) and z_prior (P, M).

    rbf: k(a, b) = exp(-||a - b||^2 / scale);  imq: k(a, b) = scale / (scale + ||a - b||^2).
    unbiased=True drops the diagonal terms of the two within-sample sums (divide by
    N(N-1), P(P-1)); biased: V-statistic (divide by N^2, P^2), which is >= 0. The
    cross term is -2/(N P) sum_{i,p} k(z_i, zp_p) in both.
    scale: the bandwidth s > 0; None: kernel_scale(M, kernel) = 2 M.
    z_prior is read in z's dtype; the result has z's dtype and array module.
    Returns (value as a 0-d array, cache for mmd_backward).
    Three GEMMs (z z^T, z zp^T, zp zp^T); the kernel matrices (N, N), (N, P),
    (P, P) are the only large temporaries, built in place.
    """
    _check_kernel(kernel)
    xp, z, z_prior = _check_samples(z, z_prior, unbiased)
    N, M = z.shape
    P = z_prior.shape[0]
    s = kernel_scale(M, kernel) if scale is None else finite_number("scale", scale, "> 0", ok=lambda v: v > 0)

    K_zz = z @ z.T                                     # (N, N) Gram, then distances, then kernel
    K_pp = z_prior @ z_prior.T                         # (P, P)
    K_zp = z @ z_prior.T                               # (N, P)
    sq_z, sq_p = xp.diagonal(K_zz).copy(), xp.diagonal(K_pp).copy()
    for K, sq_a, sq_b in ((K_zz, sq_z, sq_z), (K_pp, sq_p, sq_p), (K_zp, sq_z, sq_p)):
        kernel_from_distances(squared_distances(K, sq_a, sq_b), kernel, s)
    if unbiased:
        xp.fill_diagonal(K_zz, 0)                      # pairs i != j only
        xp.fill_diagonal(K_pp, 0)
        c_zz, c_pp = 1.0 / (N * (N - 1)), 1.0 / (P * (P - 1))
    else:
        c_zz, c_pp = 1.0 / (N * N), 1.0 / (P * P)
    c_zp = 1.0 / (N * P)
    value = c_zz * K_zz.sum() + c_pp * K_pp.sum() - 2.0 * c_zp * K_zp.sum()
    cache = dict(z=z, z_prior=z_prior, K_zz=K_zz, K_zp=K_zp, kernel=kernel, scale=s, c_zz=c_zz, c_zp=c_zp)
    return xp.asarray(value, dtype=z.dtype), cache


def mmd_backward(dmmd, cache):
    """dL/dz (N, M) for dmmd = dL/dMMD^2 (a float or a 0-d array). z_prior gets no gradient.

    z_prior is a sample of the fixed prior p(z) = N(0, I): nothing upstream of it learns.
    Write d_ij = ||z_i - z_j||^2, e_ip = ||z_i - zp_p||^2, k' = dk/dd (through k, see the
    module docstring), and G_ij = k'(d_ij) (N, N; 0 on the diagonal when unbiased),
    H_ip = k'(e_ip) (N, P). With dd_ij/dz_i = 2 (z_i - z_j) and dd_ij/dz_j = 2 (z_j - z_i):

      within z:  d/dz_a [c_zz sum_{i,j} k(d_ij)]
                   = c_zz [sum_j G_aj 2 (z_a - z_j) + sum_i G_ia 2 (z_a - z_i)]
                   = 4 c_zz sum_j G_aj (z_a - z_j)            (G symmetric: each pair counted twice)
                   = 4 c_zz (rowsum(G)_a z_a - (G z)_a)
      cross:     d/dz_a [-2 c_zp sum_{i,p} k(e_ip)] = -4 c_zp (rowsum(H)_a z_a - (H zp)_a)
      prior:     0

    A diagonal pair contributes G_aa (z_a - z_a) = 0, so biased and unbiased share
    the formula; only c_zz = 1/(N(N-1)) or 1/N^2 differs. With W_zz = 4 dmmd c_zz G,
    W_zp = 4 dmmd c_zp H:

      dz = (rowsum(W_zz) - rowsum(W_zp)) z - W_zz @ z + W_zp @ zp     (two GEMMs)

    The cache is read, never written: backward may be called again.
    """
    z, z_prior, K_zz, K_zp = cache["z"], cache["z_prior"], cache["K_zz"], cache["K_zp"]
    xp = array_module(z)
    if numpy.ndim(dmmd) != 0:
        raise ShapeError(f"dmmd must be a scalar (dL/dMMD^2), got shape {numpy.shape(dmmd)}")
    dmmd = xp.asarray(dmmd, dtype=z.dtype)
    s = cache["scale"]
    # k' through k: rbf -k / s, imq -k^2 / s; the factor 4 dmmd c folded in
    if cache["kernel"] == "rbf":
        W_zz, W_zp = K_zz * (-4.0 * cache["c_zz"] / s), K_zp * (-4.0 * cache["c_zp"] / s)
    else:
        W_zz, W_zp = K_zz * K_zz, K_zp * K_zp
        W_zz *= -4.0 * cache["c_zz"] / s
        W_zp *= -4.0 * cache["c_zp"] / s
    W_zz *= dmmd
    W_zp *= dmmd
    r = W_zz.sum(axis=1) - W_zp.sum(axis=1)            # (N,)
    dz = W_zp @ z_prior                                # (N, M)
    dz -= W_zz @ z
    dz += r[:, None] * z
    return dz
