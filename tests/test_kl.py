"""Closed-form KL(N(mu, sigma^2) || N(0, I)) and its gradient."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from minivae.gradcheck import numerical_gradient, numerical_gradient_array, rel_error
from minivae.kl import free_bits_kl, kl_backward, kl_divergence, kl_per_dim

vals = st.floats(-6, 6, allow_nan=False)


def test_kl_formula_and_special_cases():
    mu, logvar = np.array([[1.0, -2.0]]), np.array([[0.5, -1.0]])
    expected = 0.5 * np.sum(mu ** 2 + np.exp(logvar) - logvar - 1)
    np.testing.assert_allclose(kl_divergence(mu, logvar), [expected])
    # sigma = 1: KL = |mu|^2 / 2;  mu = 0: KL = 1/2 sum(sigma^2 - log sigma^2 - 1)
    np.testing.assert_allclose(kl_divergence(mu, np.zeros_like(mu)), [0.5 * 5.0])
    np.testing.assert_allclose(kl_divergence(np.zeros_like(mu), logvar),
                               [0.5 * np.sum(np.exp(logvar) - logvar - 1)])


@settings(max_examples=100, deadline=None)
@given(arrays(np.float64, (4, 3), elements=vals), arrays(np.float64, (4, 3), elements=vals))
def test_kl_is_nonnegative_and_zero_only_at_the_prior(mu, logvar):
    kl = kl_divergence(mu, logvar)
    assert np.all(kl >= 0)
    at_prior = np.all((mu == 0) & (logvar == 0), axis=1)
    assert np.all(kl[at_prior] == 0)
    np.testing.assert_array_equal(kl_divergence(np.zeros_like(mu), np.zeros_like(logvar)), 0)


@settings(max_examples=50, deadline=None)
@given(arrays(np.float64, (2, 3), elements=st.floats(-3, 3).filter(lambda v: abs(v) > 1e-3)),
       arrays(np.float64, (2, 3), elements=st.floats(-3, 3).filter(lambda v: abs(v) > 1e-3)))
def test_kl_positive_away_from_the_prior(mu, logvar):
    assert np.all(kl_divergence(mu, logvar) > 0)


def test_kl_gradient_matches_finite_differences(rng):
    mu, logvar, dkl = rng.standard_normal((5, 3)), rng.standard_normal((5, 3)), rng.standard_normal(5)
    dmu, dlogvar = kl_backward(dkl[:, None], mu, logvar)
    f = lambda: kl_divergence(mu, logvar)  # noqa: E731
    assert rel_error(dmu, numerical_gradient_array(f, mu, dkl)) < 1e-7
    assert rel_error(dlogvar, numerical_gradient_array(f, logvar, dkl)) < 1e-7


def test_kl_gradient_closed_form(rng):
    mu, logvar = rng.standard_normal((2, 4)), rng.standard_normal((2, 4))
    dmu, dlogvar = kl_backward(1.0, mu, logvar)
    np.testing.assert_allclose(dmu, mu)
    np.testing.assert_allclose(dlogvar, 0.5 * (np.exp(logvar) - 1))


def test_kl_per_dim_sums_to_kl(rng):
    mu, logvar = rng.standard_normal((3, 5)), rng.standard_normal((3, 5))
    np.testing.assert_allclose(kl_per_dim(mu, logvar).sum(-1), kl_divergence(mu, logvar))


def test_free_bits_floor_and_subgradient(rng):
    mu = np.concatenate([rng.standard_normal((8, 2)) * 2, rng.standard_normal((8, 2)) * 0.01], axis=1)
    logvar = np.concatenate([rng.standard_normal((8, 2)), np.zeros((8, 2))], axis=1)
    lam = 0.5
    value, active = free_bits_kl(mu, logvar, lam)
    kl_j = kl_per_dim(mu, logvar).mean(axis=0)
    assert list(active) == [True, True, False, False]
    assert value == pytest.approx(kl_j[:2].sum() + 2 * lam)
    num = numerical_gradient(lambda: free_bits_kl(mu, logvar, lam)[0], mu)
    dmu, _ = kl_backward(active / 8.0, mu, logvar)
    assert rel_error(dmu, num) < 1e-7


def test_per_dimension_weight_is_not_mistaken_for_per_example_when_n_equals_d():
    mu, logvar = np.ones((4, 4)), np.zeros((4, 4))
    dmu, _ = kl_backward(np.array([1.0, 0.0, 0.0, 0.0]), mu, logvar)
    np.testing.assert_array_equal(dmu[:, 0], 1.0)
    np.testing.assert_array_equal(dmu[:, 1:], 0.0)
