"""Checks of the decoder's pieces: the dense layer's backward pass (lesson 5) and
the log-likelihoods log p(x|z), Bernoulli with its backward pass and Gaussian (lessons 5 and 6)."""
from __future__ import annotations

import math

import numpy as np

from ..layers import dense_backward, dense_forward
from ..likelihoods import (bernoulli_log_likelihood, bernoulli_log_likelihood_backward, gaussian_log_likelihood,
                           softplus)
from .compare import SHAPES, _call, _call_for, _case, _compare, _report, _rng


# --------------------------------------------------------- lesson 5: layers
def check_dense_backward(student_fn):
    """``student_fn(dy, x, W, b) -> (dx, dW, db)`` for y = x @ W + b.

    Reference :func:`minivae.layers.dense_backward`: dx = dy W^T, dW = x^T dy, db = sum_n dy_n.
    """
    check = "check_dense_backward"
    rng, results = _rng(4), []
    for n, d_in, d_out in ((1, 1, 1), (4, 3, 5), (16, 10, 7)):
        x, W, b = rng.standard_normal((n, d_in)), rng.standard_normal((d_in, d_out)), rng.standard_normal(d_out)
        dy = rng.standard_normal((n, d_out))
        inputs = {"dy": dy, "x": x, "W": W, "b": b}
        if (got := _call_for(check, student_fn, inputs, 3, results)) is None:
            continue
        dx, dW, db = dense_backward(dy, dense_forward(x, W, b)[1])
        results.append(_case(check, f"x {x.shape}, W {W.shape}", [
            lambda: _compare(check, "dx", got[0], dx, inputs, {"a sign error": -dx}),
            lambda: _compare(check, "dW", got[1], dW, inputs, {"a sign error": -dW, "dW divided by N": dW / n}),
            lambda: _compare(check, "db", got[2], db, inputs, {"a mean over the batch instead of a sum": dy.mean(0),
                                                                "a sign error": -db})]))
    return _report(check, results)


# ---------------------------------------------------- lesson 6: likelihoods
def check_bernoulli_log_likelihood(student_fn):
    """``student_fn(x, logits) -> ll (N,)``: sum_d [x_d l_d - softplus(l_d)].

    Reference :func:`minivae.likelihoods.bernoulli_log_likelihood`. The last
    case has logits of size 40: sigmoid(40) rounds to 1 in float64, so
    log(1 - sigmoid(l)) is log 0 = -inf; write it with softplus instead.
    """
    check = "check_bernoulli_log_likelihood"
    rng, results = _rng(5), []
    cases = [(s, 3.0) for s in SHAPES] + [((4, 6), 40.0)]
    for shape, scale in cases:
        x = rng.uniform(0, 1, shape)
        if scale > 10:
            x = (x > 0.5).astype(np.float64)
        logits = rng.uniform(-scale, scale, shape)
        inputs = {"x": x, "logits": logits}
        got = _call(check, student_fn, {k: v.copy() for k, v in inputs.items()})
        ll = bernoulli_log_likelihood(x, logits)
        swapped = (1 - x) * logits - softplus(logits)    # x and 1 - x exchanged
        mistakes = {
            "a sign error (that is -log p(x|z), the reconstruction loss)": -ll,
            "x and 1 - x swapped": swapped.sum(-1),
            "a mean over pixels instead of a sum": (x * logits - np.logaddexp(0, logits)).mean(-1),
        }
        title = f"shape {shape}, logits in [-{scale:g}, {scale:g}]" + (
            " (large logits: use x*l - softplus(l), not log(sigmoid))" if scale > 10 else "")
        results.append(_case(check, title, [lambda: _compare(check, "ll", got, ll, inputs, mistakes)]))
    return _report(check, results)


def check_bernoulli_backward(student_fn):
    """``student_fn(dll, x, logits) -> dlogits (N, D)``: dll * (x - sigmoid(logits)).

    Reference :func:`minivae.likelihoods.bernoulli_log_likelihood_backward`.
    """
    check = "check_bernoulli_backward"
    rng, results = _rng(6), []
    for shape in SHAPES:
        x, logits = rng.uniform(0, 1, shape), rng.uniform(-3, 3, shape)
        dll = rng.standard_normal(shape[0])
        inputs = {"dll": dll, "x": x, "logits": logits}
        got = _call(check, student_fn, {k: v.copy() for k, v in inputs.items()})
        want = bernoulli_log_likelihood_backward(dll, x, logits)
        p = 1 / (1 + np.exp(-logits))
        mistakes = {"a sign error (sigmoid(l) - x)": -want,
                    "the upstream gradient dll ignored": x - p,
                    "the sigmoid derivative p (1 - p) multiplied in again": want * p * (1 - p)}
        results.append(_case(check, f"shape {shape}", [lambda: _compare(check, "dlogits", got, want, inputs, mistakes)]))
    return _report(check, results)


def check_gaussian_log_likelihood(student_fn):
    """``student_fn(x, mean, logvar) -> ll (N,)``, logvar (N, D):
    -1/2 sum_d [(x_d - mean_d)^2 / sigma_d^2 + log sigma_d^2 + log 2 pi].

    Reference :func:`minivae.likelihoods.gaussian_log_likelihood`.
    """
    check = "check_gaussian_log_likelihood"
    rng, results = _rng(7), []
    for shape in SHAPES:
        x, mean = rng.uniform(0, 1, shape), rng.uniform(0, 1, shape)
        logvar = rng.uniform(-3, 1, shape)
        inputs = {"x": x, "mean": mean, "logvar": logvar}
        got = _call(check, student_fn, {k: v.copy() for k, v in inputs.items()})
        ll = gaussian_log_likelihood(x, mean, logvar)
        r2, l2p = (x - mean) ** 2, math.log(2 * math.pi)
        mistakes = {
            "a missing factor 1/2": -(r2 / np.exp(logvar) + logvar + l2p).sum(-1),
            "dividing by sigma where sigma^2 belongs": -0.5 * (r2 / np.exp(logvar / 2) + logvar + l2p).sum(-1),
            "the log sigma^2 term left out": -0.5 * (r2 / np.exp(logvar) + l2p).sum(-1),
            "log sigma written where log sigma^2 belongs": -0.5 * (r2 / np.exp(logvar) + logvar / 2 + l2p).sum(-1),
            "the constant log 2 pi left out": -0.5 * (r2 / np.exp(logvar) + logvar).sum(-1),
            "a sign error": -ll,
        }
        results.append(_case(check, f"shape {shape}", [lambda: _compare(check, "ll", got, ll, inputs, mistakes)]))
    return _report(check, results)

