"""The WGAN-GP gradient penalty: input gradient, penalty and its double-backprop gradient, in float64."""
import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minivae.errors import ConfigError, DataError, MiniVAEError, ShapeError
from minivae.gradcheck import numerical_gradient, rel_error
from minivae.gradient_penalty import GradientPenalty, input_gradient, interpolate
from minivae.layers import MLP, pack_parameters

TOL = 1e-7
ACTS = ["leaky_relu", "relu", "tanh", "sigmoid"]
SHAPES = [(5, 4, 1), (5, 4, 3, 1)]                      # one and two hidden layers
H = 1e-3                                                # order-4 central differences: error about h^4
MARGIN = 0.05                                           # |a| >= MARGIN: steps of 2H cross no ReLU kink


def preactivations(critic, x):
    """a_l = h_{l-1} W_l + b_l of every hidden layer, by plain NumPy."""
    out, h = [], x
    for d in critic.layers[:-1]:
        a = h @ d.params["W"] + d.params["b"]
        out.append(a)
        h = d.predict(h)
    return out


def make_critic(act, sizes, seed=0, n=6):
    """A float64 critic with random biases and a batch x_hat whose pre-activations keep MARGIN from 0."""
    for s in range(seed, seed + 100):
        rng = np.random.default_rng(s)
        critic = MLP(list(sizes), act, rng, dtype="float64", init="xavier")
        for d in critic.layers:
            d.params["b"][...] = 0.5 * rng.standard_normal(d.d_out)
        x = rng.random((n, sizes[0]))
        if all(np.abs(a).min() >= MARGIN for a in preactivations(critic, x)):
            return critic, x
    raise AssertionError("no seed gave pre-activations away from 0")


def zero_grads(critic):
    for d in critic.layers:
        for g in d.grads.values():
            g[...] = 0


def fd_errors(critic, gp, x):
    """{param: rel error} of the penalty's backward against order-4 central differences of P."""
    zero_grads(critic)
    gp.forward(x)
    gp.backward()
    return {f"{i}.{k}": rel_error(d.grads[k], numerical_gradient(lambda: gp.forward(x), d.params[k], H, 4))
            for i, d in enumerate(critic.layers) for k in ("W", "b")}


@pytest.mark.parametrize("sizes", SHAPES + [(5, 1)])
@pytest.mark.parametrize("act", ACTS + ["identity"])
def test_input_gradient_matches_finite_differences_of_D(act, sizes):
    critic, x = make_critic(act, sizes)
    g = input_gradient(critic, x)
    numeric = numerical_gradient(lambda: critic.predict(x).sum(), x, H, 4)   # row n of D depends on x_n only
    assert g.shape == x.shape
    assert rel_error(g, numeric) < TOL


@pytest.mark.parametrize("sizes", SHAPES)
@pytest.mark.parametrize("act", ACTS)
def test_penalty_gradient_matches_finite_differences_for_every_parameter(act, sizes):
    critic, x = make_critic(act, sizes)
    errors = fd_errors(critic, GradientPenalty(critic, lam=3.0), x)
    assert max(errors.values()) < TOL, errors


@pytest.mark.parametrize("act", ACTS)
def test_biases_get_no_gradient_from_piecewise_linear_layers_and_the_last_never(act):
    critic, x = make_critic(act, (5, 4, 3, 1))
    fd_errors(critic, GradientPenalty(critic), x)
    assert np.all(critic.layers[-1].grads["b"] == 0)
    hidden_b = [d.grads["b"] for d in critic.layers[:-1]]
    if act in ("relu", "leaky_relu"):
        assert all(np.all(b == 0) for b in hidden_b)
    else:
        assert all(np.abs(b).max() > 1e-6 for b in hidden_b)


@pytest.mark.parametrize("act", ACTS)
def test_dP_dx_hat_matches_finite_differences_and_is_zero_for_relu_critics(act):
    critic, x = make_critic(act, (5, 4, 3, 1))
    gp = GradientPenalty(critic, lam=2.0)
    gp.forward(x)
    dx = gp.backward(scale=1.0, need_dx=True)
    numeric = numerical_gradient(lambda: gp.forward(x), x, H, 4)
    assert dx.shape == x.shape and rel_error(dx, numeric) < TOL
    if act in ("relu", "leaky_relu"):
        assert np.all(dx == 0)
    assert gp.backward(need_dx=False) is None


@pytest.mark.parametrize("act", ["leaky_relu", "tanh"])
def test_backward_adds_scale_times_the_penalty_gradient(act, rng):
    critic, x = make_critic(act, (5, 4, 3, 1))
    gp = GradientPenalty(critic)
    zero_grads(critic)
    gp.forward(x)
    gp.backward()
    alone = {k: v.copy() for k, v in critic.grads.items()}
    before = {k: rng.standard_normal(v.shape) for k, v in critic.grads.items()}
    for k, v in critic.grads.items():
        v[...] = before[k]
    gp.forward(x)
    gp.backward(scale=0.7)
    for k, v in critic.grads.items():
        np.testing.assert_allclose(v - before[k], 0.7 * alone[k], rtol=1e-12, atol=1e-15, err_msg=k)


@pytest.mark.parametrize("act", ["relu", "sigmoid"])
def test_the_critic_forward_cache_and_grads_are_untouched(act, rng):
    critic, x = make_critic(act, (5, 4, 3, 1))
    twin, _ = make_critic(act, (5, 4, 3, 1))                # same seed: the same parameters
    dy = rng.standard_normal((x.shape[0], 1))
    critic.forward(x)
    caches = [d.cache for d in critic.layers]
    grads = {k: v.copy() for k, v in critic.grads.items()}
    input_gradient(critic, x[::-1].copy())
    assert all(np.array_equal(v, grads[k]) for k, v in critic.grads.items()), "input_gradient wrote grads"
    gp = GradientPenalty(critic)
    gp.forward(x[::-1].copy())                              # another batch than the cached one
    assert all(d.cache is c for d, c in zip(critic.layers, caches))
    critic.backward(dy)                                     # still the backward of critic.forward(x)
    twin.forward(x)
    twin.backward(dy)
    for k, v in critic.grads.items():
        np.testing.assert_array_equal(v, twin.grads[k], err_msg=k)


def unit_norm_critic(d_in=4):
    critic = MLP([d_in, 1], "relu", np.random.default_rng(0), dtype="float64")
    critic.layers[0].params["W"][...] = 1 / np.sqrt(d_in)   # 0.5 for d_in = 4: ||g_n|| = 1 exactly
    return critic


def test_a_critic_with_unit_gradient_norm_everywhere_has_zero_penalty_and_zero_gradient(rng):
    critic = unit_norm_critic()
    gp = GradientPenalty(critic, lam=10.0)
    zero_grads(critic)
    assert gp.forward(rng.random((5, 4))) == 0
    gp.backward()
    assert all(np.all(g == 0) for g in critic.grads.values())


def test_lambda_zero_gives_zero_penalty_and_zero_gradient():
    critic, x = make_critic("tanh", (5, 4, 1))
    gp = GradientPenalty(critic, lam=0.0)
    zero_grads(critic)
    assert gp.forward(x) == 0
    gp.backward()
    assert all(np.all(g == 0) for g in critic.grads.values())


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_zero_input_gradient_gives_penalty_lambda_and_the_zero_subgradient(dtype, rng):
    critic = MLP([4, 3, 1], "tanh", rng, dtype=dtype)
    critic.layers[-1].params["W"][...] = 0                  # D is constant: g_n = 0 for every n
    gp = GradientPenalty(critic, lam=10.0)
    zero_grads(critic)
    with np.errstate(all="raise"):
        P = gp.forward(rng.random((3, 4)).astype(dtype))
        gp.backward()
    assert P.dtype == dtype and float(P) == pytest.approx(10.0, rel=1e-6)
    assert all(np.all(g == 0) for g in critic.grads.values())


def test_float32_follows_float64(rng):
    critic, x = make_critic("sigmoid", (5, 4, 3, 1))
    c32 = MLP([5, 4, 3, 1], "sigmoid", rng, dtype="float32")
    for d32, d64 in zip(c32.layers, critic.layers):
        for k in ("W", "b"):
            d32.params[k][...] = d64.params[k]
    gp32, gp64 = GradientPenalty(c32), GradientPenalty(critic)
    zero_grads(c32), zero_grads(critic)
    P32, P64 = gp32.forward(x.astype("float32")), gp64.forward(x)
    gp32.backward(), gp64.backward()
    assert P32.dtype == np.float32 and P32.shape == () and float(P32) == pytest.approx(float(P64), rel=1e-5)
    for k, v in c32.grads.items():
        assert v.dtype == np.float32
        np.testing.assert_allclose(v, critic.grads[k], rtol=1e-4, atol=1e-6, err_msg=k)


@pytest.mark.parametrize("lam", [-1.0, float("nan"), float("inf"), "ten"])
def test_lambda_must_be_a_finite_nonnegative_number(lam):
    with pytest.raises(ConfigError, match="lam must be a finite number >= 0"):
        GradientPenalty(unit_norm_critic(), lam=lam)


def test_x_hat_of_the_wrong_width_or_dtype_is_refused():
    gp = GradientPenalty(unit_norm_critic(4))
    with pytest.raises(ShapeError, match=r"x_hat must have shape \(N, 4\)"):
        gp.forward(np.zeros((3, 5)))
    with pytest.raises(ShapeError, match=r"x_hat must have shape \(N, 4\)"):
        gp.forward(np.zeros((0, 4)))
    with pytest.raises(DataError, match="x_hat has dtype float32, the critic's parameters float64"):
        gp.forward(np.zeros((3, 4), dtype="float32"))
    with pytest.raises(ShapeError, match=r"x must have shape \(N, 4\)"):
        input_gradient(unit_norm_critic(4), np.zeros(4))


@pytest.mark.parametrize("make, message", [
    (lambda rng: MLP([4, 3, 1], "relu", rng, final_activation="sigmoid"), "last layer must be linear"),
    (lambda rng: MLP([4, 3, 2], "relu", rng), "width 1"),
    (lambda rng: MLP([4], "relu", rng), "MLP critic"),
    (lambda rng: object(), "MLP critic"),
])
def test_a_critic_that_is_not_a_linear_headed_mlp_is_a_config_error(make, message, rng):
    with pytest.raises(ConfigError, match=message):
        GradientPenalty(make(rng))


def test_backward_before_forward_is_a_clear_error():
    with pytest.raises(MiniVAEError, match="needs a forward pass first"):
        GradientPenalty(unit_norm_critic()).backward()


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**16), lam=st.floats(0.0, 100.0), act=st.sampled_from(ACTS))
def test_penalty_is_nonnegative_and_linear_in_lambda(seed, lam, act):
    rng = np.random.default_rng(seed)
    critic = MLP([3, 4, 1], act, rng, dtype="float64")
    x = rng.random((4, 3))
    P1 = float(GradientPenalty(critic, lam=1.0).forward(x))
    P = float(GradientPenalty(critic, lam=lam).forward(x))
    assert P1 >= 0 and P >= 0
    assert P == pytest.approx(lam * P1, rel=1e-12, abs=1e-300)


@pytest.mark.parametrize("act", ["leaky_relu", "tanh"])
def test_a_step_at_a_known_batch_size_allocates_no_batch_sized_array(act, rng):
    critic = MLP([784, 256, 256, 1], act, rng, dtype="float32")
    x = rng.random((64, 784), dtype="float32")
    gp = GradientPenalty(critic)
    gp.forward(x), gp.backward()                            # first call: the buffers are made
    tracemalloc.start()
    gp.forward(x), gp.backward()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 64 * 256 * 4, f"peak {peak} bytes: an (N, D) array was allocated"   # NumPy's ufunc buffer: 32 kB


def test_interpolate_is_alpha_x_plus_one_minus_alpha_x_fake(rng):
    x, x_fake, alpha = rng.random((3, 4)), rng.random((3, 4)), rng.random(3)
    np.testing.assert_allclose(interpolate(x, x_fake, alpha), alpha[:, None] * x + (1 - alpha[:, None]) * x_fake)
    with pytest.raises(ShapeError, match="alpha must have shape"):
        interpolate(x, x_fake, rng.random(4))
    with pytest.raises(ShapeError, match="one shape"):
        interpolate(x, x_fake[:2], alpha)


def test_backward_adds_into_parameters_packed_in_one_flat_buffer():
    critic, x = make_critic("tanh", (5, 4, 3, 1))
    params, grads = pack_parameters([("critic", critic)], backend="numpy", dtype="float64")
    gp = GradientPenalty(critic)
    for g in grads.values():
        g[...] = 0
    gp.forward(x)
    gp.backward()                                           # in place: the packed views see the gradient
    numeric = {n: numerical_gradient(lambda: gp.forward(x), p, H, 4) for n, p in params.items()}
    assert max(rel_error(grads[n], numeric[n]) for n in params) < TOL
