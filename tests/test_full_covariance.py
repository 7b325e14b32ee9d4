"""The full-covariance posterior z = (L ⊙ L_mask + diag(sigma)) eps + mu, z ~ N(mu, C C^T)."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from minivae import get_backend
from minivae.errors import ConfigError, ShapeError
from minivae.full_covariance import (_gather_lower, _scatter_lower, full_kl, full_kl_backward, full_log_q,
                                     full_reparameterize, full_reparameterize_backward, lower_factor, tril_size)
from minivae.backend.cupy_backend import gpu_unavailable_reason
from minivae.gradcheck import numerical_gradient, numerical_gradient_array, rel_error
from minivae.kl import kl_backward, kl_divergence
from minivae.reparam import reparameterize, reparameterize_backward

S, N, M = 2, 3, 4
T = M * (M - 1) // 2
GPU_REASON = gpu_unavailable_reason()
BACKENDS = ["numpy", pytest.param("cupy", marks=[pytest.mark.gpu,
                                                   pytest.mark.skipif(GPU_REASON is not None, reason=str(GPU_REASON))])]


def posterior(rng, n=N, m=M):
    """mu, logvar (n, m) and l_flat (n, m(m-1)/2), float64."""
    return rng.standard_normal((n, m)), 0.5 * rng.standard_normal((n, m)), rng.standard_normal((n, tril_size(m)))


def gaussian_kl_linalg(mu, cov):
    """KL(N(mu, cov) || N(0, I)) = 1/2 (tr cov + |mu|^2 - M - log det cov), with numpy.linalg."""
    sign, logdet = np.linalg.slogdet(cov)
    assert sign > 0
    return 0.5 * (np.trace(cov) + mu @ mu - len(mu) - logdet)


def gaussian_log_density_linalg(z, mu, cov):
    """log N(z; mu, cov) = -1/2 (r^T cov^-1 r + log det cov + M log 2 pi), r = z - mu, with numpy.linalg."""
    r = z - mu
    _, logdet = np.linalg.slogdet(cov)
    return -0.5 * (r @ np.linalg.solve(cov, r) + logdet + len(mu) * np.log(2 * np.pi))


# ------------------------------------------------------------------ the factor C
def test_tril_size_counts_the_strictly_lower_entries():
    assert [tril_size(m) for m in (1, 2, 3, 4, 32)] == [0, 1, 3, 6, 496]
    assert tril_size(np.int64(5)) == len(np.tril_indices(5, -1)[0])
    for bad in (0, -2, 2.5, True, "4", None):
        with pytest.raises(ConfigError, match="positive integer"):
            tril_size(bad)


def test_lower_factor_puts_l_below_the_diagonal_in_tril_order_and_sigma_on_it(rng):
    _, logvar, l_flat = posterior(rng)
    C = lower_factor(l_flat, logvar)
    assert C.shape == (N, M, M)
    rows, cols = np.tril_indices(M, -1)
    np.testing.assert_array_equal(C[:, rows, cols], l_flat)                    # L ⊙ L_mask, in tril order
    np.testing.assert_array_equal(np.diagonal(C, axis1=1, axis2=2), np.exp(logvar / 2))   # diag(sigma)
    np.testing.assert_array_equal(np.triu(C, 1), 0)                            # lower triangular
    np.testing.assert_array_equal(C[:, 1, 0], l_flat[:, 0])                    # L_10 comes first
    np.testing.assert_array_equal(C[:, 2, 1], l_flat[:, 2])                    # then L_20, L_21


@pytest.mark.parametrize("m", [1, 2, 5, 33])
def test_the_gpu_indexing_path_and_the_numpy_row_block_path_agree(rng, m):
    """The factor is built (and dC read) row block by row block on NumPy, with one indexing kernel on a GPU:
    both must place l_flat at tril_indices(M, -1) and read it back from there."""
    l_flat, dC = rng.standard_normal((3, tril_size(m))), rng.standard_normal((3, m, m))
    rows, cols = np.tril_indices(m, -1)
    for by_rows in (True, False):
        C = np.zeros((3, m, m))
        _scatter_lower(C, l_flat, by_rows)
        expected = np.zeros((3, m, m))
        expected[:, rows, cols] = l_flat
        np.testing.assert_array_equal(C, expected)
        np.testing.assert_array_equal(_gather_lower(dC, by_rows), dC[:, rows, cols])


def test_one_latent_dimension_has_no_off_diagonal_entries(rng):
    mu, logvar, eps = rng.standard_normal((3, 1)), rng.standard_normal((3, 1)), rng.standard_normal((2, 3, 1))
    l_flat = np.zeros((3, 0))
    np.testing.assert_array_equal(lower_factor(l_flat, logvar)[:, 0, 0], np.exp(logvar[:, 0] / 2))
    z, cache = full_reparameterize(mu, logvar, l_flat, eps)
    np.testing.assert_array_equal(z, reparameterize(mu, logvar, eps)[0])
    assert full_reparameterize_backward(np.ones_like(z), cache)[2].shape == (3, 0)


# ------------------------------------------------------------- gradient checks
def test_reparameterize_backward_matches_finite_differences(rng):
    """S = 2 samples of N = 3 examples in M = 4 dimensions: dmu, dlogvar, dl_flat summed over the samples."""
    mu, logvar, l_flat = posterior(rng)
    eps, dz = rng.standard_normal((S, N, M)), rng.standard_normal((S, N, M))
    z, cache = full_reparameterize(mu, logvar, l_flat, eps)
    assert z.shape == (S, N, M)
    dmu, dlogvar, dl_flat = full_reparameterize_backward(dz, cache)
    assert dmu.shape == dlogvar.shape == (N, M) and dl_flat.shape == (N, T)
    f = lambda: full_reparameterize(mu, logvar, l_flat, eps)[0]  # noqa: E731
    assert rel_error(dmu, numerical_gradient_array(f, mu, dz)) < 1e-7
    assert rel_error(dlogvar, numerical_gradient_array(f, logvar, dz)) < 1e-7
    assert rel_error(dl_flat, numerical_gradient_array(f, l_flat, dz)) < 1e-7


def test_one_sample_eps_of_shape_n_m_is_the_s_equals_1_case(rng):
    mu, logvar, l_flat = posterior(rng)
    eps, dz = rng.standard_normal((N, M)), rng.standard_normal((N, M))
    z, cache = full_reparameterize(mu, logvar, l_flat, eps)
    z3, cache3 = full_reparameterize(mu, logvar, l_flat, eps[None])
    np.testing.assert_array_equal(z, z3[0])
    for g, g3 in zip(full_reparameterize_backward(dz, cache), full_reparameterize_backward(dz[None], cache3)):
        np.testing.assert_array_equal(g, g3)
    f = lambda: full_reparameterize(mu, logvar, l_flat, eps)[0]  # noqa: E731
    for grad, param in zip(full_reparameterize_backward(dz, cache), (mu, logvar, l_flat)):
        assert rel_error(grad, numerical_gradient_array(f, param, dz)) < 1e-7


@pytest.mark.parametrize("weight", ["scalar", "per example (N,)", "per example (N, 1)"])
def test_kl_backward_matches_finite_differences(rng, weight):
    mu, logvar, l_flat = posterior(rng)
    w = rng.standard_normal(N)
    dkl = {"scalar": 0.7, "per example (N,)": w, "per example (N, 1)": w[:, None]}[weight]
    dout = np.full(N, 0.7) if weight == "scalar" else w
    dmu, dlogvar, dl_flat = full_kl_backward(dkl, mu, logvar, l_flat)
    assert dmu.shape == dlogvar.shape == (N, M) and dl_flat.shape == (N, T)
    f = lambda: full_kl(mu, logvar, l_flat)  # noqa: E731
    assert rel_error(dmu, numerical_gradient_array(f, mu, dout)) < 1e-7
    assert rel_error(dlogvar, numerical_gradient_array(f, logvar, dout)) < 1e-7
    assert rel_error(dl_flat, numerical_gradient_array(f, l_flat, dout)) < 1e-7


def test_log_q_path_gradient_is_minus_one_half_for_logvar_and_zero_for_mu_and_l(rng):
    """log q at z = C eps + mu with eps fixed, computed as the N(mu, C C^T) density of z (numpy.linalg)."""
    mu, logvar, l_flat = posterior(rng, n=1, m=3)
    eps = rng.standard_normal((1, 3))

    def log_q_of_z():
        z = full_reparameterize(mu, logvar, l_flat, eps)[0][0]
        C = lower_factor(l_flat, logvar)[0]
        return gaussian_log_density_linalg(z, mu[0], C @ C.T)

    assert rel_error(numerical_gradient(log_q_of_z, logvar), np.full((1, 3), -0.5)) < 1e-7
    assert np.max(np.abs(numerical_gradient(log_q_of_z, mu))) < 1e-8
    assert np.max(np.abs(numerical_gradient(log_q_of_z, l_flat))) < 1e-8


# ------------------------------------------------------------ the distribution
def test_kl_equals_the_general_gaussian_kl_of_c_c_transpose(rng):
    mu, logvar, l_flat = posterior(rng)
    C = lower_factor(l_flat, logvar)
    expected = [gaussian_kl_linalg(mu[n], C[n] @ C[n].T) for n in range(N)]
    np.testing.assert_allclose(full_kl(mu, logvar, l_flat), expected, rtol=1e-12)


def test_log_q_equals_the_density_of_n_mu_c_c_transpose_at_z(rng):
    mu, logvar, l_flat = posterior(rng)
    eps = rng.standard_normal((S, N, M))
    z = full_reparameterize(mu, logvar, l_flat, eps)[0]
    C = lower_factor(l_flat, logvar)
    expected = [[gaussian_log_density_linalg(z[s, n], mu[n], C[n] @ C[n].T) for n in range(N)] for s in range(S)]
    log_q = full_log_q(eps, logvar)
    assert log_q.shape == (S, N)
    np.testing.assert_allclose(log_q, expected, rtol=1e-10)
    np.testing.assert_array_equal(full_log_q(eps[0], logvar), log_q[0])


def test_samples_have_mean_mu_and_covariance_c_c_transpose():
    rng = np.random.default_rng(7)
    mu, logvar, l_flat = np.array([[0.5, -1.0, 2.0]]), np.array([[0.3, -0.8, 0.1]]), np.array([[0.9, -0.6, 1.2]])
    C = lower_factor(l_flat, logvar)[0]
    cov = C @ C.T
    n_samples = 200_000
    z = full_reparameterize(mu, logvar, l_flat, rng.standard_normal((n_samples, 1, 3)))[0][:, 0]
    # standard errors: of the mean sqrt(cov_ii / S), of cov_ij sqrt((cov_ii cov_jj + cov_ij^2) / S)
    se_mean = np.sqrt(np.diag(cov) / n_samples)
    se_cov = np.sqrt((np.outer(np.diag(cov), np.diag(cov)) + cov ** 2) / n_samples)
    assert np.all(np.abs(z.mean(axis=0) - mu[0]) < 5 * se_mean)
    assert np.all(np.abs(np.cov(z, rowvar=False) - cov) < 5 * se_cov)
    assert abs(cov[2, 0]) > 20 * se_cov[2, 0]                    # the correlations are really there


@pytest.mark.parametrize("eps_shape", [(S, N, M), (1, N, M), (N, M)])
def test_with_l_zero_everything_is_the_diagonal_posterior(rng, eps_shape):
    """z = mu + sigma * eps and KL = kl_divergence exactly; the gradients to rounding."""
    mu, logvar, _ = posterior(rng)
    l_flat = np.zeros((N, T))
    eps, dz, dkl = rng.standard_normal(eps_shape), rng.standard_normal(eps_shape), rng.standard_normal(N)
    z, cache = full_reparameterize(mu, logvar, l_flat, eps)
    z_diag, cache_diag = reparameterize(mu, logvar, eps)
    np.testing.assert_array_equal(z, z_diag)
    dmu, dlogvar, _ = full_reparameterize_backward(dz, cache)
    dmu_diag, dlogvar_diag = reparameterize_backward(dz, cache_diag)
    np.testing.assert_allclose(dmu, dmu_diag, rtol=1e-14)
    np.testing.assert_allclose(dlogvar, dlogvar_diag, rtol=1e-12)
    np.testing.assert_array_equal(full_kl(mu, logvar, l_flat), kl_divergence(mu, logvar))
    dmu, dlogvar, dl_flat = full_kl_backward(dkl, mu, logvar, l_flat)
    for g, g_diag in zip((dmu, dlogvar), kl_backward(dkl[:, None], mu, logvar)):
        np.testing.assert_array_equal(g, g_diag)
    np.testing.assert_array_equal(dl_flat, 0)
    log_q_diag = -0.5 * (eps ** 2 + logvar + np.log(2 * np.pi)).sum(axis=-1)
    np.testing.assert_allclose(full_log_q(eps, logvar), log_q_diag, rtol=1e-14)


nonzero = st.one_of(st.just(0.0), st.floats(-6, -1e-3), st.floats(1e-3, 6))


@settings(max_examples=100, deadline=None)
@given(arrays(np.float64, (4, 3), elements=nonzero), arrays(np.float64, (4, 3), elements=nonzero),
       arrays(np.float64, (4, 3), elements=nonzero))
def test_kl_is_nonnegative_and_zero_only_at_the_prior(mu, logvar, l_flat):
    kl = full_kl(mu, logvar, l_flat)
    assert np.all(kl >= 0)
    at_prior = np.all(mu == 0, axis=1) & np.all(logvar == 0, axis=1) & np.all(l_flat == 0, axis=1)
    np.testing.assert_array_equal(kl == 0, at_prior)


def test_kl_of_tiny_logvar_does_not_round_below_zero():
    logvar = np.array([[1e-9, -1e-9, 3e-8]], dtype=np.float32)
    assert np.all(full_kl(np.zeros_like(logvar), logvar, np.zeros((1, 3), np.float32)) >= 0)


# ------------------------------------------------------------ dtypes, backends
def every_output(mu, logvar, l_flat, eps, dz):
    """C, z, the three reparameterization gradients, the KL, its three gradients and log q."""
    z, cache = full_reparameterize(mu, logvar, l_flat, eps)
    return [lower_factor(l_flat, logvar), z, *full_reparameterize_backward(dz, cache), full_kl(mu, logvar, l_flat),
            *full_kl_backward(mu[:, 0], mu, logvar, l_flat), full_log_q(eps, logvar)]


@pytest.mark.parametrize("name", BACKENDS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_every_backend_keeps_the_dtype_and_gives_numpys_numbers(name, dtype):
    backend = get_backend(name)
    rng = np.random.default_rng(3)
    host = [a.astype(dtype) for a in (*posterior(rng), rng.standard_normal((S, N, M)), rng.standard_normal((S, N, M)))]
    outputs = every_output(*(backend.asarray(a) for a in host))
    rtol = 1e-5 if dtype == "float32" else 1e-12
    for out, expected in zip(outputs, every_output(*host), strict=True):
        assert type(out).__module__.split(".")[0] == backend.xp.__name__ and out.dtype == np.dtype(dtype)
        np.testing.assert_allclose(backend.to_numpy(out), expected, rtol=rtol, atol=rtol)


def test_backward_does_not_write_into_its_arguments(rng):
    mu, logvar, l_flat = posterior(rng)
    eps, dz = rng.standard_normal((S, N, M)), rng.standard_normal((S, N, M))
    _, cache = full_reparameterize(mu, logvar, l_flat, eps)
    before = [a.copy() for a in (dz, eps, mu, logvar, l_flat)]
    full_reparameterize_backward(dz, cache)
    full_kl_backward(np.ones(N), mu, logvar, l_flat)
    for a, b in zip((dz, eps, mu, logvar, l_flat), before):
        np.testing.assert_array_equal(a, b)


# ------------------------------------------------------------------ bad input
def test_mismatched_shapes_raise_shape_errors(rng):
    mu, logvar, l_flat = posterior(rng)
    eps = rng.standard_normal((S, N, M))
    with pytest.raises(ShapeError, match=r"l_flat must have shape \(N, M\(M-1\)/2\) = \(3, 6\).*got \(3, 5\)"):
        full_reparameterize(mu, logvar, l_flat[:, :5], eps)
    with pytest.raises(ShapeError, match="l_flat"):
        lower_factor(l_flat[:2], logvar)
    with pytest.raises(ShapeError, match="l_flat"):
        full_kl(mu, logvar, np.zeros((N, M, M)))                     # the full matrix, not its lower entries
    with pytest.raises(ShapeError, match="logvar must have shape"):
        lower_factor(l_flat, logvar[0])
    with pytest.raises(ShapeError, match="mu must have"):
        full_kl(mu[:, :3], logvar, l_flat)
    with pytest.raises(ShapeError, match="mu must have"):
        full_kl_backward(1.0, mu[:2], logvar, l_flat)
    with pytest.raises(ShapeError, match="eps must have shape"):
        full_reparameterize(mu, logvar, l_flat, eps[:, :2])
    with pytest.raises(ShapeError, match="eps must have shape"):
        full_reparameterize(mu, logvar, l_flat, eps[None])
    z, cache = full_reparameterize(mu, logvar, l_flat, eps)
    with pytest.raises(ShapeError, match=r"dz must have z's shape \(2, 3, 4\)"):
        full_reparameterize_backward(z[0], cache)
    with pytest.raises(ShapeError, match="dkl must be a scalar, \\(N,\\) or \\(N, 1\\)"):
        full_kl_backward(np.ones(M), mu, logvar, l_flat)
    with pytest.raises(ShapeError, match="dkl"):
        full_kl_backward(np.ones((N, M)), mu, logvar, l_flat)
    with pytest.raises(ShapeError, match="eps must have shape"):
        full_log_q(eps[..., :3], logvar)
