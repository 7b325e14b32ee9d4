"""MMD^2 between samples: the value against a double loop, the gradient against finite differences,
what a divergence must do (0 on equal samples, >= 0 biased, separates distributions), and the errors."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from minivae.errors import ConfigError, ShapeError
from minivae.gradcheck import numerical_gradient, rel_error
from minivae.mmd import KERNELS, kernel_scale, mmd, mmd_backward, squared_distances

TOL = 1e-7
CASES = [(kernel, unbiased) for kernel in KERNELS for unbiased in (True, False)]


def brute_force_mmd(z, zp, kernel, scale, unbiased):
    """The definition, one pair at a time, in float64: no Gram matrices, no shortcuts."""
    def k(a, b):
        d = float(np.sum((a - b) ** 2))
        return np.exp(-d / scale) if kernel == "rbf" else scale / (scale + d)

    def within(x):
        n = len(x)
        total = sum(k(x[i], x[j]) for i in range(n) for j in range(n) if not (unbiased and i == j))
        return total / (n * (n - 1) if unbiased else n * n)

    cross = sum(k(a, b) for a in z for b in zp) / (len(z) * len(zp))
    return within(z) + within(zp) - 2 * cross


@pytest.mark.parametrize("kernel, unbiased", CASES)
@pytest.mark.parametrize("scale", [None, 0.7])
def test_value_equals_the_double_loop(kernel, unbiased, scale, rng):
    z, zp = rng.standard_normal((7, 3)), 0.5 + rng.standard_normal((5, 3))
    value, _ = mmd(z, zp, kernel, scale, unbiased)
    s = kernel_scale(3, kernel) if scale is None else scale
    assert value.shape == () and value.dtype == np.float64
    assert abs(float(value) - brute_force_mmd(z, zp, kernel, s, unbiased)) < 1e-12


def test_default_scale_is_twice_the_latent_dim():
    """E ||a - b||^2 = 2 M for a, b ~ N(0, I_M): the bandwidth of Tolstikhin et al.'s WAE."""
    assert kernel_scale(8, "imq") == 16.0 and kernel_scale(3, "rbf") == 6.0
    z, zp = np.random.default_rng(2).standard_normal((2, 6, 4))
    assert float(mmd(z, zp, "imq")[0]) == float(mmd(z, zp, "imq", scale=8.0)[0])


@pytest.mark.parametrize("kernel, unbiased", CASES)
def test_backward_matches_finite_differences(kernel, unbiased, rng):
    z, zp = rng.standard_normal((6, 3)), rng.standard_normal((5, 3))
    dmmd = 1.7
    _, cache = mmd(z, zp, kernel, 1.3, unbiased)
    dz = mmd_backward(dmmd, cache)
    num = numerical_gradient(lambda: dmmd * float(mmd(z, zp, kernel, 1.3, unbiased)[0]), z)
    assert dz.shape == z.shape and dz.dtype == np.float64
    assert rel_error(dz, num) < TOL


def test_backward_reads_the_cache_and_never_writes_it(rng):
    z, zp = rng.standard_normal((5, 2)), rng.standard_normal((4, 2))
    z0, zp0 = z.copy(), zp.copy()
    _, cache = mmd(z, zp, "imq")
    first = mmd_backward(0.5, cache)
    np.testing.assert_array_equal(mmd_backward(0.5, cache), first)
    np.testing.assert_array_equal(mmd_backward(1.0, cache), 2 * first)
    assert np.array_equal(z, z0) and np.array_equal(zp, zp0), "mmd must not write into its inputs"


@pytest.mark.parametrize("kernel", KERNELS)
def test_a_sample_against_itself_is_zero_biased(kernel, rng):
    z = rng.standard_normal((9, 4))
    value, cache = mmd(z, z.copy(), kernel, unbiased=False)
    assert abs(float(value)) < 1e-14
    assert np.abs(mmd_backward(1.0, cache)).max() < 1e-14          # a minimum: the gradient vanishes


@settings(max_examples=60, deadline=None)
@given(data=st.data(), kernel=st.sampled_from(KERNELS), scale=st.floats(0.05, 20.0),
       n=st.integers(1, 6), p=st.integers(1, 6), m=st.integers(1, 4))
def test_biased_estimate_is_never_negative(data, kernel, scale, n, p, m):
    """The V-statistic is ||mean embedding of z - mean embedding of z_p||^2 in the kernel's RKHS."""
    values = st.floats(-4.0, 4.0, allow_nan=False, allow_infinity=False)
    z = data.draw(arrays(np.float64, (n, m), elements=values))
    zp = data.draw(arrays(np.float64, (p, m), elements=values))
    assert float(mmd(z, zp, kernel, scale, unbiased=False)[0]) >= -1e-12


def test_rounding_never_makes_a_squared_distance_negative():
    """||a||^2 + ||b||^2 - 2 a.b cancels badly for close points far from 0: it is clamped at 0."""
    d2 = squared_distances(np.array([[1.0 + 1e-15, 0.5]]), np.array([1.0]), np.array([1.0, 0.25]))
    np.testing.assert_array_equal(d2, [[0.0, 0.25]])


@pytest.mark.parametrize("kernel", KERNELS)
def test_near_duplicates_far_from_the_origin_keep_the_biased_estimate_nonnegative(kernel):
    """Rows 1e3 away from 0 and 1e-9 apart, a bandwidth of 1e-6 (exact value about 1e-12): the GEMM
    distances carry rounding errors near 1e-9, and without the clamp some k exceed 1 and the V-statistic
    comes out about -8e-7. Clamped, it is about +2e-5: inaccurate at this extreme, but never negative."""
    rng = np.random.default_rng(0)
    zp = 1e3 + rng.standard_normal((50, 8))
    z = zp + 1e-9 * rng.standard_normal((50, 8))
    assert float(mmd(z, zp, kernel, scale=1e-6, unbiased=False)[0]) >= 0


@pytest.mark.parametrize("kernel", KERNELS)
def test_the_estimate_separates_distributions(kernel):
    """2000 rows each, M = 4. Measured over seeds 0-9: |MMD^2| <= 3.1e-4 for N(0, I) vs N(0, I) and
    >= 0.18 for N(0, I) vs N(1, I) (rbf 0.24); the test asks for < 3e-3 and > 0.1, over 30x apart."""
    rng = np.random.default_rng(0)
    z, same, shifted = rng.standard_normal((3, 2000, 4))
    near_zero = float(mmd(z, same, kernel)[0])
    far = float(mmd(z, shifted + 1.0, kernel)[0])
    assert abs(near_zero) < 3e-3
    assert far > 0.1 and far > 30 * abs(near_zero)


@pytest.mark.parametrize("kernel, unbiased", CASES)
def test_invariant_to_permuting_rows(kernel, unbiased, rng):
    z, zp = rng.standard_normal((8, 3)), rng.standard_normal((6, 3))
    iz, ip = rng.permutation(8), rng.permutation(6)
    value, cache = mmd(z, zp, kernel, unbiased=unbiased)
    value_perm, cache_perm = mmd(z[iz], zp[ip], kernel, unbiased=unbiased)
    assert abs(float(value) - float(value_perm)) < 1e-14
    np.testing.assert_allclose(mmd_backward(1.0, cache_perm), mmd_backward(1.0, cache)[iz], rtol=0, atol=1e-14)


@pytest.mark.parametrize("kernel", KERNELS)
def test_float32_stays_float32_and_agrees_with_float64(kernel, rng):
    z, zp = rng.standard_normal((16, 5)), rng.standard_normal((12, 5))
    v64, c64 = mmd(z, zp, kernel)
    v32, c32 = mmd(z.astype(np.float32), zp.astype(np.float32), kernel)
    dz32 = mmd_backward(np.float64(2.0), c32)                        # a float64 upstream scalar does not upcast
    assert v32.dtype == np.float32 and dz32.dtype == np.float32
    assert abs(float(v32) - float(v64)) < 1e-6
    dz64 = mmd_backward(2.0, c64)
    assert np.abs(dz32 - dz64).max() < 1e-6 * np.abs(dz64).max() * 10


def test_z_prior_is_read_in_the_dtype_of_z(rng):
    z, zp = rng.standard_normal((4, 2)).astype(np.float32), rng.standard_normal((5, 2))
    value, cache = mmd(z, zp)
    assert value.dtype == np.float32 and mmd_backward(1.0, cache).dtype == np.float32


def test_biased_estimate_works_with_a_single_row(rng):
    z, zp = rng.standard_normal((1, 3)), rng.standard_normal((1, 3))
    value, _ = mmd(z, zp, "rbf", unbiased=False)
    assert abs(float(value) - brute_force_mmd(z, zp, "rbf", 6.0, False)) < 1e-12


def test_unknown_kernel_names_the_options(rng):
    z = rng.standard_normal((3, 2))
    with pytest.raises(ConfigError, match=r"unknown MMD kernel 'gauss'.*'rbf', 'imq'"):
        mmd(z, z, "gauss")
    with pytest.raises(ConfigError, match="unknown MMD kernel"):
        kernel_scale(2, "laplace")


@pytest.mark.parametrize("scale", [0.0, -1.0, float("nan"), float("inf"), "wide"])
def test_scale_must_be_a_positive_number(scale, rng):
    z = rng.standard_normal((3, 2))
    with pytest.raises(ConfigError, match="scale must be a finite number > 0"):
        mmd(z, z, "rbf", scale)


@pytest.mark.parametrize("latent_dim", [0, -3, 2.5, True, "4"])
def test_kernel_scale_needs_a_positive_int(latent_dim):
    with pytest.raises(ConfigError, match="latent_dim must be a positive int"):
        kernel_scale(latent_dim, "imq")


@pytest.mark.parametrize("z_shape, zp_shape, match", [
    ((6,), (4, 2), "z must be 2-D"),
    ((3, 2), (2, 2, 2), "z_prior must be 2-D"),
    ((3, 2), (4, 3), "same latent_dim M"),
    ((0, 2), (4, 2), "at least one row and one column"),
])
def test_shapes_are_checked(z_shape, zp_shape, match):
    with pytest.raises(ShapeError, match=match):
        mmd(np.zeros(z_shape), np.zeros(zp_shape), unbiased=False)


@pytest.mark.parametrize("n, p", [(1, 5), (5, 1)])
def test_unbiased_needs_two_rows_in_each_sample(n, p, rng):
    with pytest.raises(ConfigError, match=">= 2 rows"):
        mmd(rng.standard_normal((n, 3)), rng.standard_normal((p, 3)))


def test_integer_samples_are_refused():
    with pytest.raises(ConfigError, match="float32 or float64"):
        mmd(np.ones((3, 2), dtype=np.int64), np.ones((3, 2)))


def test_dmmd_must_be_a_scalar(rng):
    _, cache = mmd(rng.standard_normal((3, 2)), rng.standard_normal((3, 2)))
    with pytest.raises(ShapeError, match="dmmd must be a scalar"):
        mmd_backward(np.ones(3), cache)
