"""The Fréchet distance between two Gaussians, with NumPy only (Heusel et al. 2017, "FID").

For N(mu1, C1) and N(mu2, C2) in R^d, the squared 2-Wasserstein (Fréchet) distance is

    d^2 = ||mu1 - mu2||^2 + Tr(C1 + C2 - 2 (C1 C2)^{1/2}).

C1 C2 is not symmetric, but it is similar to a symmetric PSD matrix:
with S = C1^{1/2} (symmetric PSD),

    C1 C2 = S (S C2 S) S^{-1},   so   Tr((C1 C2)^{1/2}) = Tr((S C2 S)^{1/2}) = sum_i sqrt(lambda_i),

lambda_i the eigenvalues of M = S C2 S (symmetric PSD, :func:`numpy.linalg.eigh`,
round-off negatives clipped at 0). S itself is V diag(sqrt(w)) V^T from
C1 = V diag(w) V^T. This holds for singular C1 too (dead ReLU features):
both sides are continuous in C1. No scipy (``scipy.linalg.sqrtm``) needed.
"""
from __future__ import annotations

import numpy

from ..errors import DataError, ShapeError


def psd_sqrt(C):
    """C^{1/2} = V diag(sqrt(max(w, 0))) V^T for a symmetric PSD C = V diag(w) V^T, (d, d) float64."""
    w, V = numpy.linalg.eigh(C)
    return (V * numpy.sqrt(numpy.clip(w, 0, None))) @ V.T


def trace_sqrt_product(C1, C2):
    """Tr((C1 C2)^{1/2}) = sum_i sqrt(lambda_i(C1^{1/2} C2 C1^{1/2})) for symmetric PSD C1, C2 (module docstring)."""
    S = psd_sqrt(C1)
    M = S @ C2 @ S
    M = (M + M.T) / 2                                     # symmetric up to round-off: make it exactly so
    return float(numpy.sqrt(numpy.clip(numpy.linalg.eigvalsh(M), 0, None)).sum())


def _check_gaussian(i, mu, cov):
    mu, cov = numpy.asarray(mu, dtype=numpy.float64), numpy.asarray(cov, dtype=numpy.float64)
    if mu.ndim != 1 or mu.shape[0] == 0:
        raise ShapeError(f"mu{i} must be a vector (d,) with d >= 1, got shape {mu.shape}")
    d = mu.shape[0]
    if cov.shape != (d, d):
        raise ShapeError(f"cov{i} must have shape ({d}, {d}) (mu{i} has d = {d}), got {cov.shape}")
    for name, a in ((f"mu{i}", mu), (f"cov{i}", cov)):
        if not numpy.isfinite(a).all():
            raise DataError(f"{name} has {int((~numpy.isfinite(a)).sum())} non-finite entries; expected finite values")
    scale = max(float(numpy.abs(cov).max()), 1e-300)
    if float(numpy.abs(cov - cov.T).max()) > 1e-8 * scale:
        raise DataError(f"cov{i} is not symmetric (max |C - C^T| = {float(numpy.abs(cov - cov.T).max()):.3g}); "
                        "expected a covariance matrix")
    return mu, cov


def frechet_distance(mu1, cov1, mu2, cov2):
    """||mu1 - mu2||^2 + Tr(C1 + C2 - 2 (C1 C2)^{1/2}) in float64 (module docstring for the trace).

    mu1, mu2: (d,); cov1, cov2: (d, d) symmetric PSD. Returns a float >= 0:
    a distance squared, so round-off below zero (identical statistics) is
    returned as 0.
    """
    mu1, cov1 = _check_gaussian(1, mu1, cov1)
    mu2, cov2 = _check_gaussian(2, mu2, cov2)
    if mu1.shape != mu2.shape:
        raise ShapeError(f"the two Gaussians must live in the same space: mu1 has shape {mu1.shape}, "
                         f"mu2 {mu2.shape}")
    diff = mu1 - mu2
    d2 = float(diff @ diff) + float(numpy.trace(cov1) + numpy.trace(cov2)) - 2 * trace_sqrt_product(cov1, cov2)
    return max(d2, 0.0)


def gaussian_statistics(h):
    """(mu, C) of the rows of h (N, d), N >= 2, in float64.

    mu = 1/N sum_n h_n,   C = 1/(N-1) sum_n (h_n - mu)(h_n - mu)^T   (the unbiased covariance).
    """
    h = numpy.asarray(h, dtype=numpy.float64)
    if h.ndim != 2 or h.shape[0] < 2:
        raise ShapeError(f"statistics need (N, d) features with N >= 2 (a covariance), got shape {h.shape}")
    mu = h.mean(axis=0)
    centred = h - mu
    return mu, centred.T @ centred / (h.shape[0] - 1)
