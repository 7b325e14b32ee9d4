"""Convolution by hand: equation (1) against a direct loop, im2col and col2im as adjoints, float64 gradient checks,
the transposed convolution as the convolution's adjoint, PyTorch when it is installed, and bad shapes refused."""
import numpy as np
import pytest
from hypothesis import assume, given, settings, strategies as st

from minivae.conv import (col2im, conv2d_backward, conv2d_forward, conv2d_output_shape, conv_transpose2d_backward,
                          conv_transpose2d_forward, conv_transpose2d_output_shape, im2col)
from minivae.errors import ConfigError, ShapeError
from minivae.gradcheck import numerical_gradient_array, rel_error

#: the convolution is linear in x, w and b separately, so central differences are exact up to rounding for any
#: step: a step of 0.1 keeps the rounding (about 1e-16 |loss| / h) far below it; about 1e-12 expected
H, TOL = 0.1, 1e-9


def naive_conv2d(x, w, b, stride, pad):
    """out[n, f, i, j] = b[f] + sum_{c, kh, kw} w[f, c, kh, kw] x_pad[n, c, i s + kh, j s + kw], one loop each."""
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    H_out, W_out = (H + 2 * pad - HH) // stride + 1, (W + 2 * pad - WW) // stride + 1
    out = np.zeros((N, F, H_out, W_out))
    for n in range(N):
        for f in range(F):
            for i in range(H_out):
                for j in range(W_out):
                    out[n, f, i, j] = b[f]
                    for c in range(C):
                        for kh in range(HH):
                            for kw in range(WW):
                                out[n, f, i, j] += w[f, c, kh, kw] * x_pad[n, c, i * stride + kh, j * stride + kw]
    return out



def naive_conv_transpose2d(x, w, b, stride, pad, output_padding):
    """Each input pixel scatters w[c_in] * x[n, c_in, i, j] onto the window at (i s, j s) of the full output,
    whose first and last ``pad`` rows and columns are then cropped (the last ones less ``output_padding``)."""
    N, C_in, H, W = x.shape
    _, C_out, HH, WW = w.shape
    full = np.zeros((N, C_out, (H - 1) * stride + HH + output_padding, (W - 1) * stride + WW + output_padding))
    for n in range(N):
        for c in range(C_in):
            for i in range(H):
                for j in range(W):
                    full[n, :, i * stride:i * stride + HH, j * stride:j * stride + WW] += x[n, c, i, j] * w[c]
    return full[:, :, pad:full.shape[2] - pad, pad:full.shape[3] - pad] + b.reshape(1, -1, 1, 1)

# (x shape, w shape, stride, pad): square and odd kernels, strides that tile, pads wider than the kernel's half
CASES = [((2, 3, 5, 5), (4, 3, 3, 3), 1, 1),
         ((2, 2, 7, 5), (3, 2, 3, 1), 2, 0),
         ((1, 3, 6, 6), (2, 3, 4, 4), 2, 1),
         ((3, 1, 4, 6), (2, 1, 2, 2), 2, 0),
         ((2, 2, 5, 7), (3, 2, 3, 5), 3, 2),
         ((1, 2, 3, 3), (2, 2, 1, 1), 1, 0)]


@pytest.mark.parametrize("x_shape, w_shape, stride, pad", CASES)
def test_conv2d_forward_is_the_direct_seven_loop_sum(rng, x_shape, w_shape, stride, pad):
    x, w, b = rng.standard_normal(x_shape), rng.standard_normal(w_shape), rng.standard_normal(w_shape[0])
    out, _ = conv2d_forward(x, w, b, stride, pad)
    assert out.shape == conv2d_output_shape(x_shape, w_shape, stride, pad) and out.flags.c_contiguous
    np.testing.assert_allclose(out, naive_conv2d(x, w, b, stride, pad), rtol=1e-12, atol=1e-12)


def test_drop_remainder_floors_like_pytorch_and_leaves_the_last_rows_unread(rng):
    x, w, b = rng.standard_normal((2, 2, 7, 6)), rng.standard_normal((3, 2, 3, 2)), rng.standard_normal(3)
    out, cache = conv2d_forward(x, w, b, stride=2, pad=0, drop_remainder=True)  # (7 - 3) / 2 tiles, (6 - 2) / 2 too
    np.testing.assert_allclose(out, naive_conv2d(x, w, b, 2, 0), rtol=1e-12, atol=1e-12)
    x8 = rng.standard_normal((2, 2, 8, 7))                                    # 8 - 3 = 5, 7 - 2 = 5: one left over
    out, cache = conv2d_forward(x8, w, b, stride=2, drop_remainder=True)
    np.testing.assert_allclose(out, naive_conv2d(x8, w, b, 2, 0), rtol=1e-12, atol=1e-12)
    dx, _, _ = conv2d_backward(np.ones_like(out), cache)
    assert np.all(dx[:, :, -1, :] == 0) and np.all(dx[:, :, :, -1] == 0)     # the unread row and column


def test_im2col_lays_each_window_out_as_a_column(rng):
    x, s, p = rng.standard_normal((2, 3, 5, 4)), 2, 1
    cols = im2col(x, 3, 2, s, p)
    x_pad = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    assert cols.shape == (3 * 3 * 2, 3 * 3 * 2)                         # (C HH WW, H_out W_out N)
    for (c, kh, kw), row in zip(np.ndindex(3, 3, 2), cols):
        for (i, j, n), v in zip(np.ndindex(3, 3, 2), row):
            assert v == x_pad[n, c, i * s + kh, j * s + kw]


@pytest.mark.parametrize("x_shape, w_shape, stride, pad", CASES)
def test_col2im_is_the_adjoint_of_im2col(rng, x_shape, w_shape, stride, pad):
    """<im2col(x), A> = <x, col2im(A)>: col2im adds each entry back onto the pixel it was read from."""
    HH, WW = w_shape[2:]
    x = rng.standard_normal(x_shape)
    A = rng.standard_normal(im2col(x, HH, WW, stride, pad).shape)
    lhs, rhs = np.sum(im2col(x, HH, WW, stride, pad) * A), np.sum(x * col2im(A, x_shape, HH, WW, stride, pad))
    assert lhs == pytest.approx(rhs, rel=1e-12)


@pytest.mark.parametrize("x_shape, w_shape, stride, pad", CASES)
def test_conv2d_backward_matches_finite_differences(rng, x_shape, w_shape, stride, pad):
    x, w, b = rng.standard_normal(x_shape), rng.standard_normal(w_shape), rng.standard_normal(w_shape[0])
    out, cache = conv2d_forward(x, w, b, stride, pad)
    dout = rng.standard_normal(out.shape)
    dout_before = dout.copy()
    dx, dw, db = conv2d_backward(dout, cache)
    np.testing.assert_array_equal(dout, dout_before)                     # the upstream gradient is not written to
    assert (dx.shape, dw.shape, db.shape) == (x.shape, w.shape, b.shape)
    f = lambda: conv2d_forward(x, w, b, stride, pad)[0]
    for name, analytic, arg in (("dx", dx, x), ("dw", dw, w), ("db", db, b)):
        assert rel_error(analytic, numerical_gradient_array(f, arg, dout, h=H)) < TOL, name


def test_conv2d_backward_without_dx_gives_the_same_parameter_gradients(rng):
    x, w, b = rng.standard_normal((2, 3, 6, 6)), rng.standard_normal((4, 3, 4, 4)), rng.standard_normal(4)
    out, cache = conv2d_forward(x, w, b, 2, 1)
    dout = rng.standard_normal(out.shape)
    dx, dw, db = conv2d_backward(dout, cache)
    none, dw2, db2 = conv2d_backward(dout, cache, need_dx=False)
    assert none is None
    np.testing.assert_array_equal(dw, dw2)
    np.testing.assert_array_equal(db, db2)


def test_float32_stays_float32_even_with_a_float64_bias(rng):
    """The output has x's and w's dtype (b is cast), so a float32 model never turns float64 silently."""
    x, w = rng.standard_normal((2, 3, 6, 6)).astype(np.float32), rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    b = rng.standard_normal(4)
    out, cache = conv2d_forward(x, w, b, 1, 1)
    grads = conv2d_backward(np.ones_like(out), cache)
    assert out.dtype == np.float32 and all(g.dtype == np.float32 for g in grads[:2])
    np.testing.assert_allclose(out, naive_conv2d(x, w, b, 1, 1), rtol=1e-4, atol=1e-4)
    out_t, cache = conv_transpose2d_forward(out, w, rng.standard_normal(3), 2, 1, 1)
    grads = conv_transpose2d_backward(np.ones_like(out_t), cache)
    assert out_t.dtype == np.float32 and all(g.dtype == np.float32 for g in grads[:2])


X, W, B = np.zeros((2, 3, 5, 5)), np.zeros((4, 3, 3, 3)), np.zeros(4)


@pytest.mark.parametrize("call, error, message", [
    (lambda: conv2d_forward(X[0], W, B), ShapeError, r"x must have shape \(N, C, H, W\).*got shape \(3, 5, 5\)"),
    (lambda: conv2d_forward(X, W[0], B), ShapeError, r"w must have shape \(F, C, HH, WW\)"),
    (lambda: conv2d_forward(X, np.zeros((4, 2, 3, 3)), B), ShapeError, r"C = 3 \(x's channels\).*\(4, 2, 3, 3\)"),
    (lambda: conv2d_forward(X, W, np.zeros(3)), ShapeError, r"b must have shape \(F,\) = \(4,\), got \(3,\)"),
    (lambda: conv2d_forward(X, np.zeros((4, 3, 6, 6)), B), ShapeError, r"kernel \(HH, WW\) = \(6, 6\) is larger "
                                                                         r"than the padded input .* = \(5, 5\)"),
    (lambda: conv2d_forward(X, W, B, stride=2, pad=0), None, None),
    (lambda: conv2d_forward(X, W, B, stride=3, pad=0), ShapeError, r"stride 3 does not tile.*= 2 is not a multiple "
                                                                     r"of 3.*drop_remainder=True"),
    (lambda: conv2d_forward(X, W, B, stride=0), ConfigError, r"stride must be an integer >= 1, got 0"),
    (lambda: conv2d_forward(X, W, B, stride=1.5), ConfigError, r"stride must be an integer >= 1, got 1.5"),
    (lambda: conv2d_forward(X, W, B, pad=-1), ConfigError, r"pad must be an integer >= 0, got -1"),
    (lambda: conv2d_backward(np.zeros((2, 4, 4, 4)), conv2d_forward(X, W, B)[1]), ShapeError,
     r"dout must have the forward output's shape \(2, 4, 3, 3\), got \(2, 4, 4, 4\)"),
    (lambda: col2im(np.zeros((27, 5)), X.shape, 3, 3), ShapeError, r"cols must have shape .* = \(27, 18\)"),
])
def test_bad_shapes_and_strides_are_one_line_errors(call, error, message):
    if error is None:
        call()                                                           # (5 - 3) / 2 tiles: accepted
        return
    with pytest.raises(error, match=message) as info:
        call()
    assert "\n" not in str(info.value)


# (x shape, w shape, stride, pad, output_padding) of the transposed convolution
T_CASES = [((2, 3, 4, 4), (3, 2, 3, 3), 1, 1, 0),
           ((2, 2, 3, 4), (2, 3, 4, 4), 2, 1, 0),
           ((1, 3, 3, 3), (3, 2, 3, 3), 2, 1, 1),
           ((2, 1, 2, 3), (1, 2, 3, 2), 3, 0, 2),
           ((1, 2, 4, 2), (2, 2, 5, 3), 2, 2, 1)]


@pytest.mark.parametrize("x_shape, w_shape, stride, pad, output_padding", T_CASES)
def test_conv_transpose2d_forward_scatters_each_pixel_through_the_kernel(rng, x_shape, w_shape, stride, pad,
                                                                          output_padding):
    x, w, b = rng.standard_normal(x_shape), rng.standard_normal(w_shape), rng.standard_normal(w_shape[1])
    out, _ = conv_transpose2d_forward(x, w, b, stride, pad, output_padding)
    assert out.shape == conv_transpose2d_output_shape(x_shape, w_shape, stride, pad, output_padding)
    np.testing.assert_allclose(out, naive_conv_transpose2d(x, w, b, stride, pad, output_padding),
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("x_shape, w_shape, stride, pad, output_padding", T_CASES)
def test_conv_transpose2d_backward_matches_finite_differences(rng, x_shape, w_shape, stride, pad, output_padding):
    x, w, b = rng.standard_normal(x_shape), rng.standard_normal(w_shape), rng.standard_normal(w_shape[1])
    out, cache = conv_transpose2d_forward(x, w, b, stride, pad, output_padding)
    dout = rng.standard_normal(out.shape)
    dout_before = dout.copy()
    dx, dw, db = conv_transpose2d_backward(dout, cache)
    np.testing.assert_array_equal(dout, dout_before)
    assert (dx.shape, dw.shape, db.shape) == (x.shape, w.shape, b.shape) and dx.flags.c_contiguous
    f = lambda: conv_transpose2d_forward(x, w, b, stride, pad, output_padding)[0]
    for name, analytic, arg in (("dx", dx, x), ("dw", dw, w), ("db", db, b)):
        assert rel_error(analytic, numerical_gradient_array(f, arg, dout, h=H)) < TOL, name
    assert conv_transpose2d_backward(dout, cache, need_dx=False)[0] is None


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 2), c=st.integers(1, 3), f=st.integers(1, 3), k=st.tuples(st.integers(1, 4), st.integers(1, 4)),
       size=st.tuples(st.integers(1, 4), st.integers(1, 4)), stride=st.integers(1, 3), pad=st.integers(0, 2),
       output_padding=st.integers(0, 2), seed=st.integers(0, 2**16))
def test_the_transposed_convolution_is_the_adjoint_of_the_convolution(n, c, f, k, size, stride, pad, output_padding,
                                                                      seed):
    """<conv(x), y> = <x, conv_T(y)> for every x and y, with the same w, stride and pad (no bias): conv_T's output
    size (2) is a size whose convolution has y's size, output_padding rows left over."""
    assume(output_padding < stride)
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((f, c, *k))                                  # conv: C = c -> F = f; conv_T: f -> c
    y = rng.standard_normal((n, f, *size))
    H, W = ((s - 1) * stride - 2 * pad + kk + output_padding for s, kk in zip(size, k))
    assume(H >= 1 and W >= 1)
    x = rng.standard_normal((n, c, H, W))
    conv_x, _ = conv2d_forward(x, w, np.zeros(f), stride, pad, drop_remainder=output_padding > 0)
    conv_t_y, _ = conv_transpose2d_forward(y, w, np.zeros(c), stride, pad, output_padding)
    assert conv_x.shape == y.shape and conv_t_y.shape == x.shape
    assert np.sum(conv_x * y) == pytest.approx(np.sum(x * conv_t_y), rel=1e-10, abs=1e-10)


@pytest.mark.parametrize("x_shape, w_shape, stride, pad", CASES)
def test_conv2d_equals_pytorch(rng, x_shape, w_shape, stride, pad):
    torch = pytest.importorskip("torch")
    x, w, b = rng.standard_normal(x_shape), rng.standard_normal(w_shape), rng.standard_normal(w_shape[0])
    out, cache = conv2d_forward(x, w, b, stride, pad)
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    t_out = torch.nn.functional.conv2d(tx, tw, tb, stride=stride, padding=pad)
    dout = rng.standard_normal(out.shape)
    t_out.backward(torch.tensor(dout))
    np.testing.assert_allclose(out, t_out.detach().numpy(), rtol=1e-10, atol=1e-10)
    for mine, theirs in zip(conv2d_backward(dout, cache), (tx, tw, tb)):
        np.testing.assert_allclose(mine, theirs.grad.numpy(), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("x_shape, w_shape, stride, pad, output_padding", T_CASES)
def test_conv_transpose2d_equals_pytorch(rng, x_shape, w_shape, stride, pad, output_padding):
    torch = pytest.importorskip("torch")
    x, w, b = rng.standard_normal(x_shape), rng.standard_normal(w_shape), rng.standard_normal(w_shape[1])
    out, cache = conv_transpose2d_forward(x, w, b, stride, pad, output_padding)
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    t_out = torch.nn.functional.conv_transpose2d(tx, tw, tb, stride=stride, padding=pad,
                                                 output_padding=output_padding)
    dout = rng.standard_normal(out.shape)
    t_out.backward(torch.tensor(dout))
    np.testing.assert_allclose(out, t_out.detach().numpy(), rtol=1e-10, atol=1e-10)
    for mine, theirs in zip(conv_transpose2d_backward(dout, cache), (tx, tw, tb)):
        np.testing.assert_allclose(mine, theirs.grad.numpy(), rtol=1e-10, atol=1e-10)


XT, WT, BT = np.zeros((2, 3, 4, 4)), np.zeros((3, 2, 3, 3)), np.zeros(2)


@pytest.mark.parametrize("call, error, message", [
    (lambda: conv_transpose2d_forward(XT[0], WT, BT), ShapeError, r"x must have shape \(N, C_in, H, W\)"),
    (lambda: conv_transpose2d_forward(XT, np.zeros((2, 3, 3, 3)), np.zeros(3)), ShapeError,
     r"w must have shape \(C_in, C_out, HH, WW\) with C_in = 3 \(x's channels\), got shape \(2, 3, 3, 3\)"),
    (lambda: conv_transpose2d_forward(XT, WT, np.zeros(3)), ShapeError, r"b must have shape \(C_out,\) = \(2,\)"),
    (lambda: conv_transpose2d_forward(XT, WT, BT, stride=2, output_padding=2), ConfigError,
     r"output_padding must be an integer in \[0, stride\) = \[0, 2\), got 2"),
    (lambda: conv_transpose2d_forward(XT, WT, BT, output_padding=-1), ConfigError, r"output_padding must be .* >= 0"),
    (lambda: conv_transpose2d_forward(np.zeros((1, 3, 1, 1)), WT, BT, pad=2), ShapeError,
     r"pad 2 crops the whole output: .* = \(-1, -1\), expected >= 1"),
    (lambda: conv_transpose2d_forward(XT, WT, BT, stride=-2), ConfigError, r"stride must be an integer >= 1"),
    (lambda: conv_transpose2d_backward(np.zeros((2, 2, 5, 5)), conv_transpose2d_forward(XT, WT, BT)[1]), ShapeError,
     r"dout must have the forward output's shape \(2, 2, 6, 6\), got \(2, 2, 5, 5\)"),
])
def test_bad_transposed_convolutions_are_one_line_errors(call, error, message):
    with pytest.raises(error, match=message) as info:
        call()
    assert "\n" not in str(info.value)
