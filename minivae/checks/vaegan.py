"""Check of the VAE-GAN exercise (lesson 15): the feature-matching loss L_llike and its gradient.

The reference :func:`feature_matching_loss` is written out here in float64; the library computes
the same term inside :meth:`minivae.models.vaegan.VAEGAN.loss` (``llike``) from the discriminator's layer l.
"""
from __future__ import annotations

import numpy as np

from ..errors import DataError, ShapeError
from .compare import _call_for, _case, _compare, _report, _rng


def feature_matching_loss(f_x, f_tilde):
    """L_llike = 1/N sum_n 1/2 ||Dis_l(x_n) - Dis_l(x_tilde_n)||^2 and dL_llike/dDis_l(x_tilde).

    f_x, f_tilde: (N, F), the features Dis_l of the data and of their reconstructions. The
    Gaussian -log N(Dis_l(x) | Dis_l(x_tilde), I) without its constant F/2 log 2 pi, a batch mean.
    Returns (L_llike, df_tilde) with df_tilde = (f_tilde - f_x) / N, shape (N, F).
    """
    f_x, f_tilde = np.asarray(f_x, dtype=np.float64), np.asarray(f_tilde, dtype=np.float64)
    if f_x.ndim != 2 or f_x.shape != f_tilde.shape or f_x.shape[0] == 0:
        raise ShapeError(f"f_x and f_tilde must be features of one shape (N, F), N >= 1, "
                         f"got {f_x.shape} and {f_tilde.shape}")
    if not (np.isfinite(f_x).all() and np.isfinite(f_tilde).all()):
        raise DataError("features must be finite")
    n = f_x.shape[0]
    diff = f_tilde - f_x                                                   # (N, F)
    return 0.5 * float(np.sum(diff * diff)) / n, diff / n


def check_feature_matching_loss(student_fn):
    """``student_fn(f_x, f_tilde) -> (L_llike, df_tilde)`` for features f_x, f_tilde of shape (N, F).

    L_llike = 1/N sum_n 1/2 ||f_x[n] - f_tilde[n]||^2 (a float) and df_tilde = (f_tilde - f_x) / N
    (N, F). Reference :func:`feature_matching_loss`.
    """
    check = "check_feature_matching_loss"
    rng, results = _rng(17), []
    cases = [((1, 1), "one image, one feature"), ((4, 3), "N = 4, F = 3"), ((16, 10), "N = 16, F = 10"),
             ((8, 256), "N = 8, F = 256 (a discriminator layer)"), ((5, 6), "f_tilde = f_x (a perfect reconstruction)")]
    for shape, title in cases:
        f_x = rng.normal(size=shape)
        f_tilde = f_x.copy() if "perfect" in title else f_x + rng.normal(scale=0.7, size=shape)
        inputs = {"f_x": f_x, "f_tilde": f_tilde}
        if (got := _call_for(check, student_fn, inputs, 2, results)) is None:
            continue
        L, df = feature_matching_loss(f_x, f_tilde)
        n, diff = shape[0], f_tilde - f_x
        L_mistakes = {"the factor 1/2 left out": 2 * L, "a sum over the batch instead of a mean": n * L,
                      "a mean over the features as well as the batch": L / shape[1],
                      "the norm ||.||, not its square": 0.5 * np.linalg.norm(diff, axis=1).mean(),
                      "the Gaussian's constant F/2 log(2 pi) kept": L + 0.5 * shape[1] * np.log(2 * np.pi)}
        df_mistakes = {"a sign error: (f_x - f_tilde) / N is the gradient with respect to f_x": -df,
                       "the batch mean's 1/N left out": diff, "a spurious factor 2 (of the square, without the 1/2)": 2 * df}
        results.append(_case(check, title + f", shapes {shape}", [
            lambda: _compare(check, "L_llike", got[0], L, inputs, L_mistakes),
            lambda: _compare(check, "df_tilde", got[1], df, inputs, df_mistakes)]))
    return _report(check, results)
