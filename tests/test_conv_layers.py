"""Conv2D, ConvTranspose2D, MaskedConv2D: the functional core chained, float64 gradient checks, Dense's interface."""
import tracemalloc

import numpy as np
import pytest

from minivae.activations import get_activation
from minivae.backend.cupy_backend import gpu_unavailable_reason
from minivae.conv import conv2d_backward, conv2d_forward, conv_transpose2d_backward, conv_transpose2d_forward
from minivae.errors import ConfigError, MiniVAEError, ShapeError
from minivae.gradcheck import numerical_gradient_array, rel_error
from minivae.layers import pack_parameters
from minivae.models.conv_layers import Conv2D, ConvTranspose2D, MaskedConv2D
from minivae.optim import Adam

TOL_SCALE = 1e-8
GPU_REASON = gpu_unavailable_reason()


def build(kind, rng, activation="tanh", dtype="float64", backend=np):
    """A small layer of each kind, with a random bias (so the bias's path is checked) and its input shape."""
    layer, shape = {
        "conv s1 p1": lambda: (Conv2D(2, 3, 3, rng, 1, 1, backend, dtype, activation=activation), (2, 2, 5, 5)),
        "conv s2 p1 (floor)": lambda: (Conv2D(2, 3, 4, rng, 2, 1, backend, dtype, activation=activation,
                                              drop_remainder=True), (2, 2, 7, 6)),
        "conv s2 p0": lambda: (Conv2D(2, 3, 2, rng, 2, 0, backend, dtype, activation=activation), (2, 2, 6, 6)),
        "transpose s2 p1": lambda: (ConvTranspose2D(3, 2, 4, rng, 2, 1, 0, backend, dtype, activation=activation),
                                    (2, 3, 3, 4)),
        "transpose s2 p1 op1": lambda: (ConvTranspose2D(3, 2, 3, rng, 2, 1, 1, backend, dtype, activation=activation),
                                        (2, 3, 3, 3)),
        "masked A": lambda: (MaskedConv2D(2, 3, 3, rng, "A", backend, dtype, activation=activation), (2, 2, 4, 4)),
        "masked B": lambda: (MaskedConv2D(3, 3, 5, rng, "B", backend, dtype, activation=activation), (2, 3, 4, 4)),
    }[kind]()
    layer.params["b"][...] = layer.backend.asarray(rng.standard_normal(layer.params["b"].shape))
    return layer, shape


KINDS = ["conv s1 p1", "conv s2 p1 (floor)", "conv s2 p0", "transpose s2 p1", "transpose s2 p1 op1",
         "masked A", "masked B"]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("activation", ["identity", "tanh", "sigmoid"])
@pytest.mark.parametrize("kind", KINDS)
def test_the_layer_is_the_functional_core_chained(kind, activation, dtype, rng):
    """y = act(conv(x, W) + b) by minivae.conv; backward = the core's backward of act's backward of dy."""
    layer, shape = build(kind, rng, activation, dtype)
    x, W, b = rng.standard_normal(shape).astype(dtype), layer.weight(), layer.params["b"]
    if isinstance(layer, ConvTranspose2D):
        (a, cache), core_backward = conv_transpose2d_forward(x, W, b, layer.stride, layer.pad,
                                                             layer.output_padding), conv_transpose2d_backward
    else:
        (a, cache), core_backward = conv2d_forward(x, W, b, layer.stride, layer.pad, drop_remainder=True), \
            conv2d_backward
    act_forward, act_backward = get_activation(activation)
    y_want, act_cache = act_forward(a)
    dy = rng.standard_normal(y_want.shape).astype(dtype)
    dx_want, dW_want, db_want = core_backward(act_backward(dy, act_cache), cache)
    if isinstance(layer, MaskedConv2D):
        dW_want = dW_want * layer.mask
    tol = 1e-6 if dtype == "float32" else 1e-13            # sums in another order: rounding, to the arrays' scale

    def close(got, want):
        return got.dtype == np.dtype(dtype) and np.abs(got - want).max() <= tol * np.abs(want).max()
    y = layer.forward(x)
    assert y.shape == layer.output_shape(x.shape) == y_want.shape
    assert close(y, y_want) and close(layer.predict(x), y_want)
    dx = layer.backward(dy)
    for got, want in ((dx, dx_want), (layer.grads["W"], dW_want), (layer.grads["b"], db_want)):
        assert close(got, want), kind


@pytest.mark.parametrize("activation", ["identity", "sigmoid", "leaky_relu"])
@pytest.mark.parametrize("kind", KINDS)
def test_backward_matches_finite_differences(kind, activation, rng):
    """The loss sum(y * R): dx, dW, db against central differences in float64, to the gradient's scale.

    max |analytic - numerical| / max |numerical| is below 1e-9 here; elementwise relative errors would
    flag the roundoff of the central difference on entries a thousand times smaller than the largest."""
    layer, shape = build(kind, rng, activation)
    x = rng.standard_normal(shape)
    y = layer.forward(x)
    R = rng.standard_normal(y.shape)
    R_before = R.copy()
    dx = layer.backward(R).copy()
    np.testing.assert_array_equal(R, R_before)                         # dy is not written
    for got, wrt in ((dx, x), (layer.grads["W"], layer.params["W"]), (layer.grads["b"], layer.params["b"])):
        num = numerical_gradient_array(lambda: layer.predict(x), wrt, R)
        if isinstance(layer, MaskedConv2D) and wrt is layer.params["W"]:
            num = num * layer.mask                                     # masked taps do not learn
        assert got.shape == wrt.shape
        assert np.abs(got - num).max() < TOL_SCALE * np.abs(num).max(), kind


@pytest.mark.parametrize("kind", ["conv s2 p1 (floor)", "transpose s2 p1 op1", "masked B"])
def test_need_dx_false_skips_dx_and_need_grads_false_leaves_grads(kind, rng):
    layer, shape = build(kind, rng)
    x = rng.standard_normal(shape)
    dy = rng.standard_normal(layer.forward(x).shape)
    dx = layer.backward(dy).copy()
    grads = {k: v.copy() for k, v in layer.grads.items()}
    layer.grads["W"][...] = 0
    assert layer.backward(dy, need_dx=False) is None
    np.testing.assert_array_equal(layer.grads["W"], grads["W"])
    layer.grads["b"][...] = 7
    np.testing.assert_array_equal(layer.backward(dy, need_grads=False), dx)
    assert np.all(layer.grads["b"] == 7)


@pytest.mark.parametrize("kind", ["conv s1 p1", "transpose s2 p1"])
def test_predict_leaves_the_cache_alone(kind, rng):
    layer, shape = build(kind, rng)
    x, other = rng.standard_normal(shape), rng.standard_normal((5, *shape[1:]))
    y = layer.forward(x)
    dy = rng.standard_normal(y.shape)
    cache, y_before = layer.cache, y.copy()
    want = layer.backward(dy).copy()
    layer.predict(other)
    layer.predict(x)
    assert layer.cache is cache
    np.testing.assert_array_equal(y, y_before)
    np.testing.assert_array_equal(layer.backward(dy), want)


@pytest.mark.parametrize("kind", ["conv s2 p1 (floor)", "transpose s2 p1"])
def test_buffers_are_reused_per_batch_size(kind, rng):
    """The same output array at each call with one batch size, another for another size; values stay right."""
    layer, shape = build(kind, rng)
    x4, x3 = rng.standard_normal((4, *shape[1:])), rng.standard_normal((3, *shape[1:]))
    y4 = layer.forward(x4)
    dx4 = layer.backward(np.ones_like(y4))
    y3 = layer.forward(x3)
    assert y3 is not y4 and y3.shape[0] == 3
    assert rel_error(y3, layer.predict(x3)) < 1e-14
    assert layer.forward(x4) is y4 and layer.backward(np.ones_like(y4)) is dx4
    assert rel_error(y4, layer.predict(x4)) < 1e-14
    assert sorted(layer.buffers.sizes()) == [3, 4]


def test_conv_transpose_is_the_adjoint_of_conv(rng):
    """<conv(x), y> = <x, conv_T(y)> with the same W, no bias, no activation."""
    conv = Conv2D(2, 3, 4, rng, 2, 1, np, "float64")
    convT = ConvTranspose2D(3, 2, 4, rng, 2, 1, 0, np, "float64")
    convT.params["W"][...] = conv.params["W"]
    x, y = rng.standard_normal((2, 2, 8, 8)), rng.standard_normal((2, 3, 4, 4))
    assert abs(np.sum(conv.forward(x) * y) - np.sum(x * convT.forward(y))) < 1e-12 * np.abs(x).sum() * 10


@pytest.mark.parametrize("mask_type", ["A", "B"])
def test_masked_conv_output_never_sees_the_pixels_at_or_after_it(mask_type, rng):
    """The numerical Jacobian d y[0, f, i, j] / d x: zero at and after (i, j) in raster order (A), after (B)."""
    layer = MaskedConv2D(2, 2, 3, rng, mask_type, np, "float64", activation="tanh")
    layer.params["W"][...] = rng.standard_normal(layer.params["W"].shape)     # the masked taps too
    x = rng.standard_normal((1, 2, 4, 4))
    order = np.arange(16).reshape(4, 4)
    for i, j in [(0, 0), (1, 2), (3, 3), (2, 0)]:
        for f in range(2):
            dout = np.zeros((1, 2, 4, 4))
            dout[0, f, i, j] = 1
            jac = np.abs(numerical_gradient_array(lambda: layer.predict(x), x, dout)).sum(axis=(0, 1))
            after = order > order[i, j] if mask_type == "B" else order >= order[i, j]
            assert np.all(jac[after] == 0), (i, j)
            assert (jac[order == order[i, j]].item() > 0) == (mask_type == "B")
            assert (i == 0 or jac[i - 1, j] > 0) and (j == 0 or jac[i, j - 1] > 0)   # above and left are seen


def test_masked_taps_get_no_gradient_and_stay_zero_under_adam(rng):
    layer = MaskedConv2D(1, 2, 3, rng, "A", np, "float64", activation="tanh")
    params, grads = pack_parameters([("pixelcnn.0", layer)], dtype="float64")
    opt = Adam(params, lr=0.1)
    x = rng.standard_normal((3, 1, 5, 5))
    for _ in range(3):
        layer.backward(layer.forward(x), need_dx=False)
        assert np.all(grads["pixelcnn.0.W"][:, :, layer.mask == 0] == 0)
        opt.step(grads)
    assert np.all(params["pixelcnn.0.W"][:, :, layer.mask == 0] == 0)
    np.testing.assert_array_equal(layer.mask, [[1, 1, 1], [1, 0, 0], [0, 0, 0]])


def test_pack_parameters_puts_the_layers_in_one_flat_buffer(rng):
    enc = Conv2D(1, 4, 4, rng, 2, 1, np, "float64", activation="relu")
    dec = ConvTranspose2D(4, 1, 4, rng, 2, 1, 0, np, "float64", activation="sigmoid")
    before = {f"{p}.{k}": v.copy() for p, layer in (("enc", enc), ("dec", dec)) for k, v in layer.params.items()}
    params, grads = pack_parameters([("enc", enc), ("dec", dec)], dtype="float64")
    assert list(params) == ["enc.W", "enc.b", "dec.W", "dec.b"] == list(grads)
    for name, value in before.items():
        np.testing.assert_array_equal(params[name], value)
    base = params["enc.W"].base
    assert all(p.base is base for p in params.values())              # one contiguous buffer
    params["dec.W"][0, 0, 0, 0] = 5.0
    assert dec.params["W"][0, 0, 0, 0] == 5.0
    x = rng.random((2, 1, 8, 8))
    dec.backward(dec.forward(enc.forward(x)) - x)
    enc.backward(dec.backward(dec.forward(enc.forward(x)) - x), need_dx=False)
    assert np.shares_memory(grads["enc.W"], enc.grads["W"]) and np.any(grads["enc.W"] != 0)


def test_adam_lowers_a_conv_autoencoders_reconstruction_loss_on_mnist():
    """Conv2D 1->8 (4x4, stride 2) -> ConvTranspose2D 8->1 back to 28x28: 30 Adam steps on 64 MNIST images."""
    from minivae.datasets import load_dataset
    x = load_dataset("mnist", "train").x[:64].reshape(64, 1, 28, 28)
    rng = np.random.default_rng(0)
    enc = Conv2D(1, 8, 4, rng, 2, 1, np, "float32", activation="relu")
    dec = ConvTranspose2D(8, 1, 4, rng, 2, 1, 0, np, "float32", activation="sigmoid")
    params, grads = pack_parameters([("enc", enc), ("dec", dec)])
    opt = Adam(params, lr=2e-2)
    losses = []
    for _ in range(30):
        x_hat = dec.forward(enc.forward(x))                            # (64, 1, 28, 28)
        assert x_hat.shape == x.shape
        losses.append(float(np.mean((x_hat - x) ** 2)))
        enc.backward(dec.backward(2 * (x_hat - x) / x.size), need_dx=False)
        opt.step(grads)
    assert losses[-1] < 0.25 * losses[0], losses             # about 0.23 -> 0.01


@pytest.mark.parametrize("make, x_shape, match", [
    (lambda r: Conv2D(3, 4, 3, r), (2, 2, 8, 8), r"Conv2D expects input of shape \(N, 3, H, W\)"),
    (lambda r: Conv2D(1, 4, 3, r), (2, 64), r"\(N, 1, H, W\).*got \(2, 64\)"),
    (lambda r: Conv2D(1, 4, 5, r, pad=1), (2, 1, 2, 8), r"kernel \(HH, WW\) = \(5, 5\) is larger"),
    (lambda r: Conv2D(1, 4, 4, r, 2, 1), (2, 1, 7, 8), r"stride 2 does not tile"),
    (lambda r: ConvTranspose2D(4, 1, 4, r, 2, 1), (2, 1, 7, 7), r"ConvTranspose2D expects .*\(N, 4, H, W\)"),
    (lambda r: ConvTranspose2D(1, 1, 2, r, 1, 2), (1, 1, 1, 1), r"pad 2 crops the whole output"),
])
def test_wrong_input_shapes_are_clear_errors(make, x_shape, match, rng):
    with pytest.raises(ShapeError, match=match):
        make(rng).forward(np.zeros(x_shape, np.float32))


@pytest.mark.parametrize("make, match", [
    (lambda r: Conv2D(1, 4, 3, r, stride=0), r"stride must be an integer >= 1, got 0"),
    (lambda r: Conv2D(1, 4, 3, r, pad=-1), r"pad must be an integer >= 0"),
    (lambda r: Conv2D(1, 4, 0, r), r"kernel_size must be"),
    (lambda r: ConvTranspose2D(1, 4, 4, r, 2, 1, output_padding=2), r"output_padding must be .*\[0, stride = 2\)"),
    (lambda r: MaskedConv2D(1, 4, 4, r), r"odd kernel_size"),
    (lambda r: MaskedConv2D(1, 4, 3, r, mask_type="C"), r"mask_type must be 'A'"),
    (lambda r: Conv2D(1, 4, 3, r, activation="swish"), r"unknown activation 'swish'"),
])
def test_bad_settings_are_clear_errors(make, match, rng):
    with pytest.raises(ConfigError, match=match):
        make(rng)


def test_backward_before_forward_is_a_clear_error(rng):
    with pytest.raises(MiniVAEError, match="forward pass first"):
        ConvTranspose2D(1, 1, 3, rng).backward(np.zeros((1, 1, 3, 3)))


def test_default_init_is_pytorchs_uniform_with_the_fan_in(rng):
    W = Conv2D(8, 16, 4, np.random.default_rng(0)).params["W"]
    assert W.dtype == np.float32 and W.shape == (16, 8, 4, 4)
    a = 1 / np.sqrt(8 * 16)
    assert np.abs(W).max() <= a and abs(W.std() - a / np.sqrt(3)) < 0.05 * a / np.sqrt(3)
    WT = ConvTranspose2D(8, 16, 4, np.random.default_rng(0)).params["W"]
    assert WT.shape == (8, 16, 4, 4) and np.abs(WT).max() <= 1 / np.sqrt(16 * 16)


def test_a_training_step_allocates_no_data_sized_array_after_the_first():
    """tracemalloc sees NumPy's allocations: the first step makes the buffers, later steps reuse them.

    A later step's peak stays under a quarter of the input (200 KB here); what it allocates is NumPy's
    own iteration buffers for the strided copies (about 64 KB, whatever N is)."""
    rng = np.random.default_rng(0)
    enc = Conv2D(1, 16, 4, rng, 2, 1, np, activation="relu")
    dec = ConvTranspose2D(16, 1, 4, rng, 2, 1, 0, np, activation="sigmoid")
    x = rng.random((256, 1, 28, 28), dtype=np.float32)
    dy = np.ones_like(x)

    def step():
        dec.forward(enc.forward(x))
        enc.backward(dec.backward(dy), need_dx=False)

    tracemalloc.start()
    try:
        step()
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        step()
        later = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    assert later < x.nbytes / 4, later                                # one (N, 16, 14, 14) array is 4 x.nbytes


@pytest.mark.gpu
@pytest.mark.skipif(GPU_REASON is not None, reason=str(GPU_REASON))
@pytest.mark.parametrize("kind", KINDS)
def test_the_cupy_backend_runs_the_same_code_to_numpys_numbers(kind):
    """The same weights and input on CuPy: float64 outputs and gradients to about 1e-12 of NumPy's."""
    import cupy
    cpu, shape = build(kind, np.random.default_rng(0), "sigmoid")
    gpu, _ = build(kind, np.random.default_rng(0), "sigmoid", backend="cupy")
    for k in cpu.params:
        gpu.params[k][...] = cupy.asarray(cpu.params[k])
    x = np.random.default_rng(1).standard_normal(shape)
    dy = np.random.default_rng(2).standard_normal(cpu.output_shape(shape))
    pairs = [(gpu.forward(cupy.asarray(x)), cpu.forward(x)), (gpu.backward(cupy.asarray(dy)), cpu.backward(dy))]
    pairs += [(gpu.grads[k], cpu.grads[k]) for k in cpu.grads] + [(gpu.predict(cupy.asarray(x)), cpu.predict(x))]
    for got, want in pairs:
        assert rel_error(cupy.asnumpy(got), want) < 1e-12
