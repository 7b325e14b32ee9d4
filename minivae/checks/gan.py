"""Checks of the GAN exercises: the optimal discriminator and the non-saturating generator's
gradient (lesson 13), the 1-D Wasserstein distance and the gradient penalty of a linear critic
(lesson 14).

Two of the references live here, written independently of the formula the student is asked for:
:func:`optimal_discriminator` (D* = p_data / (p_data + p_g)) and :func:`wasserstein_1d`
(the area between the two empirical CDFs, for samples of any sizes); the other two are the
library's own (:func:`minivae.adversarial.ns_generator`, :class:`minivae.gradient_penalty.GradientPenalty`).
"""
from __future__ import annotations

import numpy as np

from ..adversarial import ns_generator, sigmoid
from ..errors import DataError, ShapeError
from .compare import _call, _call_for, _case, _compare, _report, _rng


# ---------------------------------------------------------------- references
def optimal_discriminator(p_data, p_g):
    """D*(x) = p_data(x) / (p_data(x) + p_g(x)): the maximizer over D of p_data log D + p_g log(1 - D).

    p_data, p_g: arrays of one shape, densities (>= 0, not both 0) at the same points; returns D*
    of that shape. A DataError where a density is negative or both are 0 (D* is undefined there).
    """
    p_data, p_g = np.asarray(p_data, dtype=np.float64), np.asarray(p_g, dtype=np.float64)
    if p_data.shape != p_g.shape:
        raise ShapeError(f"p_data and p_g must be densities at the same points (one shape), "
                         f"got {p_data.shape} and {p_g.shape}")
    if (p_data < 0).any() or (p_g < 0).any() or not (np.isfinite(p_data).all() and np.isfinite(p_g).all()):
        raise DataError("densities must be finite and >= 0")
    total = p_data + p_g
    if (total == 0).any():
        raise DataError(f"p_data + p_g = 0 at {int((total == 0).sum())} points: D* is undefined where "
                        "neither distribution has mass; evaluate it on their supports")
    return p_data / total


def wasserstein_1d(x, y):
    """W_1 between the empirical distributions of samples x (N,) and y (M,), any N, M >= 1.

    W_1 = integral |F_x(t) - F_y(t)| dt, exactly: both CDFs are step functions, constant between
    consecutive points t_i of the merged sorted sample, so the integral is
    sum_i |F_x(t_i) - F_y(t_i)| (t_{i+1} - t_i), with F(t) = #{samples <= t} / size.
    """
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.ndim != 1 or y.ndim != 1 or x.size == 0 or y.size == 0:
        raise ShapeError(f"x and y must be 1-D samples (N,) with N >= 1, got shapes {x.shape} and {y.shape}")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise DataError("samples must be finite")
    xs, ys = np.sort(x), np.sort(y)
    t = np.sort(np.concatenate([xs, ys]))
    F_x = np.searchsorted(xs, t[:-1], side="right") / xs.size
    F_y = np.searchsorted(ys, t[:-1], side="right") / ys.size
    return float(np.sum(np.abs(F_x - F_y) * np.diff(t)))


def _linear_critic_reference(w, b, x_hat, lam):
    """(P, dP/dw, dP/db) of the library's GradientPenalty on the critic D(x) = x w + b (one Dense layer)."""
    from ..gradient_penalty import GradientPenalty
    from ..layers import MLP

    critic = MLP([w.size, 1], "identity", np.random.default_rng(0), dtype="float64")
    layer = critic.layers[0]
    layer.params["W"][:, 0], layer.params["b"][0] = w, b
    penalty = GradientPenalty(critic, lam)
    P = float(penalty.forward(np.ascontiguousarray(x_hat, dtype=np.float64)))
    for g in layer.grads.values():
        g[...] = 0
    penalty.backward()
    return P, layer.grads["W"][:, 0].copy(), float(layer.grads["b"][0])


# --------------------------------------------- lesson 13: the optimal D
def check_optimal_discriminator(student_fn):
    """``student_fn(p_data, p_g) -> D*`` (same shape): p_data / (p_data + p_g), pointwise.

    Reference :func:`optimal_discriminator`. Cases: random densities, two Gaussians on a grid,
    and points where only one distribution has mass (D* = 1 where p_g = 0, 0 where p_data = 0).
    """
    check = "check_optimal_discriminator"
    rng, results = _rng(13), []
    t = np.linspace(-4, 6, 201)
    gauss = lambda m, s: np.exp(-0.5 * ((t - m) / s) ** 2) / (s * np.sqrt(2 * np.pi))  # noqa: E731
    cases = [("random densities (5,)", rng.uniform(0.01, 2, 5), rng.uniform(0.01, 2, 5)),
             ("random densities (3, 4)", rng.uniform(0.01, 2, (3, 4)), rng.uniform(0.01, 2, (3, 4))),
             ("N(0, 1) against N(2, 0.5^2) on a grid (201,)", gauss(0, 1), gauss(2, 0.5)),
             ("one density zero at some points", np.array([0.0, 0.3, 1.2, 0.7]), np.array([0.5, 0.0, 0.4, 0.0]))]
    for title, p_data, p_g in cases:
        inputs = {"p_data": p_data, "p_g": p_g}
        got = _call(check, student_fn, {"p_data": p_data.copy(), "p_g": p_g.copy()})
        want = optimal_discriminator(p_data, p_g)
        with np.errstate(divide="ignore", invalid="ignore"):
            mistakes = {"p_g / (p_data + p_g): that is 1 - D*, the probability of 'fake'": p_g / (p_data + p_g),
                        "the density ratio p_data / p_g (D* / (1 - D*), not D*)": p_data / p_g,
                        "p_data alone: the denominator p_data + p_g left out": p_data,
                        "the constant 1/2 (D* is 1/2 only where p_g = p_data)": np.full_like(want, 0.5)}
        results.append(_case(check, title, [lambda: _compare(check, "D*", got, want, inputs, mistakes)]))
    return _report(check, results)


# ------------------------------------ lesson 13: non-saturating gradient
def check_ns_generator_gradient(student_fn):
    """``student_fn(s_fake) -> ds_fake`` (M, 1): dL_G/ds for L_G = -1/M sum_m log sigmoid(s_m).

    Reference :func:`minivae.adversarial.ns_generator`: (sigmoid(s) - 1) / M = (D(G(z)) - 1) / M.
    The last case has scores down to -50 (a discriminator that rejects its fakes with certainty).
    """
    check = "check_ns_generator_gradient"
    rng, results = _rng(14), []
    for m, scale in ((1, 3.0), (4, 3.0), (16, 3.0), (8, 50.0)):
        s_fake = rng.uniform(-scale, scale / 10 if scale > 10 else scale, (m, 1))
        inputs = {"s_fake": s_fake}
        got = _call(check, student_fn, {"s_fake": s_fake.copy()})
        want = ns_generator(s_fake)[1]
        D = sigmoid(s_fake)
        mistakes = {"the saturating (minimax) generator's gradient -D / M, of log(1 - D)": -D / m,
                    "a sign error (1 - D) / M: that is the gradient of +log D": -want,
                    "the batch mean's 1/M left out": want * m,
                    "the gradient with respect to D, -1 / (M D), not to the score s": -1 / (m * D)}
        title = f"s_fake of shape {(m, 1)} in [{-scale:g}, {scale / 10 if scale > 10 else scale:g}]"
        results.append(_case(check, title, [lambda: _compare(check, "ds_fake", got, want, inputs, mistakes)]))
    return _report(check, results)


# ---------------------------------------- lesson 14: W_1 from samples
def check_wasserstein_1d(student_fn):
    """``student_fn(x, y) -> W_1`` (a float) for two 1-D samples of the same size N.

    Reference :func:`wasserstein_1d` (the area between the empirical CDFs). With equal sizes it
    equals 1/N sum_i |x_(i) - y_(i)|, the sorted samples paired in order.
    """
    check = "check_wasserstein_1d"
    rng, results = _rng(15), []
    cases = [("N = 1", rng.normal(size=1), rng.normal(size=1)),
             ("N = 5, unsorted", np.array([0.3, -1.2, 2.0, 0.1, -0.5]), np.array([1.5, 2.2, -0.4, 3.1, 0.9])),
             ("N = 200, the CDFs cross (equal means, different spreads)", rng.normal(0, 1, 200), rng.normal(0, 3, 200)),
             ("N = 100, y = x shifted by 0.7 (W_1 = 0.7)", (x := rng.normal(size=100)), rng.permutation(x) + 0.7),
             ("N = 6 with ties", np.array([0., 1, 1, 2, 2, 2]), np.array([1., 1, 0, 3, 3, 0]))]
    for title, x, y in cases:
        inputs = {"x": x, "y": y}
        got = _call(check, student_fn, {"x": x.copy(), "y": y.copy()})
        want = wasserstein_1d(x, y)
        dx = np.sort(x) - np.sort(y)
        mistakes = {"the samples paired as given, not sorted (mean |x_i - y_i|)": np.abs(x - y).mean(),
                    "the distance of the means |mean x - mean y| (a lower bound on W_1)": abs(x.mean() - y.mean()),
                    "the signed mean of the sorted differences (its |.| is missing)": dx.mean(),
                    "W_2, sqrt(mean (x_(i) - y_(i))^2), instead of W_1": np.sqrt((dx ** 2).mean()),
                    "a sum over the pairs instead of a mean": np.abs(dx).sum()}
        results.append(_case(check, title, [lambda: _compare(check, "W_1", got, want, inputs, mistakes)]))
    return _report(check, results)


# ------------------------------- lesson 14: penalty of a linear critic
def _no_bias_gradient(check, got, want, inputs):
    ok = _compare(check, "db", got, want, inputs)
    if not ok:
        print("       hint: P does not depend on b at all: the input gradient of x . w + b is w, whatever b is")
    return ok


def check_linear_critic_penalty(student_fn):
    """``student_fn(w, b, x_hat, lam) -> (P, dw, db)`` for the critic D(x) = x . w + b.

    P = lam/N sum_n (||grad_x D(x_hat_n)|| - 1)^2 = lam (||w|| - 1)^2 (the input gradient is w at
    every point); dw = 2 lam (||w|| - 1) w / ||w||; db = 0. Reference: the library's
    :class:`minivae.gradient_penalty.GradientPenalty` on a one-layer critic.
    """
    check = "check_linear_critic_penalty"
    rng, results = _rng(16), []
    for d, n, lam, norm in ((1, 1, 10.0, 3.0), (5, 4, 10.0, 0.4), (20, 8, 2.5, 1.7), (3, 6, 10.0, 1.0)):
        w = rng.normal(size=d)
        w *= norm / np.linalg.norm(w)
        b, x_hat = float(rng.normal()), rng.uniform(-1, 1, (n, d))
        inputs = {"w": w, "b": b, "x_hat": x_hat, "lam": lam}
        if (got := _call_for(check, student_fn, inputs, 3, results)) is None:
            continue
        P, dw, db = _linear_critic_reference(w, b, x_hat, lam)
        r = np.linalg.norm(w)
        P_mistakes = {"||w||^2 where ||w|| belongs: (||w||^2 - 1)^2": lam * (r * r - 1) ** 2,
                      "lam left out": (r - 1) ** 2, "the square of (||w|| - 1) left out": lam * (r - 1),
                      "a sum over the N points instead of a mean": n * P}
        dw_mistakes = {"the 1 / ||w|| of d||w||/dw = w / ||w|| left out": 2 * lam * (r - 1) * w,
                       "the factor 2 of the square's derivative left out": dw / 2, "a sign error": -dw}
        title = f"w of shape {(d,)} with ||w|| = {norm:g}, x_hat {x_hat.shape}, lam = {lam:g}" + (
            " (||w|| = 1: no penalty, no gradient)" if norm == 1 else "")
        results.append(_case(check, title, [
            lambda: _compare(check, "P", got[0], P, inputs, P_mistakes),
            lambda: _compare(check, "dw", got[1], dw, inputs, dw_mistakes),
            lambda: _no_bias_gradient(check, got[2], db, inputs)]))
    return _report(check, results)
