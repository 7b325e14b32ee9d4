"""Gumbel-softmax / Concrete: the sampler by counting, the relaxation's limits, the KL, gradients by hand."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from minivae.errors import ConfigError, DataError, ShapeError
from minivae.backend.cupy_backend import gpu_unavailable_reason
from minivae.gradcheck import numerical_gradient, numerical_gradient_array, rel_error
from minivae.gumbel import (categorical_kl, categorical_kl_backward, gumbel_max_sample, gumbel_noise,
                            gumbel_softmax, gumbel_softmax_backward, log_relaxed_density, straight_through,
                            temperature)
from minivae.softmax import log_softmax, softmax

TOL = 1e-7
N, M, K = 3, 2, 4
GPU_REASON = gpu_unavailable_reason()
FD = dict(h=1e-3, order=4)    # 4th-order differences resolve entries of 1e-6 (y_k small at tau = 0.5)


def noise(rng, shape):
    return gumbel_noise(rng.random(shape))


def rows(draw_shape=(st.integers(1, 4), st.integers(1, 3), st.integers(1, 6)), lim=30.0):
    """(N, M, K) float64 logits with entries in [-lim, lim]."""
    return arrays(np.float64, st.tuples(*draw_shape), elements=st.floats(-lim, lim, allow_nan=False))


# ---- the noise and the Gumbel-max trick ------------------------------------------------------------


def test_gumbel_noise_has_the_gumbel_mean_and_variance():
    """E g = Euler's gamma, Var g = pi^2 / 6; 200 000 draws: standard errors 0.003 and 0.01."""
    g = gumbel_noise(np.random.default_rng(0).random(200_000))
    assert abs(g.mean() - np.euler_gamma) < 4 * math.sqrt(math.pi ** 2 / 6 / 200_000)
    assert abs(g.var() - math.pi ** 2 / 6) < 0.05


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gumbel_noise_keeps_the_dtype_and_stays_finite_at_0_and_1(dtype):
    u = np.array([0.0, 1e-300, 0.5, 1.0], dtype=dtype)
    u_before = u.copy()
    g = gumbel_noise(u)
    assert g.dtype == dtype and np.isfinite(g).all()
    assert g[2] == pytest.approx(-math.log(math.log(2.0)), rel=1e-6)
    assert np.all(np.diff(g) >= 0)                                          # monotone in u
    np.testing.assert_array_equal(u, u_before)                              # u is not written


def test_gumbel_noise_refuses_integers():
    with pytest.raises(DataError, match=r"float array of uniforms in \(0, 1\)"):
        gumbel_noise(np.array([0, 1]))


def test_the_gumbel_max_trick_samples_the_categorical_exactly():
    """200 000 one-hot draws of pi: every class frequency within 4 standard errors sqrt(pi (1 - pi) / n)."""
    n, pi = 200_000, np.array([0.05, 0.1, 0.15, 0.3, 0.4])
    logits = np.broadcast_to(np.log(pi) + 7.0, (n, 5))                       # any constant: the same pi
    sample = gumbel_max_sample(logits, noise(np.random.default_rng(1), (n, 5)))
    assert sample.shape == (n, 5) and np.array_equal(sample.sum(axis=1), np.ones(n))
    freq = sample.mean(axis=0)
    assert np.all(np.abs(freq - pi) < 4 * np.sqrt(pi * (1 - pi) / n)), freq


# ---- the relaxed sample ----------------------------------------------------------------------------


@pytest.mark.parametrize("k", [1, K, 40])                                     # 40: NumPy's own row max
@pytest.mark.parametrize("tau", [0.5, 1.0, 2.0])
def test_gumbel_softmax_is_the_literal_formula_and_rows_sum_to_one(tau, k, rng):
    a, g = 3 * rng.standard_normal((N, M, k)), noise(rng, (N, M, k))
    y, _ = gumbel_softmax(a, g, tau)
    np.testing.assert_allclose(y, softmax((log_softmax(a) + g) / tau), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(y.sum(axis=-1), 1.0, rtol=0, atol=1e-14)
    assert y.shape == (N, M, k) and np.all(y >= 0)
    q = softmax(a)
    np.testing.assert_allclose(categorical_kl(a), (q * np.log(k * q)).sum(axis=(1, 2)), rtol=1e-12, atol=1e-15)


def test_float32_stays_float32(rng):
    a, g = rng.standard_normal((N, M, K)).astype(np.float32), noise(rng, (N, M, K)).astype(np.float32)
    y, cache = gumbel_softmax(a, g, 0.5)
    dy = rng.standard_normal((N, M, K)).astype(np.float32)
    assert y.dtype == np.float32 and gumbel_softmax_backward(dy, cache).dtype == np.float32
    assert straight_through(y).dtype == np.float32 and gumbel_max_sample(a, g).dtype == np.float32
    assert categorical_kl(a).dtype == np.float32 and categorical_kl_backward(1.0, a).dtype == np.float32
    assert gumbel_softmax(a, g.astype(np.float64), 0.5)[0].dtype == np.float32         # the logits' dtype
    assert categorical_kl_backward(np.ones(N), a).dtype == np.float32


def test_as_tau_goes_to_0_the_relaxed_sample_becomes_the_gumbel_max_one_hot(rng):
    """max_k y = 1 / (1 + sum_j exp(-gap_j / tau)) grows as tau falls; at tau = 0.01 it exceeds 0.99."""
    a, g = 2 * rng.standard_normal((N, M, K)), noise(rng, (N, M, K))
    hard = gumbel_max_sample(a, g)
    y_max = [gumbel_softmax(a, g, tau)[0].max(axis=-1) for tau in (2.0, 1.0, 0.1, 0.01)]
    assert all(np.all(hi >= lo) for lo, hi in zip(y_max, y_max[1:]))
    y, _ = gumbel_softmax(a, g, 0.01)
    np.testing.assert_array_equal(y.argmax(axis=-1), hard.argmax(axis=-1))
    assert np.all(y.max(axis=-1) > 0.99)


@pytest.mark.parametrize("tau", [0.5, 1.0, 2.0])
def test_gumbel_softmax_backward_matches_finite_differences(tau, rng):
    a, g, dy = rng.standard_normal((N, M, K)), noise(rng, (N, M, K)), rng.standard_normal((N, M, K))
    y, cache = gumbel_softmax(a, g, tau)
    dy_before, y_before = dy.copy(), y.copy()
    da = gumbel_softmax_backward(dy, cache)
    assert rel_error(da, numerical_gradient_array(lambda: gumbel_softmax(a, g, tau)[0], a, dy, **FD)) < TOL
    np.testing.assert_allclose(da.sum(axis=-1), 0.0, atol=1e-15)             # a row shift changes nothing
    np.testing.assert_array_equal(dy, dy_before)                             # nothing written
    np.testing.assert_array_equal(cache[0], y_before)


def test_gumbel_softmax_backward_is_the_explicit_jacobian_product(rng):
    """The oracle forms the Jacobian dy/da = (diag(y) - y y^T) / tau @ (I - 1 pi^T), (K, K) per row."""
    a, g, dy, tau = rng.standard_normal((N, M, K)), noise(rng, (N, M, K)), rng.standard_normal((N, M, K)), 0.7
    y, cache = gumbel_softmax(a, g, tau)
    pi = softmax(a)
    d_soft = (np.einsum("nmj,jk->nmjk", y, np.eye(K)) - np.einsum("nmj,nmk->nmjk", y, y)) / tau
    d_logsoft = np.eye(K) - pi[:, :, None, :]                                # d log pi_j / d a_k
    jac = np.einsum("nmij,nmjk->nmik", d_soft, d_logsoft)                    # dy_i / da_k
    np.testing.assert_allclose(gumbel_softmax_backward(dy, cache), np.einsum("nmi,nmik->nmk", dy, jac),
                               rtol=1e-12, atol=1e-14)


# ---- straight-through ------------------------------------------------------------------------------


def test_straight_through_forward_is_one_hot_at_the_argmax(rng):
    y, _ = gumbel_softmax(rng.standard_normal((N, M, K)), noise(rng, (N, M, K)), 1.0)
    hard = straight_through(y)
    assert hard.shape == y.shape and set(np.unique(hard)) <= {0.0, 1.0}
    np.testing.assert_array_equal(hard.sum(axis=-1), 1.0)
    np.testing.assert_array_equal(hard.argmax(axis=-1), y.argmax(axis=-1))


def test_straight_through_backward_is_the_relaxed_gradient_by_definition(rng):
    """y_hard = y + stop_gradient(one_hot - y): its value is one_hot, its gradient the relaxed one."""
    a, g, dy, tau = rng.standard_normal((N, M, K)), noise(rng, (N, M, K)), rng.standard_normal((N, M, K)), 0.5
    y0, cache = gumbel_softmax(a, g, tau)
    frozen = straight_through(y0) - y0                                       # the stop_gradient term

    def surrogate():
        return gumbel_softmax(a, g, tau)[0] + frozen

    np.testing.assert_allclose(surrogate(), straight_through(y0), atol=1e-15)
    st_grad = gumbel_softmax_backward(dy, cache)
    assert rel_error(st_grad, numerical_gradient_array(surrogate, a, dy, **FD)) < TOL
    # biased: the forward itself is piecewise constant, its true derivative is 0 here
    exact = numerical_gradient_array(lambda: straight_through(gumbel_softmax(a, g, tau)[0]), a, dy)
    np.testing.assert_array_equal(exact, 0.0)
    assert np.abs(st_grad).max() > 1e-3


# ---- the categorical KL ----------------------------------------------------------------------------


def test_the_kl_is_zero_for_uniform_logits():
    logits = np.stack([np.zeros((2, 5)), np.full((2, 5), 3.7), np.full((2, 5), -40.0)])   # (3, 2, 5)
    np.testing.assert_array_equal(categorical_kl(logits), 0.0)
    np.testing.assert_allclose(categorical_kl_backward(np.ones(3), logits), 0.0, atol=1e-16)


def test_the_kl_is_sum_q_log_kq_computed_directly(rng):
    a = 2 * rng.standard_normal((N, M, K))
    q = np.exp(a) / np.exp(a).sum(axis=-1, keepdims=True)
    direct = (q * np.log(K * q)).sum(axis=(1, 2))
    kl = categorical_kl(a)
    assert kl.shape == (N,)
    np.testing.assert_allclose(kl, direct, rtol=1e-12)


@pytest.mark.parametrize("dkl", [1.0, "per-example"])
def test_categorical_kl_backward_matches_finite_differences(dkl, rng):
    a = 2 * rng.standard_normal((N, M, K))
    w = rng.random(N) + 0.5 if dkl == "per-example" else dkl
    da = categorical_kl_backward(w, a)
    assert da.shape == a.shape
    assert rel_error(da, numerical_gradient(lambda: (w * categorical_kl(a)).sum(), a)) < TOL


@settings(max_examples=60, deadline=None)
@given(rows(), st.floats(-100, 100, allow_nan=False))
def test_the_kl_is_nonnegative_and_blind_to_a_row_shift(a, c):
    kl = categorical_kl(a)
    assert np.all(kl >= 0)
    shifted = a.copy()
    shifted[0, 0] += c                                                       # one row of K logits
    np.testing.assert_allclose(categorical_kl(shifted), kl, rtol=1e-9, atol=1e-9)
    da = categorical_kl_backward(np.ones(a.shape[0]), a)
    np.testing.assert_allclose(da.sum(axis=-1), 0.0, atol=1e-12)


@settings(max_examples=60, deadline=None)
@given(rows(), st.floats(0.05, 5.0), st.integers(0, 2 ** 32 - 1))
def test_relaxed_rows_sum_to_one_for_any_logits_and_tau(a, tau, seed):
    g = noise(np.random.default_rng(seed), a.shape)
    y, cache = gumbel_softmax(a, g, tau)
    np.testing.assert_allclose(y.sum(axis=-1), 1.0, atol=1e-12)
    da = gumbel_softmax_backward(np.random.default_rng(seed).standard_normal(a.shape), cache)
    assert np.isfinite(da).all()
    np.testing.assert_allclose(da.sum(axis=-1), 0.0, atol=1e-9 / tau)


# ---- stability, schedule, errors -------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("tau", [0.1, 1e-3, 1e-30])
def test_large_logits_and_small_tau_stay_finite(dtype, tau, rng):
    a = np.where(rng.random((N, M, K)) < 0.5, -50.0, 50.0).astype(dtype)
    a[0, 0] = [50.0, 50.0, -50.0, -50.0]
    g = gumbel_noise(rng.random((N, M, K)).astype(dtype))
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        y, cache = gumbel_softmax(a, g, tau)
        da = gumbel_softmax_backward(np.ones_like(a), cache)
        kl, dkl = categorical_kl(a), categorical_kl_backward(np.ones(N, dtype), a)
        hard = gumbel_max_sample(a, g)
    for v in (y, da, kl, dkl, hard):
        assert np.isfinite(v).all() and v.dtype == dtype
    np.testing.assert_allclose(y.sum(axis=-1), 1.0, rtol=1e-6)
    assert np.all(kl >= 0)


def test_the_temperature_schedule_decays_to_its_floor():
    assert temperature(0) == 1.0
    assert temperature(10_000, tau0=2.0, tau_min=0.1, rate=1e-4) == pytest.approx(2.0 * math.exp(-1.0))
    assert temperature(10 ** 9) == 0.5
    assert temperature(10 ** 6, rate=0.0) == 1.0
    taus = [temperature(s, rate=1e-3) for s in range(0, 5000, 100)]
    assert all(b <= a for a, b in zip(taus, taus[1:])) and taus[-1] == 0.5


@pytest.mark.parametrize("kw, name", [
    (dict(tau0=0.0), "tau0"), (dict(tau0=-1.0), "tau0"), (dict(tau_min=0.0), "tau_min"),
    (dict(rate=-1e-5), "rate"), (dict(tau0=float("nan")), "tau0"), (dict(tau0=0.3), "tau_min must be <= tau0"),
])
def test_bad_schedule_options_are_named(kw, name):
    with pytest.raises(ConfigError, match=name):
        temperature(10, **kw)
    with pytest.raises(ConfigError, match="step"):
        temperature(-1)


@pytest.mark.parametrize("tau", [0.0, -1.0, float("nan"), float("inf")])
def test_a_temperature_that_is_not_positive_is_a_config_error(tau, rng):
    a = rng.standard_normal((2, 3))
    with pytest.raises(ConfigError, match=r"temperature \(tau\)"):
        gumbel_softmax(a, a, tau)
    with pytest.raises(ConfigError, match=r"temperature \(tau\)"):
        log_relaxed_density(softmax(a), a, tau)


def test_mismatched_shapes_are_shape_errors(rng):
    a = rng.standard_normal((N, M, K))
    with pytest.raises(ShapeError, match=r"g \(the Gumbel noise\) must have the logits' shape \(3, 2, 4\)"):
        gumbel_softmax(a, a[:, :, :3], 1.0)
    with pytest.raises(ShapeError, match="logits' shape"):
        gumbel_max_sample(a, a[0])
    _, cache = gumbel_softmax(a, a, 1.0)
    with pytest.raises(ShapeError, match="dy must have the shape of y"):
        gumbel_softmax_backward(a[0], cache)
    with pytest.raises(ShapeError, match=r"dkl must be a scalar or have the KL's shape \(3,\)"):
        categorical_kl_backward(np.ones(2), a)
    with pytest.raises(ShapeError, match=r"\(N, M, K\)"):
        categorical_kl(a[0, 0])


# ---- the Concrete density --------------------------------------------------------------------------


@pytest.mark.parametrize("tau", [0.5, 1.0, 2.0])
def test_the_binary_concrete_density_is_the_logistic_change_of_variables(tau):
    """K = 2: y_1 = sigmoid((log(pi_1 / pi_2) + L) / tau), L ~ Logistic(0, 1), so
    p(y_1) = f_L(tau logit(y_1) - log(pi_1 / pi_2)) tau / (y_1 (1 - y_1)), f_L(l) = e^-l / (1 + e^-l)^2."""
    logits = np.array([0.8, -0.4])
    y1 = np.linspace(0.01, 0.99, 41)
    y = np.stack([y1, 1 - y1], axis=-1)
    l = tau * np.log(y1 / (1 - y1)) - (logits[0] - logits[1])
    want = -l - 2 * np.log1p(np.exp(-l)) + np.log(tau) - np.log(y1 * (1 - y1))
    got = log_relaxed_density(y, np.broadcast_to(logits, y.shape), tau)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_the_concrete_density_integrates_to_one_on_the_simplex():
    """K = 3, tau = 1: y = (u, (1 - u) v, (1 - u)(1 - v)) maps the unit square onto the simplex, |J| = 1 - u."""
    h = 1.0 / 400
    u, v = np.meshgrid((np.arange(400) + 0.5) * h, (np.arange(400) + 0.5) * h, indexing="ij")
    y = np.stack([u, (1 - u) * v, (1 - u) * (1 - v)], axis=-1)
    logits = np.broadcast_to(np.array([0.5, -0.3, 0.1]), y.shape)
    total = (np.exp(log_relaxed_density(y, logits, 1.0)) * (1 - u)).sum() * h * h
    assert total == pytest.approx(1.0, abs=1e-3)


# ---- the CuPy backend ------------------------------------------------------------------------------


@pytest.mark.gpu
@pytest.mark.skipif(GPU_REASON is not None, reason=str(GPU_REASON))
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_cupy_gives_the_numpy_answers(dtype, rng):
    import cupy

    a, u = rng.standard_normal((N, M, K)).astype(dtype), rng.random((N, M, K)).astype(dtype)
    dy, w = rng.standard_normal((N, M, K)).astype(dtype), rng.random(N).astype(dtype)
    tol = 1e-5 if dtype == "float32" else 1e-12

    def everything(xp):
        g = gumbel_noise(xp.asarray(u))
        y, cache = gumbel_softmax(xp.asarray(a), g, 0.5)
        return (g, y, gumbel_softmax_backward(xp.asarray(dy), cache), straight_through(y),
                gumbel_max_sample(xp.asarray(a), g), categorical_kl(xp.asarray(a)),
                categorical_kl_backward(xp.asarray(w), xp.asarray(a)), log_relaxed_density(y, xp.asarray(a), 0.5))

    for want, got in zip(everything(np), everything(cupy)):
        assert isinstance(got, cupy.ndarray) and got.dtype == want.dtype
        assert rel_error(cupy.asnumpy(got), want) < tol
