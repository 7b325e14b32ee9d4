"""Planar flows: gradients, log-determinants, invertibility, the pushed-forward density, errors."""
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra.numpy import arrays

from minivae.errors import DataError, ShapeError
from minivae.backend.cupy_backend import gpu_unavailable_reason
from minivae.gradcheck import numerical_gradient, rel_error
from minivae.likelihoods import softplus
from minivae.planar import planar_flow, planar_flow_backward, u_hat

TOL = 1e-7
EPS64 = np.finfo(np.float64).eps
GPU_REASON = gpu_unavailable_reason()


def flow_params(rng, n, k, m, dtype="float64"):
    """Random u, w: (n, k, m) and b: (n, k)."""
    u, w = rng.standard_normal((n, k, m)), rng.standard_normal((n, k, m))
    return u.astype(dtype), w.astype(dtype), rng.standard_normal((n, k)).astype(dtype)


def u_with(w, t, perp):
    """A u with w^T u = t: t w / ||w||^2 plus the part of ``perp`` orthogonal to w."""
    r = w @ w
    return t * w / r + perp - (perp @ w) / r * w


def one_step(u, w, b):
    """(1, 1, M) u, w and (1, 1) b of one step from 1-D arrays and a scalar."""
    return u[None, None], w[None, None], np.full((1, 1), b)


@pytest.mark.parametrize("n_params", [3, 1], ids=["per-example", "shared"])
def test_backward_matches_order_4_finite_differences(n_params, rng):
    """L = sum(zK * G) + sum(log_det * g): dz0, du, dw, db against order-4 central differences."""
    z0 = rng.standard_normal((2, 3, 3))                           # S=2, N=3, M=3
    u, w, b = flow_params(rng, n_params, 4, 3)                    # K=4
    G, g = rng.standard_normal((2, 3, 3)), rng.standard_normal((2, 3))
    G_copy, g_copy = G.copy(), g.copy()

    def loss():
        zK, log_det, _ = planar_flow(z0, u, w, b)
        return np.sum(zK * G) + np.sum(log_det * g)

    grads = planar_flow_backward(G, g, planar_flow(z0, u, w, b)[2])
    np.testing.assert_array_equal(G, G_copy)                     # the upstream gradients are not written
    np.testing.assert_array_equal(g, g_copy)
    for name, x, dx in zip(("z0", "u", "w", "b"), (z0, u, w, b), grads):
        assert dx.shape == x.shape, name
        assert rel_error(dx, numerical_gradient(loss, x, h=1e-4, order=4)) < TOL, name


def test_a_shared_flow_is_the_per_example_flow_with_equal_parameters(rng):
    """N = 1 parameters broadcast over the examples; their gradients are the per-example ones summed over N."""
    z0, (u, w, b) = rng.standard_normal((2, 5, 4)), flow_params(rng, 1, 3, 4)
    tiled = [np.repeat(p, 5, axis=0) for p in (u, w, b)]
    G, g = rng.standard_normal((2, 5, 4)), rng.standard_normal((2, 5))
    zK, log_det, cache = planar_flow(z0, u, w, b)
    zK_t, log_det_t, cache_t = planar_flow(z0, *tiled)
    np.testing.assert_allclose(zK, zK_t, rtol=1e-14)
    np.testing.assert_allclose(log_det, log_det_t, rtol=1e-14)
    shared, per_example = planar_flow_backward(G, g, cache), planar_flow_backward(G, g, cache_t)
    np.testing.assert_allclose(shared[0], per_example[0], rtol=1e-13)
    for d, d_t in zip(shared[1:], per_example[1:]):
        np.testing.assert_allclose(d, d_t.sum(axis=0, keepdims=True), rtol=1e-12, atol=1e-14)


def test_log_det_is_the_log_determinant_of_the_numerical_jacobian(rng):
    """K = 3, M = 3: log_det[0, n] = log|det dzK/dz0| for example n, and that determinant is positive."""
    z0, (u, w, b) = rng.standard_normal((1, 2, 3)), flow_params(rng, 2, 3, 3)
    n, h = 1, 1e-3
    J = np.empty((3, 3))
    for j in range(3):
        def zK_at(step):
            z = z0.copy()
            z[0, n, j] += step
            return planar_flow(z, u, w, b)[0][0, n]
        J[:, j] = (8 * (zK_at(h) - zK_at(-h)) - (zK_at(2 * h) - zK_at(-2 * h))) / (12 * h)
    sign, logabsdet = np.linalg.slogdet(J)
    assert sign > 0
    assert abs(planar_flow(z0, u, w, b)[1][0, n] - logabsdet) < 1e-9


@settings(max_examples=200, deadline=None)
@given(direction=arrays(np.float64, 4, elements=st.floats(-1, 1)).filter(lambda v: v @ v > 1e-2),
       norm=st.floats(1e-2, 10), t=st.floats(-500, 50), perp=arrays(np.float64, 4, elements=st.floats(-3, 3)))
def test_w_dot_u_hat_is_m_of_w_dot_u_above_minus_one(direction, norm, t, perp):
    """w^T u_hat = m(w^T u) = -1 + softplus(w^T u) > -1, for u down to antiparallel to w with |u| = 5e4.

    In floats: w^T u_hat agrees with m to rounding; the library's 1 + m = softplus(w^T u) stays > 0; w^T
    u_hat > -1 wherever 1 + m exceeds the rounding; and the log-determinant at a = 0 (its smallest factor,
    det = 1 + m) is finite, log(softplus(w^T u)), down to w^T u = -500 (where 1 + h' m would give log 0)."""
    w = norm * direction / math.sqrt(direction @ direction)
    u = u_with(w, t, perp)
    wu, uh = w @ u, u_hat(u, w)
    sp = softplus(np.float64(wu))
    rounding = 16 * EPS64 * (1 + np.linalg.norm(w) * (np.linalg.norm(u) + np.linalg.norm(uh)))
    assert abs(w @ uh - (sp - 1)) <= rounding
    assert sp > 0
    if sp > rounding:
        assert w @ uh > -1
    z0 = np.zeros((1, 1, 4))                                      # a = w^T 0 + 0 = 0, h = 0, det = sp
    log_det = planar_flow(z0, *one_step(u, w, 0.0))[1][0, 0]
    assert np.isfinite(log_det) and abs(log_det - np.log(sp)) <= 1e-12 * abs(np.log(sp)) + 1e-15


@settings(max_examples=50, deadline=None)
@given(w=arrays(np.float64, 3, elements=st.floats(-2, 2)).filter(lambda v: v @ v > 1e-2),
       t=st.floats(-40, 40), perp=arrays(np.float64, 3, elements=st.floats(-3, 3)), b=st.floats(-3, 3),
       z_base=arrays(np.float64, 3, elements=st.floats(-3, 3)))
def test_each_step_is_strictly_increasing_along_w(w, t, perp, b, z_base):
    """Injective: along z(s) = z_base + s w / ||w||^2, w^T f(z) = w^T z + m tanh(a) rises strictly with s.

    (Since w^T f(z) + b = a + m tanh(a) is strictly increasing in a, a is recovered from f(z), then
    z = f(z) - u_hat tanh(a): f is one-to-one.) m = -1 + 4e-18 at t = -40: a - tanh(a) still rises."""
    u, s = u_with(w, t, perp), np.linspace(-15, 15, 3001)
    z = z_base + s[:, None, None] * (w / (w @ w))                 # (S, 1, 3): w^T z = w^T z_base + s
    zK = planar_flow(z, *one_step(u, w, b))[0]
    assert np.all(np.diff(zK[:, 0] @ w) > 0)


def test_u_hat_zero_steps_are_the_identity(rng):
    """u = log(e - 1) w / ||w||^2 gives m = 0 and u_hat = 0: K such steps leave z0 as is, log_det = 0."""
    z0, w = rng.standard_normal((2, 3, 4)), rng.standard_normal((3, 5, 4))
    u = math.log(math.e - 1) * w / np.sum(w * w, axis=-1, keepdims=True)
    assert np.max(np.abs(u_hat(u, w))) < 1e-15
    zK, log_det, _ = planar_flow(z0, u, w, rng.standard_normal((3, 5)))
    np.testing.assert_allclose(zK, z0, atol=1e-15)
    np.testing.assert_allclose(log_det, 0, atol=1e-15)


def test_u_zero_is_not_the_identity_the_reparameterization_moves_it(rng):
    """u_hat(0, w) = (m(0) - 0) w / ||w||^2 = (log 2 - 1) w / ||w||^2, not 0 (initialize u accordingly)."""
    w = rng.standard_normal((3, 4))
    want = (math.log(2) - 1) * w / np.sum(w * w, axis=-1, keepdims=True)
    np.testing.assert_allclose(u_hat(np.zeros_like(w), w), want, rtol=1e-14)


@pytest.mark.parametrize("u, w, b", [(-0.5, 1.5, 0.3), (2.0, 0.8, -0.4), (1.0, -1.2, 0.0)])
def test_the_pushed_forward_density_integrates_to_one(u, w, b):
    """M = 1, one step: q_1(z1) = q_0(z0) / det(z0) with z0 = f^{-1}(z1) by bisection; trapezoid over z1."""
    flow = one_step(np.array([u]), np.array([w]), b)
    z1 = np.linspace(-15, 15, 20001)
    reach = abs(u_hat(np.array([u]), np.array([w]))[0]) + 1       # |f(z0) - z0| <= |u_hat|
    lo, hi = z1 - reach, z1 + reach
    for _ in range(60):                                           # f is increasing: bisect f(z0) = z1
        mid = 0.5 * (lo + hi)
        above = planar_flow(mid[:, None, None], *flow)[0][:, 0, 0] > z1
        lo, hi = np.where(above, lo, mid), np.where(above, mid, hi)
    z0 = 0.5 * (lo + hi)[:, None, None]
    z1_back, log_det, _ = planar_flow(z0, *flow)
    np.testing.assert_allclose(z1_back[:, 0, 0], z1, atol=1e-12)
    q1 = np.exp(-0.5 * z0[:, 0, 0] ** 2 - 0.5 * math.log(2 * math.pi) - log_det[:, 0])
    assert abs(np.sum(0.5 * (q1[1:] + q1[:-1]) * np.diff(z1)) - 1) < 1e-6


def test_float32_in_float32_out_and_close_to_float64(rng):
    z0, params = rng.standard_normal((2, 4, 3)), flow_params(rng, 4, 3, 3)
    G, g = rng.standard_normal((2, 4, 3)), rng.standard_normal((2, 4))
    f64 = planar_flow(z0, *params)
    f32 = planar_flow(z0.astype("float32"), *[p.astype("float32") for p in params])
    b64 = planar_flow_backward(G, g, f64[2])
    b32 = planar_flow_backward(G.astype("float32"), g.astype("float32"), f32[2])
    for got, want in zip(f32[:2] + b32, f64[:2] + b64):
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_log_det_stays_finite_in_float32_where_one_plus_h_prime_m_rounds_to_zero():
    """w^T u = -50: m = -1 + 2e-22 rounds to -1 in float32, yet det = h^2 + h' softplus(w^T u) > 0 at a = 0."""
    w = np.array([1.0, 0.0], dtype="float32")
    u = np.array([-50.0, 2.0], dtype="float32")
    log_det = planar_flow(np.zeros((1, 1, 2), "float32"), *[p.astype("float32") for p in one_step(u, w, 0.0)])[1]
    assert np.float32(1) + np.float32(softplus(np.float32(-50)) - 1) == 0       # the naive form's 0
    np.testing.assert_allclose(log_det, -50, rtol=1e-6)


def test_zero_steps_are_the_identity(rng):
    z0, G, g = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 3))
    u, w, b = flow_params(rng, 3, 0, 4)
    zK, log_det, cache = planar_flow(z0, u, w, b)
    np.testing.assert_array_equal(zK, z0)
    np.testing.assert_array_equal(log_det, 0)
    dz0, du, dw, db = planar_flow_backward(G, g, cache)
    np.testing.assert_array_equal(dz0, G)
    assert dz0 is not G and du.shape == u.shape and db.shape == b.shape


@pytest.mark.parametrize("z0_shape, u_shape, w_shape, b_shape, match", [
    ((3, 4), (3, 2, 4), (3, 2, 4), (3, 2), r"z0 must be \(S, N, M\)"),
    ((1, 3, 4), (3, 2, 4), (3, 2, 5), (3, 2), "u and w must both be"),
    ((1, 3, 4), (3, 2), (3, 2), (3, 2), "u and w must both be"),
    ((1, 3, 4), (3, 2, 5), (3, 2, 5), (3, 2), r"\(N, K, M\) = \(3, K, 4\)"),
    ((1, 3, 4), (2, 2, 4), (2, 2, 4), (2, 2), r"or \(1, K, 4\)"),
    ((1, 3, 4), (3, 2, 4), (3, 2, 4), (3,), r"b must be \(N, K\) = \(3, 2\)"),
    ((1, 3, 4), (1, 2, 4), (1, 2, 4), (3, 2), r"b must be \(N, K\) = \(1, 2\)"),
])
def test_mismatched_shapes_are_shape_errors(z0_shape, u_shape, w_shape, b_shape, match):
    arrays_ = [np.ones(s) for s in (z0_shape, u_shape, w_shape, b_shape)]
    with pytest.raises(ShapeError, match=match):
        planar_flow(*arrays_)


def test_backward_rejects_gradients_of_the_wrong_shape(rng):
    z0, params = rng.standard_normal((2, 3, 4)), flow_params(rng, 3, 2, 4)
    cache = planar_flow(z0, *params)[2]
    with pytest.raises(ShapeError, match=r"dzK must be \(S, N, M\) = \(2, 3, 4\)"):
        planar_flow_backward(np.ones((3, 4)), np.ones((2, 3)), cache)
    with pytest.raises(ShapeError, match=r"dlog_det \(S, N\) = \(2, 3\)"):
        planar_flow_backward(np.ones((2, 3, 4)), np.ones(3), cache)


def test_u_hat_rejects_mismatched_shapes():
    with pytest.raises(ShapeError, match="same shape"):
        u_hat(np.ones((2, 3)), np.ones((2, 4)))


def test_zero_w_and_mixed_dtypes_are_data_errors(rng):
    z0, (u, w, b) = rng.standard_normal((1, 2, 3)), flow_params(rng, 2, 2, 3)
    w[1, 0] = 0
    with pytest.raises(DataError, match=r"nonzero vector \(\|\|w\|\|\^2 > 0\)"):
        planar_flow(z0, u, w, b)
    with pytest.raises(DataError, match="nonzero"):
        u_hat(u, w)
    with pytest.raises(DataError, match="share one dtype.*float32"):
        planar_flow(z0.astype("float32"), *flow_params(rng, 2, 2, 3))
    with pytest.raises(DataError, match="share one dtype"):
        planar_flow(z0.astype(int), *[p.astype(int) for p in flow_params(rng, 2, 2, 3)])


@pytest.mark.gpu
@pytest.mark.skipif(GPU_REASON is not None, reason=str(GPU_REASON))
@pytest.mark.parametrize("n_params", [3, 1], ids=["per-example", "shared"])
def test_cupy_gives_the_numpy_results(n_params, rng):
    import cupy

    z0, params = rng.standard_normal((2, 3, 4)), flow_params(rng, n_params, 3, 4)
    G, g = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 3))
    want = planar_flow(z0, *params)
    want = want[:2] + planar_flow_backward(G, g, want[2])
    got = planar_flow(cupy.asarray(z0), *[cupy.asarray(p) for p in params])
    got = got[:2] + planar_flow_backward(cupy.asarray(G), cupy.asarray(g), got[2])
    for x, y in zip(got, want):
        assert isinstance(x, cupy.ndarray)
        np.testing.assert_allclose(cupy.asnumpy(x), y, rtol=1e-12, atol=1e-14)
