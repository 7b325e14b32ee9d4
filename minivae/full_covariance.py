"""A full-covariance Gaussian posterior q(z|x) = N(mu, C C^T), forward and backward by hand.

HY-673 lecture 10 (slide "Changing the prior distribution", which lists it
among the richer distributions a VAE can use; here it is the posterior) writes
the sample as

    z = (L ⊙ L_mask + diag(sigma)) eps + mu,     eps ~ N(0, I),

with L_mask the mask that keeps the strictly lower triangle of L. Call the
factor C = L ⊙ L_mask + diag(sigma): it is lower triangular with a positive
diagonal sigma = exp(logvar / 2) (as everywhere in minivae, see
:mod:`minivae.reparam`), so z ~ N(mu, C C^T): C is the Cholesky factor of the
covariance, and every positive-definite covariance has one.

Per example the encoder predicts mu (M), logvar (M) and only the M(M-1)/2
entries the mask keeps, ``l_flat``, in ``tril_indices(M, -1)`` order (row by
row: L_10, L_20, L_21, L_30, ...). Shapes: mu, logvar (N, M); l_flat
(N, M(M-1)/2); eps (S, N, M) for S samples per example, or (N, M) for one.
With l_flat = 0 every function here reduces to the diagonal posterior of
:mod:`minivae.reparam` and :mod:`minivae.kl`.
"""
from __future__ import annotations

import functools
import operator

from .backend import array_module
from .errors import ConfigError, ShapeError
from .kl import kl_backward, kl_divergence
from .likelihoods import LOG_2PI
from .reparam import sigma_from_logvar


def tril_size(m):
    """M(M-1)/2: the number of strictly-lower entries of an M x M matrix (those L_mask keeps)."""
    if isinstance(m, bool):
        raise ConfigError(f"the latent size M must be a positive integer, got {m!r}")
    try:
        m = operator.index(m)
    except TypeError:
        raise ConfigError(f"the latent size M must be a positive integer, got {m!r}") from None
    if m < 1:
        raise ConfigError(f"the latent size M must be a positive integer, got {m!r}")
    return m * (m - 1) // 2


@functools.lru_cache(maxsize=32)
def _strict_lower(xp, m):
    """Flat positions i * M + j of the strictly-lower entries (i > j), in tril_indices(M, -1) order."""
    rows, cols = xp.tril_indices(m, -1)
    return rows * m + cols


def _by_rows(xp):
    """Copy L row block by row block (NumPy) rather than with one indexing kernel (GPU).

    In tril_indices order row i of C holds L_i0 .. L_i,i-1 = l_flat[:, i(i-1)/2 : i(i+1)/2]. On NumPy
    these M - 1 slice copies beat a fancy-index scatter or gather 3-7x once N M^2 passes ~50k
    (N = 128, M = 32: 0.08 ms against 0.27 ms); on a GPU one kernel beats M - 1 launches.
    """
    return xp.__name__ == "numpy"


def _scatter_lower(C, l_flat, by_rows):
    """C_ij = L_ij for i > j, in place: C (N, M, M), l_flat (N, M(M-1)/2) in tril_indices order."""
    n, m, _ = C.shape
    if by_rows:
        for i in range(1, m):
            C[:, i, :i] = l_flat[:, i * (i - 1) // 2:i * (i + 1) // 2]
    else:
        C.reshape(n, m * m)[:, _strict_lower(array_module(C), m)] = l_flat


def _gather_lower(dC, by_rows):
    """The strictly-lower entries of dC (N, M, M) in tril_indices order: (N, M(M-1)/2)."""
    xp, (n, m, _) = array_module(dC), dC.shape
    if not by_rows:
        return dC.reshape(n, m * m)[:, _strict_lower(xp, m)]
    out = xp.empty((n, tril_size(m)), dtype=dC.dtype)
    for i in range(1, m):
        out[:, i * (i - 1) // 2:i * (i + 1) // 2] = dC[:, i, :i]
    return out


def _shape(a):
    return tuple(getattr(a, "shape", ()))


def _check_factor(l_flat, logvar):
    """(N, M) of logvar (N, M), with l_flat (N, M(M-1)/2); ShapeError otherwise."""
    if len(_shape(logvar)) != 2 or 0 in _shape(logvar):
        raise ShapeError(f"logvar must have shape (N, M) with N, M >= 1, got {_shape(logvar)}")
    n, m = logvar.shape
    if _shape(l_flat) != (n, tril_size(m)):
        raise ShapeError(f"l_flat must have shape (N, M(M-1)/2) = {(n, tril_size(m))} for logvar of shape "
                         f"{(n, m)} (the strictly-lower entries of L, one row per example), got {_shape(l_flat)}")
    return n, m


def _check_posterior(mu, logvar, l_flat):
    """(N, M), checking mu and logvar (N, M) and l_flat (N, M(M-1)/2)."""
    n, m = _check_factor(l_flat, logvar)
    if _shape(mu) != (n, m):
        raise ShapeError(f"mu must have logvar's shape {(n, m)}, got {_shape(mu)}")
    return n, m


def _factor(l_flat, sigma):
    """C (N, M, M): zeros, the strictly-lower entries from l_flat and sigma on the diagonal."""
    xp = array_module(l_flat, sigma)
    n, m = sigma.shape
    C = xp.zeros((n, m, m), dtype=xp.result_type(l_flat, sigma))
    _scatter_lower(C, l_flat, _by_rows(xp))          # L ⊙ L_mask
    C.reshape(n, m * m)[:, ::m + 1] = sigma          # + diag(sigma), through a strided view of C
    return C


def lower_factor(l_flat, logvar):
    """C = L ⊙ L_mask + diag(sigma), sigma = exp(logvar / 2).

    l_flat: (N, M(M-1)/2) in tril_indices(M, -1) order; logvar: (N, M)
    -> C: (N, M, M), lower triangular (C_ij = 0 for j > i), C_jj = sigma_j.
    """
    _check_factor(l_flat, logvar)
    return _factor(l_flat, sigma_from_logvar(logvar))


def full_reparameterize(mu, logvar, l_flat, eps):
    """z = C eps + mu, one batched GEMM over the N examples.

    mu, logvar: (N, M); l_flat: (N, M(M-1)/2); eps: (S, N, M) (S samples
    per example) or (N, M). Returns z of eps's shape and the cache for
    :func:`full_reparameterize_backward`. For example n,

        [z_1n ... z_Sn] = C_n [eps_1n ... eps_Sn] + mu_n     # (M, S)

    The GEMM writes z through a transposed view of it, so z comes out
    contiguous (S, N, M) with no (S, N, M, M) temporary.
    """
    n, m = _check_posterior(mu, logvar, l_flat)
    if _shape(eps)[-2:] != (n, m) or len(_shape(eps)) not in (2, 3):
        raise ShapeError(f"eps must have shape (S, N, M) or (N, M) with (N, M) = {(n, m)}, got {_shape(eps)}")
    xp = array_module(mu, logvar, l_flat, eps)
    one = eps.ndim == 2
    eps3 = eps[None] if one else eps                                   # (S, N, M)
    sigma = sigma_from_logvar(logvar)
    C = _factor(l_flat, sigma)                                         # (N, M, M)
    z = xp.empty(eps3.shape, dtype=xp.result_type(C, eps3, mu))        # (S, N, M)
    xp.matmul(C, eps3.transpose(1, 2, 0), out=z.transpose(1, 2, 0))    # (N, M, S) = C eps^T
    z += mu
    return (z[0] if one else z), (sigma, eps3, one)


def full_reparameterize_backward(dz, cache):
    """Gradients of z_s = C eps_s + mu, summed over the S samples.

    With C = L ⊙ L_mask + diag(sigma) and sigma = exp(logvar / 2):

        dmu     = sum_s dz_s                                   (N, M)
        dC      = sum_s dz_s eps_s^T     (one batched GEMM;    (N, M, M)
                                          an outer product at S = 1)
        dl_flat = dC_ij for i > j, in tril_indices order       (N, M(M-1)/2)
        dlogvar = diag(dC) * sigma / 2                         (N, M)

    (dC's upper triangle multiplies the zeros of C, so it is dropped; dsigma_j
    = dC_jj and dsigma/dlogvar = sigma / 2.) dz: z's shape.
    """
    sigma, eps3, one = cache
    expected = eps3.shape[1:] if one else eps3.shape
    if _shape(dz) != expected:
        raise ShapeError(f"dz must have z's shape {expected}, got {_shape(dz)}")
    xp = array_module(dz, sigma, eps3)
    dz3 = dz[None] if one else dz                                      # (S, N, M)
    n, m = sigma.shape
    dmu = dz3.sum(axis=0)
    if dz3.shape[0] == 1:       # one sample: the outer product (NumPy's matmul is 2-4x slower at inner size 1)
        dC = dz3[0][:, :, None] * eps3[0][:, None, :]                  # (N, M, M) = dz eps^T
    else:
        dC = xp.matmul(dz3.transpose(1, 2, 0), eps3.transpose(1, 0, 2))  # (N, M, M) = sum_s dz_s eps_s^T
    dl_flat = _gather_lower(dC, _by_rows(xp))                          # dC_ij, i > j
    dlogvar = dC.reshape(n, m * m)[:, ::m + 1] * sigma * 0.5           # diag(dC) * sigma / 2
    return dmu, dlogvar, dl_flat


def full_log_q(eps, logvar):
    """log q(z|x) at z = C eps + mu:  -1/2 sum_j (eps_j^2 + logvar_j + log 2 pi).

    Change of variables from eps ~ N(0, I): log q(z) = log N(eps; 0, I) -
    log|det C|, and C is triangular, so its determinant is the product of its
    diagonal: log|det C| = sum_j log sigma_j = 1/2 sum_j logvar_j. L does not
    enter at all. eps: (S, N, M) or (N, M); logvar: (N, M) -> (S, N) or (N,).

    Gradient with eps held fixed (the reparameterized path): d/dlogvar_j = -1/2,
    and nothing for mu or L (z moves with them, eps does not).
    """
    if len(_shape(logvar)) != 2 or len(_shape(eps)) not in (2, 3) or _shape(eps)[-2:] != _shape(logvar):
        raise ShapeError(f"eps must have shape (S, N, M) or (N, M) and logvar (N, M) with the same (N, M), "
                         f"got eps {_shape(eps)} and logvar {_shape(logvar)}")
    m = logvar.shape[1]
    log_det = logvar.sum(axis=-1) + m * LOG_2PI                          # (N,): 2 log|det C| + M log 2 pi
    return -0.5 * ((eps * eps).sum(axis=-1) + log_det)


def full_kl(mu, logvar, l_flat):
    """KL(N(mu, C C^T) || N(0, I)) per example: (N, M), (N, M), (N, M(M-1)/2) -> (N,).

    For Gaussians in M dimensions,
        KL(N(mu, Sigma) || N(0, I)) = 1/2 (tr Sigma + ||mu||^2 - M - log det Sigma).
    With Sigma = C C^T:
      tr(C C^T) = sum_ij C_ij^2 = ||C||_F^2 = sum_j sigma_j^2 + sum_{i>j} L_ij^2,
      log det(C C^T) = 2 log|det C| = 2 sum_j log sigma_j = sum_j logvar_j
    (C triangular: its determinant is the product of its diagonal). Hence

        KL = 1/2 sum_j (mu_j^2 + exp(logvar_j) - logvar_j - 1) + 1/2 sum_{i>j} L_ij^2,

    the diagonal KL of :func:`minivae.kl.kl_divergence` (written with
    expm1(logvar) - logvar >= 0, so it never rounds below 0) plus half the
    squared norm of the off-diagonal entries. It is 0 only at mu = 0,
    logvar = 0, L = 0.
    """
    _check_posterior(mu, logvar, l_flat)
    return kl_divergence(mu, logvar) + 0.5 * (l_flat * l_flat).sum(axis=-1)


def full_kl_backward(dkl, mu, logvar, l_flat):
    """Gradient of :func:`full_kl`:

        dmu = dkl mu,   dlogvar = dkl (exp(logvar) - 1) / 2,   dl_flat = dkl L.

    dkl is dLoss/dKL: a scalar, (N,) or (N, 1) (a weight per example).
    Returns (dmu (N, M), dlogvar (N, M), dl_flat (N, M(M-1)/2)).
    """
    n, _ = _check_posterior(mu, logvar, l_flat)
    shape = _shape(dkl)
    if shape not in ((), (n,), (n, 1)):
        raise ShapeError(f"dkl must be a scalar, (N,) or (N, 1) with N = {n}, got shape {shape}")
    if shape == (n,):
        dkl = dkl[:, None]                                               # (N, 1): one weight per example
    dmu, dlogvar = kl_backward(dkl, mu, logvar)
    return dmu, dlogvar, dkl * l_flat
