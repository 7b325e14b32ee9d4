r"""Convolution by hand: im2col, the 2-D convolution and its backward, the transposed convolution as its adjoint.

Conventions (cs231n's assignment 2; the transposed convolution's as in PyTorch):

    x: (N, C, H, W)    images, channels first        w: (F, C, HH, WW)    F filters of C channels
    b: (F,)            one bias a filter             out: (N, F, H_out, W_out)

    out[n, f, i, j] = b[f] + sum_{c, kh, kw} w[f, c, kh, kw] x_pad[n, c, i s + kh, j s + kw]      (1)

with stride s, x_pad the input with ``pad`` zeros on each side of H and W, and

    H_out = (H + 2 pad - HH) / s + 1,     W_out = (W + 2 pad - WW) / s + 1.

The division must be exact (the stride tiles the padded input) unless ``drop_remainder=True``, which floors
it as PyTorch does and leaves the last rows and columns of the input unread.

im2col. Equation (1) is one matrix product once the windows are laid out as columns:

    cols[(c, kh, kw), (i, j, n)] = x_pad[n, c, i s + kh, j s + kw]        cols: (C HH WW, H_out W_out N)
    out2 = W2 cols + b,   W2 = w.reshape(F, C HH WW)                      out2: (F, H_out W_out N)

and out is out2 with its axes moved back to (N, F, H_out, W_out). col2im is the adjoint (the transpose) of
the linear map im2col: it adds each column entry back onto the pixel it was read from, so a pixel read by
several windows gets the sum, <im2col(x), A> = <x, col2im(A)> for all x, A.

How it is computed (no compiled code, no JIT). im2col loops over the HH WW kernel offsets (kh, kw) and copies
one strided slice each, x_pad[c, kh::s, kw::s, n] (H_out, W_out of them) into cols[:, kh, kw]: HH WW block
copies, no index arrays (a precomputed fancy index would read the same data through a large index array).
col2im runs the same loop with slice additions; within one slice no pixel repeats, so ``+=`` on the view is
exact and no scatter-add (np.add.at, slow) is needed. The padded input is laid out as (C, H, W, N), the batch
innermost, so that every copy and addition runs over contiguous runs of N values; with the batch outermost the
innermost run is a row of W_out strided values, and NumPy's per-run overhead made col2im twice as slow (at
x (128, 32, 14, 14), w (64, 32, 4, 4), stride 2). The forward is one BLAS GEMM. Everything goes through the
input's array module ``xp``, so CuPy runs the same code.

Backward of the convolution (dfoo = dL/dfoo; dout2 is dout laid out as out2, (F, H_out W_out N)):

    out2 = W2 cols + b:   dW2 = dout2 cols^T,   dcols = W2^T dout2,   db = sum_{n, i, j} dout[n, :, i, j]
    cols = im2col(x):     dx = col2im(dcols)                          (the adjoint of a linear map is its VJP)

The transposed convolution, w: (C_in, C_out, HH, WW), x: (N, C_in, H, W), is the adjoint of the convolution
(stride s, pad p) whose input has C_out channels and whose output has x's shape: its forward is that
convolution's backward with respect to its input,

    out = col2im(W2^T x2) + b,   W2 = w.reshape(C_in, C_out HH WW),   x2 = x laid out as (C_in, H W N),
    H_out = (H - 1) s - 2 p + HH + output_padding,                                                  (2)

and output_padding in [0, s) picks which of the s input sizes that a stride-s convolution maps onto H is
meant: the convolution of that size leaves output_padding rows of its padded input unread (``drop_remainder``).
Backward: with D = im2col(dout), (C_out HH WW, H W N) (col2im's adjoint is im2col),

    A = W2^T x2:   dx2 = W2 D,   dW2 = x2 D^T,   db = sum_{n, i, j} dout[n, :, i, j],

so the transposed convolution's backward with respect to its input is the convolution's forward.
"""
from __future__ import annotations

import numbers

from .backend import array_module
from .errors import ConfigError, ShapeError, positive_int


def _non_negative_int(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise ConfigError(f"{name} must be an integer >= 0, got {value!r}")
    return int(value)


def _check_4d(name, shape, layout):
    if len(shape) != 4 or min(shape) < 1:
        raise ShapeError(f"{name} must have shape {layout} with every size >= 1, got shape {tuple(shape)}")
    return tuple(int(d) for d in shape)


def _out_size(H, W, HH, WW, stride, pad):
    """(H_out, W_out) of a window HH x WW moved by ``stride`` over the padded input (floored)."""
    if HH > H + 2 * pad or WW > W + 2 * pad:
        raise ShapeError(f"the kernel (HH, WW) = {(HH, WW)} is larger than the padded input "
                         f"(H + 2 pad, W + 2 pad) = {(H + 2 * pad, W + 2 * pad)}: use a smaller kernel or more pad")
    return (H + 2 * pad - HH) // stride + 1, (W + 2 * pad - WW) // stride + 1


def conv2d_output_shape(x_shape, w_shape, stride=1, pad=0, drop_remainder=False):
    """(N, F, H_out, W_out) of the convolution of x: (N, C, H, W) by w: (F, C, HH, WW); ShapeError/ConfigError
    naming the argument for a bad shape, stride or pad, and for a stride that does not tile the padded input
    (unless ``drop_remainder``)."""
    N, C, H, W = _check_4d("x", x_shape, "(N, C, H, W)")
    F, C_w, HH, WW = _check_4d("w", w_shape, "(F, C, HH, WW)")
    if C_w != C:
        raise ShapeError(f"w must have shape (F, C, HH, WW) with C = {C} (x's channels), got shape {tuple(w_shape)}")
    stride, pad = positive_int("stride", stride), _non_negative_int("pad", pad)
    H_out, W_out = _out_size(H, W, HH, WW, stride, pad)
    for axis, size, k in (("H", H, HH), ("W", W, WW)):
        rest = (size + 2 * pad - k) % stride
        if rest and not drop_remainder:
            raise ShapeError(f"stride {stride} does not tile the padded input: {axis} + 2 pad - kernel = "
                             f"{size + 2 * pad - k} is not a multiple of {stride} ({rest} row(s) of x would "
                             f"be left out); change pad or the kernel, or pass drop_remainder=True")
    return N, F, H_out, W_out


def conv_transpose2d_output_shape(x_shape, w_shape, stride=1, pad=0, output_padding=0):
    """(N, C_out, H_out, W_out) of the transposed convolution of x: (N, C_in, H, W) by w: (C_in, C_out, HH, WW),
    equation (2) of the module's docstring (PyTorch's); ShapeError/ConfigError naming the argument."""
    N, C_in, H, W = _check_4d("x", x_shape, "(N, C_in, H, W)")
    C_w, C_out, HH, WW = _check_4d("w", w_shape, "(C_in, C_out, HH, WW)")
    if C_w != C_in:
        raise ShapeError(f"w must have shape (C_in, C_out, HH, WW) with C_in = {C_in} (x's channels), "
                         f"got shape {tuple(w_shape)}")
    stride, pad = positive_int("stride", stride), _non_negative_int("pad", pad)
    output_padding = _non_negative_int("output_padding", output_padding)
    if output_padding >= stride:
        raise ConfigError(f"output_padding must be an integer in [0, stride) = [0, {stride}), got {output_padding}")
    H_out = (H - 1) * stride - 2 * pad + HH + output_padding
    W_out = (W - 1) * stride - 2 * pad + WW + output_padding
    if min(H_out, W_out) < 1:
        raise ShapeError(f"pad {pad} crops the whole output: (H_out, W_out) = (H - 1) stride - 2 pad + kernel + "
                         f"output_padding = {(H_out, W_out)}, expected >= 1; use a smaller pad")
    return N, C_out, H_out, W_out


def im2col(x, HH, WW, stride=1, pad=0):
    """cols[(c, kh, kw), (i, j, n)] = x_pad[n, c, i stride + kh, j stride + kw]; x: (N, C, H, W) ->
    cols: (C HH WW, H_out W_out N), H_out and W_out floored. One strided slice copy per kernel offset."""
    xp, (N, C, H, W) = array_module(x), x.shape
    H_out, W_out = _out_size(H, W, HH, WW, stride, pad)
    x_pad = (xp.zeros if pad else xp.empty)((C, H + 2 * pad, W + 2 * pad, N), dtype=x.dtype)
    x_pad[:, pad:pad + H, pad:pad + W] = x.transpose(1, 2, 3, 0)         # (C, H, W, N): the batch innermost
    cols = xp.empty((C, HH, WW, H_out, W_out, N), dtype=x.dtype)
    for kh in range(HH):
        for kw in range(WW):                                             # the windows' (kh, kw) pixels, all at once
            cols[:, kh, kw] = x_pad[:, kh:kh + stride * (H_out - 1) + 1:stride,
                                    kw:kw + stride * (W_out - 1) + 1:stride]
    return cols.reshape(C * HH * WW, H_out * W_out * N)


def col2im(cols, x_shape, HH, WW, stride=1, pad=0):
    """The adjoint of im2col: x[n, c, h, w] = sum of cols[(c, kh, kw), (i, j, n)] over h + pad = i stride + kh,
    w + pad = j stride + kw; cols: (C HH WW, H_out W_out N) -> x: (N, C, H, W). One slice addition per offset."""
    xp, (N, C, H, W) = array_module(cols), x_shape
    H_out, W_out = _out_size(H, W, HH, WW, stride, pad)
    if cols.shape != (C * HH * WW, H_out * W_out * N):
        raise ShapeError(f"cols must have shape (C HH WW, H_out W_out N) = {(C * HH * WW, H_out * W_out * N)} "
                         f"for x of shape {tuple(x_shape)}, got {cols.shape}")
    cols6 = cols.reshape(C, HH, WW, H_out, W_out, N)
    x_pad = xp.zeros((C, H + 2 * pad, W + 2 * pad, N), dtype=cols.dtype)
    for kh in range(HH):
        for kw in range(WW):                                             # no pixel twice within one slice
            x_pad[:, kh:kh + stride * (H_out - 1) + 1:stride,
                  kw:kw + stride * (W_out - 1) + 1:stride] += cols6[:, kh, kw]
    return xp.ascontiguousarray(x_pad[:, pad:pad + H, pad:pad + W].transpose(3, 0, 1, 2))


def _check_bias(b, n, what):
    if getattr(b, "shape", None) != (n,):
        raise ShapeError(f"b must have shape ({what},) = ({n},), got {getattr(b, 'shape', type(b).__name__)}")


def _check_dout(dout, shape):
    if dout.shape != shape:
        raise ShapeError(f"dout must have the forward output's shape {shape}, got {dout.shape}")


def conv2d_forward(x, w, b, stride=1, pad=0, drop_remainder=False):
    """Equation (1): x: (N, C, H, W), w: (F, C, HH, WW), b: (F,) -> (out: (N, F, H_out, W_out), cache).

    out2 = W2 im2col(x) + b, one GEMM; ``drop_remainder`` allows a stride that does not tile (floored)."""
    xp = array_module(x, w, b)
    N, F, H_out, W_out = conv2d_output_shape(x.shape, w.shape, stride, pad, drop_remainder)
    _check_bias(b, F, "F")
    HH, WW = w.shape[2:]
    cols = im2col(x, HH, WW, stride, pad)                                # (C HH WW, H_out W_out N)
    out2 = w.reshape(F, -1) @ cols                                       # (F, H_out W_out N)
    out = xp.empty((N, F, H_out, W_out), dtype=out2.dtype)               # x's and w's dtype; b is cast
    xp.add(out2.reshape(F, H_out, W_out, N).transpose(3, 0, 1, 2), b.reshape(1, F, 1, 1), out=out)
    return out, (x.shape, w, cols, stride, pad)


def conv2d_backward(dout, cache, need_dx=True):
    """dout: (N, F, H_out, W_out) -> (dx: (N, C, H, W) or None without ``need_dx``, dw: (F, C, HH, WW), db: (F,)):
    dW2 = dout2 cols^T, db = sum of dout over (n, i, j), dx = col2im(W2^T dout2)."""
    x_shape, w, cols, stride, pad = cache
    F, _, HH, WW = w.shape
    _check_dout(dout, (x_shape[0], F, *_out_size(*x_shape[2:], HH, WW, stride, pad)))
    dout2 = dout.transpose(1, 2, 3, 0).reshape(F, -1)                   # (F, H_out W_out N): a copy
    dw = (dout2 @ cols.T).reshape(w.shape)
    db = dout.sum(axis=(0, 2, 3))
    dx = col2im(w.reshape(F, -1).T @ dout2, x_shape, HH, WW, stride, pad) if need_dx else None
    return dx, dw, db


def conv_transpose2d_forward(x, w, b, stride=1, pad=0, output_padding=0):
    """Equation (2): x: (N, C_in, H, W), w: (C_in, C_out, HH, WW), b: (C_out,) -> (out: (N, C_out, H_out, W_out),
    cache); out = col2im(W2^T x2) + b, the convolution's backward with respect to its input (one GEMM)."""
    N, C_out, H_out, W_out = conv_transpose2d_output_shape(x.shape, w.shape, stride, pad, output_padding)
    _check_bias(b, C_out, "C_out")
    C_in, _, HH, WW = w.shape
    x2 = x.transpose(1, 2, 3, 0).reshape(C_in, -1)                      # (C_in, H W N): a copy
    cols = w.reshape(C_in, -1).T @ x2                                    # (C_out HH WW, H W N)
    out = col2im(cols, (N, C_out, H_out, W_out), HH, WW, stride, pad)   # a new array: the bias goes in place
    out += b.reshape(1, C_out, 1, 1)
    return out, (x.shape, x2, w, stride, pad, (N, C_out, H_out, W_out))


def conv_transpose2d_backward(dout, cache, need_dx=True):
    """dout: (N, C_out, H_out, W_out) -> (dx: (N, C_in, H, W) or None without ``need_dx``, dw: (C_in, C_out, HH, WW),
    db: (C_out,)): with D = im2col(dout), dx2 = W2 D (the convolution's forward of dout), dW2 = x2 D^T."""
    x_shape, x2, w, stride, pad, out_shape = cache
    _check_dout(dout, out_shape)
    (N, C_in, H, W), HH, WW = x_shape, w.shape[2], w.shape[3]
    D = im2col(dout, HH, WW, stride, pad)                                # (C_out HH WW, H W N)
    dw = (x2 @ D.T).reshape(w.shape)
    db = dout.sum(axis=(0, 2, 3))
    if not need_dx:
        return None, dw, db
    dx = (w.reshape(C_in, -1) @ D).reshape(C_in, H, W, N).transpose(3, 0, 1, 2)
    return array_module(dx).ascontiguousarray(dx), dw, db
