"""minivae.mixture: log p(z) of a mixture of diagonal Gaussians, its gradients, and its precision.

The oracle is the definition written out per component in float64:
log N_c(z) = -1/2 sum_m [(z_m - mu_cm)^2 / sigma_cm^2 + logvar_cm + log 2 pi], then the
log of sum_c pi_c N_c(z). Gradients are checked against central differences in float64.
"""
import math
import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minivae.errors import ShapeError
from minivae.backend.cupy_backend import gpu_unavailable_reason
from minivae.gradcheck import numerical_gradient_array, rel_error
from minivae.likelihoods import gaussian_log_likelihood
from minivae.mixture import mixture_log_prob, mixture_log_prob_backward, responsibilities

TOL = 1e-7
LOG_2PI = math.log(2 * math.pi)
GPU_REASON = gpu_unavailable_reason()


def mixture(R=7, C=3, M=4, seed=0, dtype="float64", spread=1.0):
    """z (R, M), means, logvars (C, M), normalized log_weights (C,): a well-mixed random mixture."""
    rng = np.random.default_rng(seed)
    z = spread * rng.standard_normal((R, M))
    means = spread * rng.standard_normal((C, M))
    logvars = 0.5 * rng.standard_normal((C, M))
    log_weights = rng.standard_normal(C)
    log_weights -= np.log(np.exp(log_weights).sum())
    return [a.astype(dtype) for a in (z, means, logvars, log_weights)]


def log_normal_per_component(z, means, logvars):
    """log N_c(z_r) (R, C), one component at a time (the definition; an (R, M) array per c)."""
    cols = [-0.5 * (((z - mu) ** 2 / np.exp(lv)) + lv + LOG_2PI).sum(axis=1) for mu, lv in zip(means, logvars)]
    return np.stack(cols, axis=1)


def brute_force(z, means, logvars, log_weights):
    """log sum_c pi_c N_c(z): exp and sum, no shift (fine for moderate inputs)."""
    return np.log((np.exp(log_weights) * np.exp(log_normal_per_component(z, means, logvars))).sum(axis=1))


def direct(z, means, logvars, log_weights):
    """The same density from the (R, C, M) differences, with a stable logsumexp, in the inputs' dtype."""
    d = z[:, None, :] - means[None]                                  # (R, C, M)
    a = log_weights - 0.5 * ((d * d * np.exp(-logvars)).sum(axis=2) + logvars.sum(axis=1) + z.shape[1] * LOG_2PI)
    m = a.max(axis=1, keepdims=True)
    return (m + np.log(np.exp(a - m).sum(axis=1, keepdims=True)))[:, 0]


def test_log_prob_equals_the_brute_force_sum_over_components():
    args = mixture(R=20, C=5, M=6, seed=1)
    logp, _ = mixture_log_prob(*args)
    assert logp.shape == (20,) and logp.dtype == np.float64
    np.testing.assert_allclose(logp, brute_force(*args), rtol=1e-12, atol=1e-12)


def test_one_component_with_log_weight_zero_is_the_diagonal_gaussian_density():
    z, means, logvars, _ = mixture(R=9, C=1, M=5, seed=2)
    logp, cache = mixture_log_prob(z, means, logvars, np.zeros(1))
    want = -0.5 * ((z - means) ** 2 / np.exp(logvars) + logvars + LOG_2PI).sum(axis=1)
    np.testing.assert_allclose(logp, want, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(logp, gaussian_log_likelihood(z, means, logvars), rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(responsibilities(cache), np.ones((9, 1)))


def test_a_mixture_of_identical_components_is_that_component():
    z, means, logvars, _ = mixture(R=8, C=1, M=3, seed=3)
    C = 4
    logp, cache = mixture_log_prob(z, np.repeat(means, C, 0), np.repeat(logvars, C, 0), np.full(C, -np.log(C)))
    np.testing.assert_allclose(logp, mixture_log_prob(z, means, logvars, np.zeros(1))[0], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(responsibilities(cache), np.full((8, C), 1 / C), rtol=1e-12)


def test_all_four_gradients_match_finite_differences():
    z, means, logvars, log_weights = mixture(R=7, C=3, M=4, seed=4)
    dlogp = np.random.default_rng(5).standard_normal(7)
    grads = mixture_log_prob_backward(dlogp, mixture_log_prob(z, means, logvars, log_weights)[1])
    for name, x, dx in zip(["z", "means", "logvars", "log_weights"], (z, means, logvars, log_weights), grads):
        num = numerical_gradient_array(lambda: mixture_log_prob(z, means, logvars, log_weights)[0], x, dlogp,
                                       h=1e-3, order=4)
        assert dx.shape == x.shape, name
        assert rel_error(dx, num) < TOL, name


def test_backward_reads_but_never_writes_its_inputs():
    args = mixture(seed=6)
    before = [a.copy() for a in args]
    dlogp = np.ones(7)
    _, cache = mixture_log_prob(*args)
    r = responsibilities(cache).copy()
    mixture_log_prob_backward(dlogp, cache)
    for a, b in zip(args, before):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(dlogp, np.ones(7))
    np.testing.assert_array_equal(responsibilities(cache), r)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**16), shift=st.floats(-50, 50), C=st.integers(1, 6))
def test_a_constant_added_to_every_log_weight_shifts_logp_and_leaves_the_gradients(seed, shift, C):
    """r = softmax(a) does not see a common shift, so no gradient does; dlog_weights = sum_r dlogp_r r_rc too."""
    z, means, logvars, log_weights = mixture(R=5, C=C, M=3, seed=seed)
    dlogp = np.random.default_rng(seed + 1).standard_normal(5)
    logp, cache = mixture_log_prob(z, means, logvars, log_weights)
    logp2, cache2 = mixture_log_prob(z, means, logvars, log_weights + shift)
    np.testing.assert_allclose(logp2, logp + shift, rtol=1e-12, atol=1e-12)
    grads = mixture_log_prob_backward(dlogp, cache)
    grads2 = mixture_log_prob_backward(dlogp, cache2)
    for g, g2 in zip(grads, grads2):
        np.testing.assert_allclose(g2, g, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(grads2[3], dlogp @ responsibilities(cache2), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_responsibilities_are_the_posterior_over_components_and_rows_sum_to_one(dtype):
    args = mixture(R=11, C=6, M=4, seed=7, dtype=dtype)
    r = responsibilities(mixture_log_prob(*args)[1])
    assert r.shape == (11, 6) and r.dtype == np.dtype(dtype)
    np.testing.assert_allclose(r.sum(axis=1), 1, rtol=1e-6 if dtype == "float32" else 1e-14)
    a = args[3] + log_normal_per_component(*[x.astype(np.float64) for x in args[:3]])
    want = np.exp(a - a.max(axis=1, keepdims=True))
    np.testing.assert_allclose(r, want / want.sum(axis=1, keepdims=True), rtol=1e-4 if dtype == "float32" else 1e-11,
                               atol=1e-6 if dtype == "float32" else 1e-13)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_z_far_from_every_mean_gives_a_finite_log_prob_dominated_by_the_nearest_component(dtype):
    z, means, logvars, log_weights = mixture(R=6, C=4, M=3, seed=8)
    z = z + 1e3
    z[:3] = -z[:3]
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        logp, cache = mixture_log_prob(*[a.astype(dtype) for a in (z, means, logvars, log_weights)])
        grads = mixture_log_prob_backward(np.ones(6, dtype), cache)
    assert np.all(np.isfinite(logp)) and all(np.all(np.isfinite(g)) for g in grads)
    a = log_weights + log_normal_per_component(z, means, logvars)                 # ~ -1e6 each, float64
    np.testing.assert_allclose(logp, a.max(axis=1), rtol=1e-6 if dtype == "float32" else 1e-10)
    np.testing.assert_allclose(responsibilities(cache).sum(axis=1), 1, rtol=1e-6)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_outputs_and_gradients_stay_in_the_inputs_dtype(dtype):
    args = mixture(dtype=dtype)
    logp, cache = mixture_log_prob(*args)
    assert logp.dtype == np.dtype(dtype)
    for g, a in zip(mixture_log_prob_backward(np.ones(7, dtype), cache), args):
        assert g.dtype == np.dtype(dtype) and g.shape == a.shape


def test_float32_precision_of_the_expanded_quadratic_is_measured(record_property):
    """|z|, |mu| <= 10, sigma^2 in [e^-2, e^2], M = 32; 100 of the 400 rows sit next to a mean.

    Measured here: expanded float32 within 6.0e-4 nats of float64, the direct (R, C, M) formula in
    float32 within 2.2e-4; float64 expanded within 1.2e-12. The bounds leave a 4-5x margin.
    """
    rng = np.random.default_rng(9)
    R, C, M = 400, 40, 32
    z, means = rng.uniform(-10, 10, (R, M)), rng.uniform(-10, 10, (C, M))
    logvars = rng.uniform(-2, 2, (C, M))
    log_weights = np.full(C, -np.log(C))
    z[:100] = means[rng.integers(0, C, 100)] + 0.01 * rng.standard_normal((100, M))
    truth = direct(z, means, logvars, log_weights)
    f32 = [a.astype(np.float32) for a in (z, means, logvars, log_weights)]
    err_expanded = np.abs(mixture_log_prob(*f32)[0] - truth).max()
    err_direct = np.abs(direct(*f32) - truth).max()
    err64 = np.abs(mixture_log_prob(z, means, logvars, log_weights)[0] - truth).max()
    record_property("float32_expanded_max_abs_error_nats", float(err_expanded))
    record_property("float32_direct_max_abs_error_nats", float(err_direct))
    print(f"float32 log p(z) error (nats): expanded {err_expanded:.2e}, direct {err_direct:.2e}; float64 {err64:.1e}")
    assert err_expanded < 3e-3 and err_direct < 1e-3 and err64 < 1e-10


def test_quad_is_clamped_at_zero_so_z_at_a_mean_never_beats_the_peak_density():
    """z == mu with |mu| ~ 100 >> sigma: the float32 expansion rounds to quad < 0 (down to -0.06) in ~1 of 5 draws."""
    for seed in range(40):
        rng = np.random.default_rng(seed)
        means = rng.uniform(-100, 100, (1, 16)).astype(np.float32)
        logvars = rng.uniform(-3, 0, (1, 16)).astype(np.float32)
        logp, _ = mixture_log_prob(means.copy(), means, logvars, np.zeros(1, np.float32))
        peak = -0.5 * (logvars.astype(np.float64).sum() + 16 * LOG_2PI)
        assert logp[0] <= peak + 1e-5 * abs(peak), seed


def test_no_r_c_m_temporary_is_formed():
    """Peak memory stays at a few (R, C) arrays; one (R, C, M) float64 temporary would be 64x larger."""
    z, means, logvars, log_weights = mixture(R=400, C=200, M=64, seed=10)
    tracemalloc.start()
    try:
        _, cache = mixture_log_prob(z, means, logvars, log_weights)
        mixture_log_prob_backward(np.ones(400), cache)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 * (400 * 200) * 8, f"peak {peak / 2**20:.1f} MiB"


@pytest.mark.parametrize("bad, match", [
    (dict(z=np.zeros(4)), r"z must be an array of shape \(R, M\).*got \(4,\)"),
    (dict(z=[[0.0] * 4]), r"z must be an array of shape \(R, M\).*got list"),
    (dict(means=np.zeros((3, 5))), r"means must have shape \(C, 4\).*got \(3, 5\)"),
    (dict(means=np.zeros((0, 4)), logvars=np.zeros((0, 4)), log_weights=np.zeros(0)), r"C >= 1.*got \(0, 4\)"),
    (dict(logvars=np.zeros((2, 4))), r"logvars must have the shape of means, \(3, 4\), got \(2, 4\)"),
    (dict(logvars=np.zeros(4)), r"logvars must have the shape of means, \(3, 4\), got \(4,\)"),
    (dict(log_weights=np.zeros(2)), r"log_weights must have shape \(3,\).*got \(2,\)"),
    (dict(log_weights=np.zeros((3, 1))), r"log_weights must have shape \(3,\).*got \(3, 1\)"),
])
def test_mismatched_shapes_are_clear_errors(bad, match):
    args = dict(zip(["z", "means", "logvars", "log_weights"], mixture(R=2, C=3, M=4)))
    args.update(bad)
    with pytest.raises(ShapeError, match=match):
        mixture_log_prob(**args)


def test_backward_refuses_a_dlogp_of_the_wrong_shape():
    _, cache = mixture_log_prob(*mixture(R=7))
    with pytest.raises(ShapeError, match=r"dlogp must have shape \(7,\).*got \(7, 1\)"):
        mixture_log_prob_backward(np.ones((7, 1)), cache)


@pytest.mark.gpu
@pytest.mark.skipif(GPU_REASON is not None, reason=str(GPU_REASON))
@pytest.mark.parametrize("dtype, rtol", [("float64", 1e-12), ("float32", 1e-5)])
def test_cupy_gives_numpys_numbers(dtype, rtol):
    import cupy

    args = mixture(R=50, C=8, M=6, seed=11, dtype=dtype)
    dlogp = np.random.default_rng(12).standard_normal(50).astype(dtype)
    logp, cache = mixture_log_prob(*args)
    logp_gpu, cache_gpu = mixture_log_prob(*[cupy.asarray(a) for a in args])
    assert isinstance(logp_gpu, cupy.ndarray) and logp_gpu.dtype == np.dtype(dtype)
    np.testing.assert_allclose(logp_gpu.get(), logp, rtol=rtol, atol=rtol * np.abs(logp).max())
    want = mixture_log_prob_backward(dlogp, cache)
    got = mixture_log_prob_backward(cupy.asarray(dlogp), cache_gpu)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g.get(), w, rtol=rtol, atol=rtol * np.abs(w).max())
