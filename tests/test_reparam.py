"""The reparameterization trick z = mu + exp(logvar/2) * eps and its backward."""
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from minivae.gradcheck import numerical_gradient_array, rel_error
from minivae.kl import kl_divergence
from minivae.reparam import reparameterize, reparameterize_backward, sigma_from_logvar

finite = st.floats(-5, 5, allow_nan=False)


def test_sigma_is_exp_of_half_logvar():
    logvar = np.array([-2.0, 0.0, 3.0])
    np.testing.assert_allclose(sigma_from_logvar(logvar), np.exp(logvar / 2))
    np.testing.assert_allclose(sigma_from_logvar(logvar) ** 2, np.exp(logvar))


def test_backward_matches_finite_differences(rng):
    mu, logvar, eps, dz = (rng.standard_normal((6, 4)) for _ in range(4))
    dmu, dlogvar = reparameterize_backward(dz, reparameterize(mu, logvar, eps)[1])
    f = lambda: reparameterize(mu, logvar, eps)[0]  # noqa: E731
    assert rel_error(dmu, numerical_gradient_array(f, mu, dz)) < 1e-7
    assert rel_error(dlogvar, numerical_gradient_array(f, logvar, dz)) < 1e-7


def test_k_samples_sum_their_gradients(rng):
    """eps of K samples (K, N, D): dmu and dlogvar are the sums over k of the one-sample gradients."""
    mu, logvar = rng.standard_normal((3, 2)), rng.standard_normal((3, 2))
    eps, dz = rng.standard_normal((5, 3, 2)), rng.standard_normal((5, 3, 2))
    dmu, dlogvar = reparameterize_backward(dz, reparameterize(mu, logvar, eps)[1])
    assert dmu.shape == dlogvar.shape == (3, 2)
    np.testing.assert_allclose(dmu, dz.sum(axis=0), rtol=1e-12)
    np.testing.assert_allclose(dlogvar, (0.5 * dz * eps * np.exp(logvar / 2)).sum(axis=0), rtol=1e-12)
    f = lambda: reparameterize(mu, logvar, eps)[0]  # noqa: E731
    assert rel_error(dmu, numerical_gradient_array(f, mu, dz)) < 1e-7
    assert rel_error(dlogvar, numerical_gradient_array(f, logvar, dz)) < 1e-7


@settings(max_examples=50, deadline=None)
@given(arrays(np.float64, (3, 4), elements=finite), arrays(np.float64, (3, 4), elements=finite),
       arrays(np.float64, (3, 4), elements=finite), arrays(np.float64, (3, 4), elements=finite))
def test_gradient_equals_its_analytic_form(mu, logvar, eps, dz):
    """dmu = dz and dlogvar = dz * eps * sigma / 2, for any inputs."""
    dmu, dlogvar = reparameterize_backward(dz, reparameterize(mu, logvar, eps)[1])
    np.testing.assert_array_equal(dmu, dz)
    np.testing.assert_allclose(dlogvar, 0.5 * dz * eps * np.exp(0.5 * logvar), rtol=1e-12, atol=0)


def test_sampler_and_kl_agree_on_what_logvar_means():
    """Samples have variance exp(logvar), and the closed-form KL matches a Monte Carlo estimate with them."""
    rng = np.random.default_rng(1)
    mu, logvar = np.array([[0.7, -1.2]]), np.array([[0.8, -1.5]])
    eps = rng.standard_normal((400_000, 1, 2))
    z = reparameterize(mu, logvar, eps)[0][:, 0]
    np.testing.assert_allclose(z.var(axis=0), np.exp(logvar[0]), rtol=0.01)
    log_q = -0.5 * (eps[:, 0] ** 2 + logvar + np.log(2 * np.pi)).sum(-1)
    log_p = -0.5 * (z ** 2 + np.log(2 * np.pi)).sum(-1)
    assert abs((log_q - log_p).mean() - kl_divergence(mu, logvar)[0]) < 0.01
