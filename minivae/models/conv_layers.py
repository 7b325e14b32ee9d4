"""Convolution layers with the Dense interface: Conv2D, ConvTranspose2D and the PixelCNN's MaskedConv2D.

Layouts, stated once: x of shape (N, C, H, W); a convolution's ``W`` of shape
(F, C, HH, WW) and ``b`` of shape (F,); a transposed convolution's ``W`` of
shape (C_in, C_out, HH, WW) (PyTorch's) and ``b`` of shape (C_out,).

A convolution is a :class:`minivae.layers.Dense` layer applied to patches.
With stride s and zero padding p, x_pad the padded input and the patch matrix

    X_col[(n, i, j), (u, v, c)] = x_pad[n, c, s i + u, s j + v]        (N Ho Wo, HH WW C)

the layer is  A = X_col W_mat^T + b  (N Ho Wo, F), W_mat[f, (u, v, c)] = W[f, c, u, v],
and y[n, f, i, j] = act(A[(n, i, j), f]); its backward is Dense's,

    dA = dy * act'(y),  dW_mat = dA^T X_col,  db = sum_rows dA,  dX_col = dA W_mat,

and dx is col2im(dX_col): each patch's gradient added back onto the pixels it
was read from. The transposed convolution is the adjoint of that map (with
respect to x): its forward is the convolution's dx path (a product, then
col2im) and its backward the convolution's forward path (im2col, then
products). :mod:`minivae.conv` holds the same maths as pure functions
(``conv2d_forward``/``conv2d_backward``, ...) that the lessons teach with and
the tests check these layers against.

The layers lay the patches out as rows (n, i, j), where :func:`minivae.conv.im2col`
has columns: A then has the filters on its last axis, the layout of Dense's
fused bias-and-activation op, and the patches of a batch fill a buffer of the
layer's own. Inside, images are kept channels last, (N, H, W, C), and a patch
row runs over (u, v, c): each kernel offset then reads or adds whole channel
vectors, contiguous in memory, which makes im2col and col2im 3 to 5 times
faster than channels first at a conv VAE's shapes (``bench conv``). The layers
are fast as written, on the backend's array module and ops: the
patches are one strided copy, the products write into buffers kept per batch
size (:class:`minivae.backend.buffers.Buffers`), the bias and the activation
are the backend's fused ``ops.bias_act_forward`` and ``ops.act_backward``, so
the CuPy backend runs this same code. The arrays ``forward`` and ``backward``
return are the layer's buffers, reused at the next call with the same batch
size: copy one to keep it. ``predict`` returns new arrays and leaves the
cache alone.
"""
from __future__ import annotations

from ..activations import get_activation
from ..backend import get_backend
from ..backend.buffers import Buffers
from ..conv import conv2d_output_shape, conv_transpose2d_output_shape
from ..errors import ConfigError, MiniVAEError, ShapeError
from ..layers import init_for, init_weight


def _pair(name, value, low):
    """(value, value) for an int, or the pair itself; each at least ``low``."""
    pair = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, int) and v >= low for v in pair):
        raise ConfigError(f"{name} must be an integer >= {low} or a pair of them, got {value!r}")
    return pair


def im2col_rows(xp, x_pad, stride, out):
    """im2col into rows: out[n, i, j, u, v, c] = x_pad[n, s i + u, s j + v, c], one strided copy.

    x_pad: (N, Hp, Wp, C), channels last; out: (N, Ho, Wo, HH, WW, C), whose shape says the kernel and
    the output size; out.reshape(N Ho Wo, HH WW C) is X_col. The source is a strided view of x_pad.
    """
    sn, sh, sw, sc = x_pad.strides
    out[...] = xp.lib.stride_tricks.as_strided(x_pad, out.shape, (sn, stride * sh, stride * sw, sh, sw, sc))
    return out


def scatter_add(out_pad, cols, stride):
    """col2im: out_pad[n, s i + u, s j + v, c] += cols[n, i, j, u, v, c], summed over every (i, j, u, v).

    out_pad: (N, Hp, Wp, C), zeroed by the caller; cols: (N, Ho, Wo, HH, WW, C). One strided add of
    whole channel vectors per kernel offset (u, v): the patches of one offset never overlap, those of two may.
    """
    _, h, w, kh, kw, _ = cols.shape
    for u in range(kh):
        for v in range(kw):
            out_pad[:, u:u + stride * (h - 1) + 1:stride, v:v + stride * (w - 1) + 1:stride] += cols[:, :, :, u, v]
    return out_pad


def _zero_border(a, pad):
    """Zero the pad-wide frame of a (N, Hp, Wp, C) buffer (its inside is written by the caller)."""
    if pad:
        a[:, :pad], a[:, -pad:], a[:, :, :pad], a[:, :, -pad:] = 0, 0, 0, 0


class _ConvBase:
    """What both convolutions share: parameters, buffers, the activation, input checks."""

    def __init__(self, w_shape, fan_in, fan_out, n_out, rng, stride, pad, backend, dtype, init, activation):
        get_activation(activation)                       # ConfigError for an unknown name
        for name, value, low in (("stride", stride, 1), ("pad", pad, 0)):
            if not isinstance(value, int) or value < low:
                raise ConfigError(f"{name} must be an integer >= {low}, got {value!r}")
        self.stride, self.pad = stride, pad
        self.backend = get_backend(backend)
        xp = self.backend.xp
        self.activation = activation
        W = init_weight(rng, fan_in, fan_out, init_for(activation, init), dtype, shape=w_shape)
        self.params = {"W": xp.asarray(W), "b": xp.zeros(n_out, dtype=dtype)}
        self.grads = {k: xp.zeros_like(v) for k, v in self.params.items()}
        self.buffers = Buffers(xp, dtype)
        a, b, kh, kw = w_shape
        self._W_mat, self._dW_mat = xp.empty((a, kh, kw, b), dtype=dtype), xp.empty((a, kh, kw, b), dtype=dtype)
        self.cache = None

    def weight(self):
        """The weight the convolution applies (MaskedConv2D masks it)."""
        return self.params["W"]

    def _weight_matrix(self):
        """W_mat[a, (u, v, b)] = weight[a, b, u, v]: (A, HH WW B), the patch rows' order, in an array kept for it."""
        self._W_mat[...] = self.weight().transpose(0, 2, 3, 1)
        return self._W_mat.reshape(self._W_mat.shape[0], -1)

    def _dW_matrix(self):
        """The array dW_mat (A, HH WW B) is written into; ``_grad_from_matrix`` moves it to grads["W"]."""
        return self._dW_mat.reshape(self._dW_mat.shape[0], -1)

    def _grad_from_matrix(self):
        """grads["W"][a, b, u, v] = dW_mat[a, (u, v, b)]."""
        self.grads["W"][...] = self._dW_mat.transpose(0, 3, 1, 2)

    @property
    def kernel(self):
        return tuple(self.params["W"].shape[2:])

    def _check(self, x):
        """The output's shape for x; ShapeError naming the layer for a wrong input (the core's for the rest)."""
        if x.ndim != 4 or x.shape[1] != self.c_in:
            raise ShapeError(f"{type(self).__name__} expects input of shape (N, {self.c_in}, H, W), "
                             f"got {tuple(x.shape)}")
        return self.output_shape(x.shape)

    def _act_forward(self, a2d, buf):
        """a2d <- act(a2d + b) in place, a2d (rows, F) with b (F,) (the backend's fused pass)."""
        work = buf("work", a2d.shape) if self.activation in self.backend.ops.SCRATCH_ACTS else None
        return self.backend.ops.bias_act_forward(a2d, self.params["b"], self.activation, out=a2d, work=work)

    def _pre_activation_grad(self, dy, y):
        """dA = dy * act'(y), written through the output y (dy itself for the identity)."""
        if self.activation == "identity":
            return dy
        return self.backend.ops.act_backward(dy, y, self.activation, out=self.buffers("da", dy.shape))

    def _fresh(self):
        """An allocator with the Buffers call signature that returns new arrays (``predict``)."""
        xp, dtype = self.backend.xp, self.params["W"].dtype
        return lambda name, shape: xp.empty(shape, dtype=dtype)

    def forward(self, x):
        """y = the layer's output for x, cached for ``backward``; y is a buffer reused at this batch size."""
        y, self.cache = self._forward(x, self.buffers)
        return y

    def predict(self, x):
        """The same output in new arrays, without caching (inference leaves training alone)."""
        return self._forward(x, self._fresh())[0]

    def _cached(self):
        if self.cache is None:
            raise MiniVAEError(f"{type(self).__name__}.backward() needs a forward pass first: "
                               f"call forward(x) before backward(dy)")
        return self.cache


class Conv2D(_ConvBase):
    """A 2-D convolution with its activation: y = act(conv(x, W) + b), stride s, zero padding p.

    ``params = {"W": (F, C, HH, WW), "b": (F,)}`` and ``grads`` under the same
    keys. Output size Ho = floor((H + 2p - HH) / s) + 1 (and Wo likewise), as
    PyTorch's, with ``drop_remainder=True``; by default the stride must tile
    the padded input, as in :func:`minivae.conv.conv2d_output_shape`.
    ``init="uniform"`` (the default) draws U(-a, a) with a = 1 / sqrt(C HH WW),
    PyTorch's default for a convolution; "he", "xavier" and "auto" as for
    Dense, with fan-in C HH WW and fan-out F HH WW.
    """

    def __init__(self, c_in, c_out, kernel_size, rng, stride=1, pad=0, backend=None, dtype="float32",
                 init="uniform", activation="identity", drop_remainder=False):
        kh, kw = _pair("kernel_size", kernel_size, 1)
        self.c_in, self.c_out, self.drop_remainder = c_in, c_out, drop_remainder
        super().__init__((c_out, c_in, kh, kw), c_in * kh * kw, c_out * kh * kw, c_out, rng, stride, pad,
                         backend, dtype, init, activation)

    def output_shape(self, x_shape):
        """(N, F, Ho, Wo) for an input of shape (N, C, H, W)."""
        return conv2d_output_shape(x_shape, self.params["W"].shape, self.stride, self.pad, self.drop_remainder)

    def _forward(self, x, buf):
        """A = X_col W_mat^T + b, y = act(A) moved to (N, F, Ho, Wo).  x: (N, C, H, W)."""
        kh, kw = self.kernel
        n, f, ho, wo = self._check(x)
        xp, p = self.backend.xp, self.pad
        h, w = x.shape[2:]
        x_pad = buf("x_pad", (n, h + 2 * p, w + 2 * p, self.c_in))          # channels last
        _zero_border(x_pad, p)
        x_pad[:, p:p + h, p:p + w] = x.transpose(0, 2, 3, 1)
        cols = im2col_rows(xp, x_pad, self.stride, buf("cols", (n, ho, wo, kh, kw, self.c_in)))
        cols2d = cols.reshape(n * ho * wo, -1)                                # X_col: (N Ho Wo, HH WW C)
        W_mat = self._weight_matrix()                                         # (F, HH WW C)
        a = buf("a", (n, ho, wo, f))
        a2d = xp.matmul(cols2d, W_mat.T, out=a.reshape(n * ho * wo, f))      # A: (N Ho Wo, F)
        self._act_forward(a2d, buf)
        y = buf("y", (n, f, ho, wo))
        y[...] = a.transpose(0, 3, 1, 2)                                      # (N, F, Ho, Wo)
        return y, (x.shape, cols2d, W_mat, y)

    def backward(self, dy, need_dx=True, need_grads=True):
        """Fills ``grads`` (overwriting) unless ``need_grads`` is False; returns dx, or None when ``need_dx`` is False.

            dA = dy * act'(y),  dW_mat = dA^T X_col,  db = sum_rows dA,  dx = col2im(dA W_mat)

        dy: (N, F, Ho, Wo) -> dx: (N, C, H, W). dy is not modified.
        """
        x_shape, cols2d, W_mat, y = self._cached()
        xp, p = self.backend.xp, self.pad
        n, f, ho, wo = y.shape
        da = self._pre_activation_grad(dy, y)
        da_rows = self.buffers("da_rows", (n, ho, wo, f))
        da_rows[...] = da.transpose(0, 2, 3, 1)
        da2d = da_rows.reshape(-1, f)                                         # dA: (N Ho Wo, F)
        if need_grads:
            xp.matmul(da2d.T, cols2d, out=self._dW_matrix())                 # dW_mat: (F, HH WW C)
            self._grad_from_matrix()
            xp.sum(da2d, axis=0, out=self.grads["b"])
            self._mask_grad()
        if not need_dx:
            return None
        dcols = self.buffers("dcols", (n, ho, wo, *self.kernel, self.c_in))
        xp.matmul(da2d, W_mat, out=dcols.reshape(n * ho * wo, -1))          # dX_col: (N Ho Wo, HH WW C)
        h, w = x_shape[2:]
        dx_pad = self.buffers("dx_pad", (n, h + 2 * p, w + 2 * p, self.c_in))
        dx_pad.fill(0)
        scatter_add(dx_pad, dcols, self.stride)                               # col2im, channels last
        dx = self.buffers("dx", x_shape)
        dx[...] = dx_pad[:, p:p + h, p:p + w].transpose(0, 3, 1, 2)
        return dx

    def _mask_grad(self):
        """No mask here (MaskedConv2D zeroes the masked taps' gradient)."""


class ConvTranspose2D(_ConvBase):
    """A transposed convolution with its activation: y = act(conv_T(x, W) + b), the adjoint of Conv2D's x -> conv(x).

    ``params = {"W": (C_in, C_out, HH, WW), "b": (C_out,)}``. Output size
    Ho = (H - 1) s - 2p + HH + output_padding (0 <= output_padding < s), as
    PyTorch's. ``init="uniform"`` draws U(-a, a) with a = 1 / sqrt(C_out HH WW),
    PyTorch's default (it takes the fan-in from W's second axis).

        D_col = x_rows W_mat  (N H W, HH WW C_out),  W_mat[c, (u, v, o)] = W[c, o, u, v],
        a = col2im(D_col) cropped by p,  y = act(a + b)
    """

    def __init__(self, c_in, c_out, kernel_size, rng, stride=1, pad=0, output_padding=0, backend=None,
                 dtype="float32", init="uniform", activation="identity"):
        kh, kw = _pair("kernel_size", kernel_size, 1)
        self.c_in, self.c_out = c_in, c_out
        super().__init__((c_in, c_out, kh, kw), c_out * kh * kw, c_in * kh * kw, c_out, rng, stride, pad,
                         backend, dtype, init, activation)
        if not (isinstance(output_padding, int) and 0 <= output_padding < self.stride):
            raise ConfigError(f"output_padding must be an int in [0, stride = {self.stride}), got {output_padding!r}")
        self.output_padding = output_padding

    def output_shape(self, x_shape):
        """(N, C_out, Ho, Wo) for an input of shape (N, C_in, H, W)."""
        return conv_transpose2d_output_shape(x_shape, self.params["W"].shape, self.stride, self.pad,
                                             self.output_padding)

    def _full(self, x_shape):
        """The uncropped output's shape, channels last: (N, (H - 1) s + HH + op, (W - 1) s + WW + op, C_out)."""
        n, _, h, w = x_shape
        (kh, kw), s, op = self.kernel, self.stride, self.output_padding
        return n, (h - 1) * s + kh + op, (w - 1) * s + kw + op, self.c_out

    def _forward(self, x, buf):
        """y = act(col2im(x_rows W_mat)[crop] + b).  x: (N, C_in, H, W) -> y: (N, C_out, Ho, Wo)."""
        kh, kw = self.kernel
        f, ho, wo = self._check(x)[1:]
        n, c, h, w = x.shape
        xp, p = self.backend.xp, self.pad
        x_rows = buf("x_rows", (n, h, w, c))
        x_rows[...] = x.transpose(0, 2, 3, 1)
        x2d = x_rows.reshape(-1, c)                                           # x_rows: (N H W, C_in)
        W_mat = self._weight_matrix()                                         # (C_in, HH WW C_out)
        cols = buf("cols", (n, h, w, kh, kw, f))
        xp.matmul(x2d, W_mat, out=cols.reshape(n * h * w, -1))               # D_col
        full = buf("full", self._full(x.shape))
        full.fill(0)
        scatter_add(full, cols, self.stride)                                  # col2im, channels last
        a = buf("a", (n, ho, wo, f))
        a[...] = full[:, p:p + ho, p:p + wo]
        self._act_forward(a.reshape(-1, f), buf)
        y = buf("y", (n, f, ho, wo))
        y[...] = a.transpose(0, 3, 1, 2)
        return y, (x2d, x.shape, W_mat, y)

    def backward(self, dy, need_dx=True, need_grads=True):
        """Fills ``grads`` (overwriting) unless ``need_grads`` is False; returns dx, or None when ``need_dx`` is False.

            dA = dy * act'(y),  db = sum_{n,i,j} dA,  dD_col = im2col(dA padded by p),
            dW_mat = x_rows^T dD_col,  dx_rows = dD_col W_mat^T

        dy: (N, C_out, Ho, Wo) -> dx: (N, C_in, H, W). dy is not modified.
        """
        x2d, x_shape, W_mat, y = self._cached()
        xp, p = self.backend.xp, self.pad
        n, c, h, w = x_shape
        f, ho, wo = y.shape[1:]
        da = self._pre_activation_grad(dy, y)
        full = self.buffers("dfull", self._full(x_shape))
        _zero_border(full, p)
        full[:, p:p + ho, p:p + wo] = da.transpose(0, 2, 3, 1)
        dcols = im2col_rows(xp, full, self.stride, self.buffers("dcols", (n, h, w, *self.kernel, f)))
        d2d = dcols.reshape(n * h * w, -1)                                    # dD_col: (N H W, HH WW C_out)
        if need_grads:
            xp.matmul(x2d.T, d2d, out=self._dW_matrix())                     # dW_mat: (C_in, HH WW C_out)
            self._grad_from_matrix()
            xp.sum(da, axis=(0, 2, 3), out=self.grads["b"])
        if not need_dx:
            return None
        dx_rows = self.buffers("dx_rows", (n, h, w, c))
        xp.matmul(d2d, W_mat.T, out=dx_rows.reshape(-1, c))
        dx = self.buffers("dx", x_shape)
        dx[...] = dx_rows.transpose(0, 3, 1, 2)
        return dx


class MaskedConv2D(Conv2D):
    """PixelCNN's masked convolution (van den Oord et al. 2016): y[:, :, i, j] sees only pixels before (i, j).

    Raster order (row by row, left to right). The mask M (HH, WW), centre (ch, cw):
    taps in rows above the centre, and left of it in its row, are 1; mask type "A"
    (the first layer) also drops the centre, type "B" (the layers after) keeps it,
    so a stack of one A and any B layers never sees (i, j) itself or beyond.
    All channels form one group (no colour split: MNIST codes have one). Stride 1,
    padding HH // 2 ("same" size), odd kernels. The layer convolves with W * M and
    its gradient is dW * M, so masked taps neither act nor learn.
    """

    def __init__(self, c_in, c_out, kernel_size, rng, mask_type="B", backend=None, dtype="float32",
                 init="uniform", activation="identity"):
        kh, kw = _pair("kernel_size", kernel_size, 1)
        if kh % 2 == 0 or kw % 2 == 0:
            raise ConfigError(f"MaskedConv2D needs an odd kernel_size (a centre pixel), got {kernel_size!r}")
        if mask_type not in ("A", "B"):
            raise ConfigError(f"mask_type must be 'A' (excludes the centre) or 'B' (includes it), got {mask_type!r}")
        if kh != kw:
            raise ConfigError(f"MaskedConv2D needs a square kernel, got {kernel_size!r}")
        super().__init__(c_in, c_out, kh, rng, 1, kh // 2, backend, dtype, init, activation)
        xp = self.backend.xp
        self.mask_type = mask_type
        mask = xp.ones((kh, kw), dtype=dtype)
        mask[kh // 2 + 1:, :] = 0                                             # rows below the centre
        mask[kh // 2, kw // 2 + (mask_type == "B"):] = 0                     # the centre (type A) and right of it
        self.mask = mask
        self.params["W"] *= mask
        self._W_masked = xp.empty_like(self.params["W"])

    def weight(self):
        """W * M, in an array kept for it (the parameter stays W, read by the optimizer)."""
        return self.backend.xp.multiply(self.params["W"], self.mask, out=self._W_masked)

    def _mask_grad(self):
        self.grads["W"] *= self.mask

