"""Dense, activations and the MLP: forward values, shapes, and gradient checks in float64."""
import numpy as np
import pytest

from minivae.activations import ACTIVATIONS, get_activation, sigmoid
from minivae.errors import ConfigError, MiniVAEError, ShapeError
from minivae.gradcheck import numerical_gradient_array, rel_error
from minivae.layers import MLP, Dense, dense_backward, dense_forward, init_weight
from tests.conftest import away_from_zero

TOL = 1e-7


def test_dense_forward_is_x_at_W_plus_b(rng):
    x, W, b = rng.standard_normal((4, 3)), rng.standard_normal((3, 5)), rng.standard_normal(5)
    y, _ = dense_forward(x, W, b)
    np.testing.assert_allclose(y, x @ W + b)
    assert y.shape == (4, 5)


def test_dense_backward_matches_finite_differences(rng):
    x, W, b = rng.standard_normal((4, 3)), rng.standard_normal((3, 5)), rng.standard_normal(5)
    dy = rng.standard_normal((4, 5))
    dx, dW, db = dense_backward(dy, dense_forward(x, W, b)[1])
    assert rel_error(dx, numerical_gradient_array(lambda: dense_forward(x, W, b)[0], x, dy)) < TOL
    assert rel_error(dW, numerical_gradient_array(lambda: dense_forward(x, W, b)[0], W, dy)) < TOL
    assert rel_error(db, numerical_gradient_array(lambda: dense_forward(x, W, b)[0], b, dy)) < TOL
    assert dW.shape == W.shape and db.shape == b.shape


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation_backward_matches_finite_differences(name, rng):
    forward, backward = get_activation(name)
    x = away_from_zero(rng, (5, 6))
    dy = rng.standard_normal((5, 6))
    y, cache = forward(x)
    dy_copy = dy.copy()
    dx = backward(dy, cache)
    assert np.array_equal(dy, dy_copy), "backward must not write into the upstream gradient"
    assert rel_error(dx, numerical_gradient_array(lambda: forward(x)[0], x, dy)) < TOL


def test_sigmoid_is_stable_for_huge_inputs():
    x = np.array([-1e4, -50.0, 0.0, 50.0, 1e4])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        s = sigmoid(x)
    np.testing.assert_allclose(s, [0.0, 1.0 / (1 + np.exp(50.0)), 0.5, 1.0 / (1 + np.exp(-50.0)), 1.0])


def test_unknown_activation_is_a_clear_error():
    with pytest.raises(ConfigError, match="unknown activation 'swish'"):
        get_activation("swish")


@pytest.mark.parametrize("scheme, check", [
    ("uniform", lambda W, d_in, d_out: np.abs(W).max() <= 1 / np.sqrt(d_in)
     and abs(W.std() - 1 / np.sqrt(3 * d_in)) < 0.05 / np.sqrt(3 * d_in)),
    ("he", lambda W, d_in, d_out: abs(W.std() - np.sqrt(2 / d_in)) < 0.05 * np.sqrt(2 / d_in)),
    ("xavier", lambda W, d_in, d_out: np.abs(W).max() <= np.sqrt(6 / (d_in + d_out))
     and abs(W.std() - np.sqrt(2 / (d_in + d_out))) < 0.01 * np.sqrt(2 / (d_in + d_out))),
])
def test_init_schemes(scheme, check):
    """U(-a, a) has std a / sqrt(3): Xavier's a = sqrt(6 / (d_in + d_out)) gives std sqrt(2 / (d_in + d_out)).

    120 000 draws: the sample std is within 0.2% of the true one, so 1% (xavier) flags a wrong scale."""
    W = init_weight(np.random.default_rng(0), 400, 300, scheme, "float32")
    assert W.dtype == np.float32 and W.shape == (400, 300)
    assert check(W, 400, 300)


def test_mlp_gradients_and_param_names(rng):
    mlp = MLP([4, 6, 5, 3], "tanh", rng, np, "float64")
    assert list(mlp.params) == ["0.W", "0.b", "1.W", "1.b", "2.W", "2.b"]
    x, dy = rng.standard_normal((7, 4)), rng.standard_normal((7, 3))
    mlp.forward(x)
    dx = mlp.backward(dy)
    grads = {k: v.copy() for k, v in mlp.grads.items()}
    assert rel_error(dx, numerical_gradient_array(lambda: mlp.predict(x), x, dy)) < TOL
    for name, p in mlp.params.items():
        num = numerical_gradient_array(lambda: mlp.predict(x), p, dy)
        assert rel_error(grads[name], num) < TOL, name
        assert grads[name].shape == p.shape


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_dense_with_its_activation_is_the_functional_core_chained(name, dtype, rng):
    """Dense(activation=a) = a_forward(dense_forward(x)); its backward = dense_backward(a_backward(dy))."""
    layer = Dense(5, 4, rng, np, dtype, activation=name)
    x, dy = away_from_zero(rng, (6, 5)).astype(dtype), rng.standard_normal((6, 4)).astype(dtype)
    forward, backward = get_activation(name)
    a, dense_cache = dense_forward(x, layer.params["W"], layer.params["b"])
    y_want, act_cache = forward(a)
    dx_want, dW_want, db_want = dense_backward(backward(dy, act_cache), dense_cache)
    dy_before = dy.copy()
    tol = 1e-5 if dtype == "float32" else 1e-14                   # elementwise: a few float32 roundings
    assert rel_error(layer.forward(x), y_want) < tol and rel_error(layer.predict(x), y_want) < tol
    dx = layer.backward(dy)
    np.testing.assert_array_equal(dy, dy_before)                   # the upstream gradient is not written
    assert dx.dtype == np.dtype(dtype)
    for got, want in ((dx, dx_want), (layer.grads["W"], dW_want), (layer.grads["b"], db_want)):
        assert rel_error(got, want) < tol
    assert layer.backward(dy, need_dx=False) is None


def test_dense_backward_before_forward_is_a_clear_error(rng):
    with pytest.raises(MiniVAEError, match="forward pass first"):
        Dense(3, 2, rng, np, "float64").backward(np.zeros((1, 2)))


def test_dense_rejects_wrong_feature_count(rng):
    layer = Dense(4, 3, rng, np, "float64")
    with pytest.raises(ShapeError, match=r"\(N, 4\)"):
        layer.forward(np.zeros((2, 5)))


def test_predict_leaves_the_training_cache_alone(rng):
    mlp = MLP([3, 4, 2], "relu", rng, np, "float64")
    x = rng.standard_normal((5, 3))
    mlp.forward(x)
    before = [layer.cache for layer in mlp.layers]
    mlp.predict(rng.standard_normal((9, 3)))
    assert all(a is b for a, b in zip(before, [layer.cache for layer in mlp.layers]))


def test_backward_without_grads_passes_dx_on_and_leaves_grads_alone():
    """need_grads=False (a GAN's generator step through D): the same dx, grads untouched."""
    rng = np.random.default_rng(0)
    mlp = MLP([5, 4, 3], "leaky_relu", rng, dtype="float64")
    x, dy = rng.random((6, 5)), rng.standard_normal((6, 3))
    mlp.forward(x)
    dx = mlp.backward(dy).copy()
    mlp.backward(2 * dy)                                # grads of 2 dy: what must stay
    before = {k: v.copy() for k, v in mlp.grads.items()}
    np.testing.assert_array_equal(mlp.backward(dy, need_grads=False), dx)
    assert all(np.array_equal(mlp.grads[k], before[k]) for k in before)
