"""Convolution by hand: equation (1) against a direct loop, im2col and col2im as adjoints, float64 gradient checks,
the transposed convolution as the convolution's adjoint, PyTorch when it is installed, and bad shapes refused."""
import numpy as np
import pytest
from hypothesis import assume, given, settings, strategies as st

from minivae.conv import (col2im, conv2d_backward, conv2d_forward, conv2d_output_shape, im2col)
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
    assert cols.shape == (3 * 3 * 2, 2 * 3 * 3)
    for (c, kh, kw), row in zip(np.ndindex(3, 3, 2), cols):
        for (n, i, j), v in zip(np.ndindex(2, 3, 3), row):
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


def test_float32_stays_float32(rng):
    x, w, b = (a.astype(np.float32) for a in (rng.standard_normal((2, 3, 6, 6)), rng.standard_normal((4, 3, 3, 3)),
                                               rng.standard_normal(4)))
    out, cache = conv2d_forward(x, w, b, 1, 1)
    grads = conv2d_backward(np.ones_like(out), cache)
    assert out.dtype == np.float32 and all(g.dtype == np.float32 for g in grads)
    np.testing.assert_allclose(out, naive_conv2d(x, w, b, 1, 1), rtol=1e-4, atol=1e-4)


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
