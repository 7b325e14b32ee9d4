"""Bernoulli and Gaussian log-likelihoods, their gradients, and log-sum-exp."""
import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from minivae.gradcheck import numerical_gradient_array, rel_error
from minivae.likelihoods import (bernoulli_log_likelihood, bernoulli_log_likelihood_backward,
                                 gaussian_log_likelihood, gaussian_log_likelihood_backward, softplus)
from minivae.logsumexp import logsumexp, softmax


def test_bernoulli_matches_the_textbook_formula(rng):
    x, logits = rng.random((4, 6)), rng.standard_normal((4, 6))
    p = 1 / (1 + np.exp(-logits))
    expected = (x * np.log(p) + (1 - x) * np.log(1 - p)).sum(-1)
    np.testing.assert_allclose(bernoulli_log_likelihood(x, logits), expected, rtol=1e-12)


@settings(max_examples=100, deadline=None)
@given(arrays(np.float64, (3, 5), elements=st.sampled_from([-1e4, -1e3, -50.0, 0.0, 50.0, 1e3, 1e4])),
       arrays(np.float64, (3, 5), elements=st.floats(0, 1)))
def test_bernoulli_is_finite_for_extreme_logits(logits, x):
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        ll = bernoulli_log_likelihood(x, logits)
        g = bernoulli_log_likelihood_backward(np.ones(3), x, logits)
    assert np.all(np.isfinite(ll)) and np.all(ll <= 1e-12) and np.all(np.isfinite(g))


def test_bernoulli_float32_extreme_logits_are_finite():
    logits = np.array([[-1e4, 1e4, 0.0]], dtype=np.float32)
    x = np.array([[1.0, 0.0, 1.0]], dtype=np.float32)
    ll = bernoulli_log_likelihood(x, logits)
    np.testing.assert_allclose(ll, [-1e4 - 1e4 - math.log(2)], rtol=1e-6)
    assert ll.dtype == np.float32


def test_bernoulli_gradient(rng):
    x, logits, dll = rng.random((4, 6)), rng.standard_normal((4, 6)) * 3, rng.standard_normal(4)
    g = bernoulli_log_likelihood_backward(dll, x, logits)
    assert rel_error(g, numerical_gradient_array(lambda: bernoulli_log_likelihood(x, logits), logits, dll)) < 1e-7


def test_softplus_stable():
    a = np.array([-800.0, -20.0, 0.0, 20.0, 800.0])
    np.testing.assert_allclose(softplus(a), [0.0, math.log1p(math.exp(-20)), math.log(2), 20 + math.log1p(math.exp(-20)), 800.0])


def test_gaussian_fixed_variance_is_mse_plus_constant(rng):
    x, mean = rng.random((3, 5)), rng.random((3, 5))
    sigma2 = 0.3
    ll = gaussian_log_likelihood(x, mean, math.log(sigma2))
    expected = -((x - mean) ** 2).sum(-1) / (2 * sigma2) - 5 / 2 * math.log(2 * math.pi * sigma2)
    np.testing.assert_allclose(ll, expected)


def test_gaussian_gradients_fixed_and_learned(rng):
    x, mean, dll = rng.random((4, 5)), rng.random((4, 5)), rng.standard_normal(4)
    dmean, none = gaussian_log_likelihood_backward(dll, x, mean, 0.2)
    assert none is None
    assert rel_error(dmean, numerical_gradient_array(lambda: gaussian_log_likelihood(x, mean, 0.2), mean, dll)) < 1e-7
    logvar = rng.standard_normal(5)
    dmean, dlogvar = gaussian_log_likelihood_backward(dll, x, mean, logvar)
    f = lambda: gaussian_log_likelihood(x, mean, logvar)  # noqa: E731
    assert dlogvar.shape == (5,)
    assert rel_error(dmean, numerical_gradient_array(f, mean, dll)) < 1e-7
    assert rel_error(dlogvar, numerical_gradient_array(f, logvar, dll)) < 1e-7


@settings(max_examples=100, deadline=None)
@given(arrays(np.float64, (4, 6), elements=st.floats(-1e300, 1e300)))
def test_logsumexp_never_overflows(a):
    """max_i a_i <= logsumexp(a) <= max_i a_i + log n, and it is NumPy's logaddexp reduction (float64)."""
    out = logsumexp(a, axis=1)
    m, slack = a.max(axis=1), 1e-9 * np.abs(a.max(axis=1))      # slack: rounding of m itself near 1e300
    assert np.all(np.isfinite(out))
    assert np.all(out >= m - slack)
    assert np.all(out <= m + math.log(a.shape[1]) + slack)
    np.testing.assert_allclose(out, np.logaddexp.reduce(a, axis=1), rtol=1e-12, atol=1e-12)


def test_logsumexp_values():
    a = np.array([[1000.0, 1000.0], [-np.inf, -np.inf], [0.0, math.log(3.0)]])
    np.testing.assert_allclose(logsumexp(a, axis=1), [1000 + math.log(2), -np.inf, math.log(4.0)])
    np.testing.assert_allclose(softmax(np.array([[0.0, math.log(3.0)]])), [[0.25, 0.75]])
