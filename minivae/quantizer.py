"""The vector quantizer of VQ-VAE (van den Oord et al. 2017), forward and backward by hand: pure math.

A codebook of K vectors e_k in R^D (``codebook``, (K, D)). Each row z_e_r of
the encoder's output (R, D) (R = N G: G code positions per example) is
replaced by its nearest codebook vector,

    idx_r = argmin_k ||z_e_r - e_k||^2,      z_q_r = e_{idx_r}.

The losses (sg = stop-gradient, the identity forward and zero backward):

    codebook loss     ||sg[z_e] - e||^2      moves the chosen codes toward the encoder outputs
    commitment loss   ||z_e - sg[e]||^2      keeps the encoder near its codes (weighted by beta)

both summed over the G positions and the D coordinates of an example (the
model averages them over the N examples). The argmin is piecewise constant,
so dL/dz_e through z_q is zero almost everywhere: VQ-VAE trains the encoder
with the straight-through estimator instead, dz_e := dz_q (+ the commitment
gradient), a surrogate, not the gradient of the loss.

Also here: code usage and its perplexity, the rows an init or a restart
takes, and sampling codes from an empirical prior. Arrays come from any
backend (:func:`minivae.backend.array_module`).
"""
from __future__ import annotations

import numpy

from .backend import array_module
from .errors import DataError, ShapeError


def _check_pair(z_e, codebook):
    if getattr(z_e, "ndim", 0) != 2 or getattr(codebook, "ndim", 0) != 2 or z_e.shape[1] != codebook.shape[1]:
        raise ShapeError(f"z_e must be (R, D) and codebook (K, D) with the same D, got {tuple(z_e.shape)} and "
                         f"{tuple(codebook.shape)}")
    if codebook.shape[0] == 0:
        raise ShapeError("the codebook is empty: expected (K, D) with K >= 1")


def nearest_codes(z_e, codebook, work=None):
    """idx_r = argmin_k ||z_e_r - e_k||^2 and d2_min_r = ||z_e_r - e_{idx_r}||^2.

    The distances come from one GEMM: ||z - e_k||^2 = ||z||^2 - 2 z . e_k + ||e_k||^2,
    and ||z||^2 is the same for every k, so idx = argmin_k (||e_k||^2 - 2 z e^T)_k;
    no (R, K, D) temporary. Ties go to the smallest k. d2_min is computed
    exactly from the chosen rows (no cancellation).
    z_e: (R, D), codebook: (K, D) -> idx: (R,) int64, d2_min: (R,).
    ``work``: an (R, K) scratch array of z_e's dtype (allocated when None).
    """
    _check_pair(z_e, codebook)
    xp = array_module(z_e, codebook)
    scores = xp.matmul(z_e, codebook.T, out=work)            # (R, K): z . e_k
    scores *= -2
    scores += xp.einsum("kd,kd->k", codebook, codebook)      # + ||e_k||^2
    idx = xp.argmin(scores, axis=1)                          # (R,)
    diff = z_e - xp.take(codebook, idx, axis=0)
    return idx, xp.einsum("rd,rd->r", diff, diff)


def quantize(z_e, codebook, out=None, work=None):
    """(z_q, idx): z_q_r = e_{idx_r}, the nearest codebook vector of each row.

    z_e: (R, D), codebook: (K, D) -> z_q: (R, D) (into ``out`` if given), idx: (R,).
    """
    idx, _ = nearest_codes(z_e, codebook, work)
    return array_module(codebook).take(codebook, idx, axis=0, out=out), idx


def vq_losses(z_e, z_q):
    """(codebook_loss, commitment_loss) per example, before beta:

        codebook_n = sum_{g,d} (sg[z_e] - z_q)^2,    commitment_n = sum_{g,d} (z_e - sg[z_q])^2

    equal in value (a stop-gradient changes only the gradients), so the one
    array is returned twice: do not write into it. z_e, z_q: (N, ...) of the
    same shape -> (N,), (N,) (a 2-D (R, D) input gives one value per row).
    """
    if z_e.shape != z_q.shape or z_e.ndim < 2:
        raise ShapeError(f"z_e and z_q must have the same shape (N, ..., D), got {z_e.shape} and {z_q.shape}")
    xp = array_module(z_e, z_q)
    diff = (z_e - z_q).reshape(z_e.shape[0], -1)
    sq = xp.einsum("nj,nj->n", diff, diff)
    return sq, sq


def vq_backward(dz_q, z_e, z_q, idx, codebook_size, beta, scale, dz_e=None, dcodebook=None, work=None):
    """The gradients of L = recon(z_q) + scale sum_r [ ||sg[z_e_r] - e_{idx_r}||^2 + beta ||z_e_r - sg[z_q_r]||^2 ].

        dz_e      = dz_q + 2 beta scale (z_e - z_q)               (straight-through: a surrogate)
        dcodebook = 2 scale onehot(idx)^T (z_q - z_e)            (the codebook loss only; one GEMM)

    i.e. dL/de_k = 2 scale sum_{r: idx_r = k} (e_k - z_e_r): the scatter-add
    over the chosen indices as an (K, R) @ (R, D) product. The decoder's
    gradient dz_q reaches the encoder unchanged; the codebook gets none of it.
    dz_q, z_e, z_q: (R, D); idx: (R,) in [0, K); scale: 1/N of the batch mean.
    Returns (dz_e (R, D), dcodebook (K, D)), into ``dz_e``/``dcodebook`` when
    given; ``work``: a (K, R) scratch array for the one-hot matrix. dz_q is not modified.
    """
    if not (dz_q.shape == z_e.shape == z_q.shape) or z_e.ndim != 2 or idx.shape != z_e.shape[:1]:
        raise ShapeError(f"vq_backward needs dz_q, z_e, z_q of one shape (R, D) and idx (R,), got {dz_q.shape}, "
                         f"{z_e.shape}, {z_q.shape} and {idx.shape}")
    xp = array_module(dz_q, z_e)
    r, d = z_e.shape
    diff = xp.subtract(z_q, z_e)                              # (R, D): z_q - z_e
    onehot_t = work if work is not None else xp.empty((codebook_size, r), dtype=z_e.dtype)
    onehot_t.fill(0)
    onehot_t[idx, xp.arange(r)] = 1                           # (K, R): onehot(idx)^T
    dcodebook = xp.matmul(onehot_t, diff, out=dcodebook)      # (K, D)
    dcodebook *= z_e.dtype.type(2 * scale)
    diff *= z_e.dtype.type(-2 * beta * scale)                 # 2 beta scale (z_e - z_q)
    dz_e = xp.add(dz_q, diff, out=dz_e)
    return dz_e, dcodebook


def check_codes(idx, positions, codebook_size):
    """idx itself if it is an (N, positions) integer array with values in [0, codebook_size), N >= 1;
    else ShapeError / DataError saying what was expected (two host reads: min and max)."""
    if idx.ndim != 2 or idx.shape[1] != positions or idx.shape[0] == 0:
        raise ShapeError(f"codes must have shape (N, {positions}) (one index per position), got {idx.shape}")
    if idx.dtype.kind not in "iu":
        raise DataError(f"codes must be integers in [0, {codebook_size}), got dtype {idx.dtype}")
    lo, hi = int(idx.min()), int(idx.max())
    if lo < 0 or hi >= codebook_size:
        raise DataError(f"codes must be in [0, {codebook_size}), got values in [{lo}, {hi}]")
    return idx


def code_usage(idx, codebook_size):
    """counts_k = #{r : idx_r = k}, (K,) int64, for indices idx (any shape) in [0, K)."""
    xp = array_module(idx)
    if idx.dtype.kind not in "iu":
        raise DataError(f"code indices must be integers in [0, {codebook_size}), got dtype {idx.dtype}")
    try:
        counts = xp.bincount(idx.reshape(-1), minlength=codebook_size)
    except ValueError:                                        # a negative index
        raise DataError(f"code indices must be in [0, {codebook_size}), got a negative one") from None
    if counts.shape[0] != codebook_size:
        raise DataError(f"code indices must be in [0, {codebook_size}), got one as large as {counts.shape[0] - 1}")
    return counts


def perplexity(counts, check=True):
    """exp(H(p)) of the empirical code distribution p = counts / sum(counts), H(p) = -sum_k p_k log p_k.

    (0 log 0 = 0.) K for uniform usage of K codes, 1 for a single code.
    counts: (K,) non-negative -> a 0-d float64 array. ``check``: DataError
    for counts that sum to 0 (a host read; a training step, whose counts sum
    to R > 0, skips it).
    """
    xp = array_module(counts)
    total = counts.sum(dtype="float64")
    if check and not bool(total > 0):
        raise DataError("perplexity needs at least one counted code: the counts sum to 0")
    p = counts / total
    return xp.exp(-(p * xp.log(xp.where(p > 0, p, 1))).sum())


def usage_stats(counts):
    """Codebook usage from counts (K,): ``{"usage", "perplexity", "dead_codes" (#k with counts_k = 0),
    "dead_fraction" (dead_codes / K)}``, perplexity and fraction as floats."""
    dead = int((counts == 0).sum())
    return {"usage": counts, "perplexity": float(perplexity(counts)), "dead_codes": dead,
            "dead_fraction": dead / counts.shape[0]}


def replacement_rows(u, n):
    """n rows out of R to copy into the codebook: distinct rows in the random order argsort(u), cycled when n > R.

    u: (R,) uniform draws (the caller's generator: the rule is deterministic
    given them) -> (n,) int64 row indices.
    """
    xp = array_module(u)
    order = xp.argsort(u)
    return order[xp.arange(n) % u.shape[0]]


def position_counts(idx, codebook_size):
    """counts_{g,k} = #{n : idx_{n,g} = k}: the code histogram of each position, (G, K), by one bincount.

    idx: (N, G) integers in [0, K) -> (G, K) int64.
    """
    xp = array_module(idx)
    g = idx.shape[1]
    offset = xp.arange(g, dtype=idx.dtype) * codebook_size    # position g counts into bins g K .. g K + K - 1
    return code_usage(idx + offset, g * codebook_size).reshape(g, codebook_size)


def sample_codes(probs, u):
    """idx_{n,g} ~ Categorical(probs_g), independently, by inversion of the CDF:

        idx_{n,g} = #{k : F_{g,k} <= u_{n,g}},   F_{g,k} = sum_{j<=k} p_{g,j} / sum_j p_{g,j}

    so P(idx = k) = F_k - F_{k-1} and a code of probability 0 is never drawn.
    probs: (G, K) non-negative, each row with a positive sum; u: (n, G) in
    [0, 1) -> (n, G) int64. Uses an (n, G, K) comparison (sampling only).
    """
    xp = array_module(probs, u)
    if probs.ndim != 2 or u.ndim != 2 or u.shape[1] != probs.shape[0]:
        raise ShapeError(f"sample_codes needs probs (G, K) and u (n, G), got {probs.shape} and {u.shape}")
    cdf = xp.cumsum(probs, axis=1, dtype="float64")
    if not bool((cdf[:, -1] > 0).all()):
        raise DataError("sample_codes: every position needs a positive total probability (fit the prior first)")
    cdf /= cdf[:, -1:]                                        # the last entry exactly 1 > u
    return (cdf[None, :, :] <= u[:, :, None]).sum(axis=2).astype(numpy.int64)
