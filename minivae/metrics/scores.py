"""Scores of a classifier's predictions on a set of samples: class entropy and the Inception score.

Both read p(y|x_n), the classifier's class probabilities for each sample
(rows of ``log_p``, (N, C), natural logarithms; float64).

Class entropy, of the histogram of predicted classes h_c = #{n : argmax p(.|x_n) = c} / N:

    H = -sum_c h_c log h_c          (0 log 0 = 0; ln C when every class is drawn equally, 0 for one class)

Inception score (Salimans et al. 2016, with this classifier for Inception):

    IS = exp( 1/N sum_n KL(p(y|x_n) || p(y)) ),   p(y) = 1/N sum_n p(y|x_n).

The mean KL is the mutual information I(y; x) of the samples' labels and the
samples, so 1 <= IS <= exp(H(p(y))) <= C: high when each sample is one
confident class and the classes are spread evenly.
"""
from __future__ import annotations

import numpy

from ..errors import DataError, ShapeError


def _check_log_p(log_p):
    log_p = numpy.asarray(log_p, dtype=numpy.float64)
    if log_p.ndim != 2 or log_p.shape[0] == 0 or log_p.shape[1] < 2:
        raise ShapeError(f"log-probabilities must have shape (N, C) with N >= 1, C >= 2, got {log_p.shape}")
    if numpy.isnan(log_p).any() or (log_p > 1e-9).any():
        raise DataError("log-probabilities must be <= 0 and not NaN (rows of log softmax)")
    return log_p


def entropy(h):
    """-sum_c h_c log h_c (nats) of a probability vector h, with 0 log 0 = 0."""
    h = numpy.asarray(h, dtype=numpy.float64)
    nz = h[h > 0]
    return float((nz * numpy.log(1 / nz)).sum())                  # log(1/h) >= 0: never -0.0


def class_histogram(log_p):
    """h_c = the fraction of samples whose most probable class is c, (C,)."""
    log_p = _check_log_p(log_p)
    counts = numpy.bincount(log_p.argmax(axis=1), minlength=log_p.shape[1])
    return counts / log_p.shape[0]


def class_entropy_of(log_p):
    """H(h) = -sum_c h_c log h_c of the predicted-class histogram (nats; module docstring)."""
    return entropy(class_histogram(log_p))


def inception_score_of(log_p):
    """exp(1/N sum_n KL(p(y|x_n) || p(y))) with p(y) the mean of the rows (module docstring).

    KL(p_n || p) = sum_c p_nc (log p_nc - log p_c); terms with p_nc = 0 are 0.
    """
    log_p = _check_log_p(log_p)
    p = numpy.exp(log_p)                                          # (N, C)
    p_y = p.mean(axis=0)                                          # (C,) the marginal
    log_p_y = numpy.log(numpy.where(p_y > 0, p_y, 1.0))           # p_y = 0 only where every p_nc = 0
    with numpy.errstate(invalid="ignore"):                        # 0 * (-inf) where log p_nc = -inf: set to 0
        kl = numpy.where(p > 0, p * (log_p - log_p_y), 0.0).sum(axis=1)   # (N,)
    return float(numpy.exp(max(kl.mean(), 0.0)))
