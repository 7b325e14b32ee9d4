"""The Rényi bound L_alpha: its gradient against finite differences, its family (IWAE, ELBO, VR-max), bad alpha."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from minivae import iwae, renyi
from minivae.errors import ConfigError
from minivae.gradcheck import numerical_gradient, rel_error

#: K log-weights for each of N examples, float64, as far apart as a real model's (hundreds of nats)
LOG_W = arrays(np.float64, st.tuples(st.integers(2, 6), st.integers(1, 3)),
               elements=st.floats(-300.0, 300.0, allow_nan=False, allow_infinity=False))
ALPHA = st.floats(-20.0, 20.0, allow_nan=False).filter(lambda a: abs(1.0 - a) > 1e-3)


def naive_bound(log_w, alpha):
    """1/(1 - alpha) log 1/K sum_k w_k^(1 - alpha), as written (overflows for large log-weights)."""
    return np.log(np.mean(np.exp((1 - alpha) * log_w), axis=0)) / (1 - alpha)


@pytest.mark.parametrize("alpha", [0.0, 0.5, -1.0, 2.5, renyi.VR_MAX])
def test_the_gradient_is_the_normalized_weights(alpha, rng):
    log_w = rng.standard_normal((5, 4))                              # weights not so small that rounding dominates
    dlog_w = rng.standard_normal(4)                                  # an upstream gradient per example
    numeric = numerical_gradient(lambda: (renyi.bound(log_w, alpha) * dlog_w).sum(), log_w, h=1e-3, order=4)
    assert rel_error(renyi.normalized_weights(log_w, alpha) * dlog_w, numeric) < 1e-8


@pytest.mark.parametrize("alpha", [0.0, 0.5, -3.0, 4.0])
def test_small_log_weights_match_the_formula_as_written(alpha, rng):
    log_w = rng.standard_normal((6, 3))
    np.testing.assert_allclose(renyi.bound(log_w, alpha), naive_bound(log_w, alpha), rtol=1e-12)


def test_log_weights_of_thousands_of_nats_neither_overflow_nor_underflow():
    log_w = np.array([[-5000.0, 4000.0], [-5001.0, 4000.0]])
    with np.errstate(over="raise", under="ignore", invalid="raise", divide="raise"):
        for alpha in (0.0, 0.5, -2.0, 3.0):
            b, w = renyi.bound(log_w, alpha), renyi.normalized_weights(log_w, alpha)
            assert np.isfinite(b).all() and np.isfinite(w).all()
            np.testing.assert_allclose(w.sum(axis=0), 1.0, rtol=1e-15)
    np.testing.assert_allclose(renyi.bound(log_w, 0.0)[1], 4000.0, rtol=1e-15)     # K equal weights: their value


@settings(max_examples=60, deadline=None)
@given(LOG_W)
def test_alpha_zero_is_exactly_the_iwae_bound(log_w):
    np.testing.assert_array_equal(renyi.bound(log_w, 0.0), iwae.bound(log_w))
    np.testing.assert_array_equal(renyi.normalized_weights(log_w, 0.0), iwae.normalized_weights(log_w))


@settings(max_examples=60, deadline=None)
@given(LOG_W)
def test_alpha_near_one_approaches_the_elbo(log_w):
    """0 <= L_alpha - mean_k log w_k <= (1 - alpha) (max - min)^2 / 8 (Hoeffding's lemma), up to rounding."""
    t = 1e-6
    gap = renyi.bound(log_w, 1 - t) - log_w.mean(axis=0)
    spread = log_w.max(axis=0) - log_w.min(axis=0)
    rounding = 1e-15 * np.abs(log_w).max() / t + 1e-9                # cancellation in (logsumexp - log K) / t
    assert (gap >= -rounding).all() and (gap <= t * spread ** 2 / 8 + rounding).all()
    np.testing.assert_allclose(renyi.normalized_weights(log_w, 1 - t), 1 / log_w.shape[0], rtol=1e-3)


@settings(max_examples=60, deadline=None)
@given(LOG_W, ALPHA, ALPHA)
def test_the_bound_does_not_increase_with_alpha(log_w, a, b):
    lo, hi = sorted((a, b))
    slack = 1e-12 * (1 + np.abs(log_w).max())
    assert (renyi.bound(log_w, lo) >= renyi.bound(log_w, hi) - slack).all()
    assert (renyi.bound(log_w, renyi.VR_MAX) >= renyi.bound(log_w, lo) - slack).all()


@settings(max_examples=60, deadline=None)
@given(LOG_W, st.floats(1e3, 1e9))
def test_vr_max_is_the_limit_of_alpha_to_minus_infinity(log_w, t):
    """max_k log w_k - log K / t <= L_(1 - t) <= max_k log w_k: the gap closes as t = 1 - alpha grows."""
    best = renyi.bound(log_w, renyi.VR_MAX)
    np.testing.assert_array_equal(best, log_w.max(axis=0))
    b = renyi.bound(log_w, 1 - t)
    slack = 1e-12 * (1 + np.abs(log_w).max())
    assert (b <= best + slack).all() and (b >= best - math.log(log_w.shape[0]) / t - slack).all()


def test_vr_max_puts_all_weight_on_the_first_largest_log_weight():
    log_w = np.array([[1.0, 2.0], [3.0, 2.0], [0.0, -1.0]])
    np.testing.assert_array_equal(renyi.normalized_weights(log_w, renyi.VR_MAX), [[0, 1], [1, 0], [0, 0]])


def test_float32_stays_float32(rng):
    log_w = rng.standard_normal((4, 3)).astype(np.float32)
    for alpha in (0.5, renyi.VR_MAX):
        assert renyi.bound(log_w, alpha).dtype == np.float32
        assert renyi.normalized_weights(log_w, alpha).dtype == np.float32


@pytest.mark.parametrize("alpha", [1, 1.0, math.nan, math.inf, "half", None, True])
def test_a_bad_alpha_is_one_clear_error_naming_alpha(alpha):
    with pytest.raises(ConfigError, match=r"^alpha \(the order of the Rényi bound\) must be") as e:
        renyi.bound(np.zeros((2, 1)), alpha)
    assert "\n" not in str(e.value) and repr(alpha) in str(e.value)
