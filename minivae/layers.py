"""Dense layers and the MLP, with hand-written backward passes.

Weight layout, stated once: ``y = x @ W + b`` with ``x`` of shape (N, D_in),
``W`` of shape (D_in, D_out) and ``b`` of shape (D_out,).

The functional core is ``dense_forward``/``dense_backward`` (cs231n's
``affine_forward``/``affine_backward``) and the activations of
:mod:`minivae.activations`: the lessons teach with them and the tests check
the layers against them. :class:`Dense` (a dense layer with its activation
fused, ``y = act(x @ W + b)``) and :class:`MLP` are the same maths as
objects that hold ``params`` and ``grads`` dicts under the same keys, cache
what their backward needs, and are fast as written: each product writes
into a buffer kept for its batch size (:class:`minivae.backend.buffers.Buffers`),
and the bias, the activation and its derivative are one fused pass each
(the backend's ``ops.bias_act_forward`` and ``ops.act_backward``).
"""
from __future__ import annotations

import math

from .activations import get_activation
from .backend import get_backend
from .backend.buffers import Buffers
from .errors import ConfigError, MiniVAEError, ShapeError


def dense_forward(x, W, b):
    """y = x @ W + b.

    x: (N, D_in), W: (D_in, D_out), b: (D_out,) -> y: (N, D_out), cache (x, W).
    """
    y = x @ W
    y += b
    return y, (x, W)


def dense_backward(dy, cache, need_dx=True):
    """Backward of y = x @ W + b.

    dx = dy @ W^T,  dW = x^T @ dy,  db = sum_n dy_n.
    dy: (N, D_out) -> dx: (N, D_in) (None when ``need_dx`` is False), dW, db.
    """
    x, W = cache
    dW = x.T @ dy
    db = dy.sum(axis=0)
    dx = dy @ W.T if need_dx else None
    return dx, dW, db


def init_weight(rng, d_in, d_out, scheme, dtype, shape=None):
    """Draw W of shape (d_in, d_out), or of ``shape`` with fan-in d_in and fan-out d_out
    (a convolution's (F, C, HH, WW): d_in = C HH WW, d_out = F HH WW).

    ``uniform``: U(-a, a) with a = 1 / sqrt(d_in), the default of PyTorch's nn.Linear
    (with it the pytorch/examples VAE reaches its published test loss).
    ``he``: N(0, 2 / d_in), for ReLU-like activations (He et al. 2015).
    ``xavier``: U(-a, a) with a = sqrt(6 / (d_in + d_out)) (Glorot & Bengio 2010).
    """
    shape = (d_in, d_out) if shape is None else tuple(shape)
    if scheme == "uniform":
        a = 1.0 / math.sqrt(d_in)
        W = rng.uniform(-a, a, size=shape).astype(dtype)
    elif scheme == "he":
        W = rng.standard_normal(shape, dtype=dtype) * math.sqrt(2.0 / d_in)
    elif scheme == "xavier":
        a = math.sqrt(6.0 / (d_in + d_out))
        W = rng.uniform(-a, a, size=shape).astype(dtype)
    else:
        raise ConfigError(f"unknown init scheme {scheme!r}; expected one of {INIT_SCHEMES}")
    return W.astype(dtype, copy=False)


INIT_SCHEMES = ("uniform", "he", "xavier", "auto")


def init_for(activation, init="auto"):
    """The scheme for a layer followed by ``activation``: ``init`` itself, or for
    ``"auto"`` the textbook choice (He for ReLU-like activations, Xavier otherwise)."""
    if init != "auto":
        return init
    return "he" if activation in ("relu", "leaky_relu") else "xavier"


class Dense:
    """A fully connected layer with its activation: ``y = act(x @ W + b)``.

    ``params = {"W": (D_in, D_out), "b": (D_out,)}`` and ``grads`` under the
    same keys. ``forward`` caches (x, y), which is all the backward needs:
    every activation's derivative is written through its output y
    (:mod:`minivae.activations`).

    The arrays ``forward`` and ``backward`` return are this layer's buffers,
    reused at the next call with the same batch size: copy one to keep it.
    ``predict`` returns a new array and leaves the cache alone.
    """

    def __init__(self, d_in, d_out, rng, backend=None, dtype="float32", init="xavier", activation="identity"):
        get_activation(activation)                      # ConfigError for an unknown name
        self.backend = get_backend(backend)
        xp = self.backend.xp
        self.d_in, self.d_out, self.activation = d_in, d_out, activation
        self.params = {
            "W": xp.asarray(init_weight(rng, d_in, d_out, init, dtype)),
            "b": xp.zeros(d_out, dtype=dtype),
        }
        self.grads = {k: xp.zeros_like(v) for k, v in self.params.items()}
        self.buffers = Buffers(xp, dtype)
        self.cache = None

    def _check(self, x):
        if x.ndim != 2 or x.shape[1] != self.d_in:
            raise ShapeError(f"Dense expects input of shape (N, {self.d_in}), got {tuple(x.shape)}")

    def forward(self, x):
        """y = act(x @ W + b): one matrix product and one fused pass.  x: (N, D_in) -> y: (N, D_out)."""
        self._check(x)
        y = self.buffers("y", (x.shape[0], self.d_out))
        work = self.buffers("work", y.shape) if self.activation in self.backend.ops.SCRATCH_ACTS else None
        self.backend.xp.matmul(x, self.params["W"], out=y)
        self.backend.ops.bias_act_forward(y, self.params["b"], self.activation, out=y, work=work)
        self.cache = (x, y)
        return y

    def predict(self, x):
        """act(x @ W + b) in a new array, without caching (inference leaves training alone)."""
        self._check(x)
        y = x @ self.params["W"]
        return self.backend.ops.bias_act_forward(y, self.params["b"], self.activation, out=y)

    def pre_activation_grad(self, dy, y):
        """da = dy * act'(y), written through the output y (dy itself for the identity), in this layer's buffer."""
        if self.activation == "identity":
            return dy
        return self.backend.ops.act_backward(dy, y, self.activation, out=self.buffers("da", dy.shape))

    def backward(self, dy, need_dx=True, need_grads=True):
        """Backward of y = act(a), a = x @ W + b; fills ``grads`` (overwriting) and returns dx.

            da = dy * act'(y),   dW = x^T da,   db = sum_n da_n,   dx = da W^T

        dy: (N, D_out) -> dx: (N, D_in), or None when ``need_dx`` is False
        (the first layer: x is data). ``need_grads=False`` leaves ``grads``
        alone and only passes dx on (a GAN's generator step goes through the
        discriminator, whose weights it does not train). dy is not modified.
        """
        if self.cache is None:
            raise MiniVAEError("Dense.backward() needs a forward pass first: call forward(x) before backward(dy)")
        x, y = self.cache
        xp, da = self.backend.xp, self.pre_activation_grad(dy, y)
        if need_grads:
            xp.matmul(x.T, da, out=self.grads["W"])
            xp.sum(da, axis=0, out=self.grads["b"])
        if not need_dx:
            return None
        return xp.matmul(da, self.params["W"].T, out=self.buffers("dx", x.shape))


class MLP:
    """Dense layers with an activation after each, except (optionally) the last.

    ``sizes = [D_0, D_1, ..., D_L]`` builds L :class:`Dense` layers
    (``layers``, also ``dense``); ``[D_0]`` alone is the identity. Parameters
    are named ``"{i}.W"``, ``"{i}.b"`` for the i-th layer, so a model can
    prefix them (``"encoder.0.W"``).
    """

    def __init__(self, sizes, activation, rng, backend=None, dtype="float32", final_activation=None, init="auto"):
        self.sizes = tuple(sizes)
        backend = get_backend(backend)
        self.layers = []
        for i, (d_in, d_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            act = (final_activation or "identity") if i == len(sizes) - 2 else activation
            self.layers.append(Dense(d_in, d_out, rng, backend, dtype, init_for(act, init), act))

    @property
    def dense(self):
        """The Dense layers, in order (the same list as ``layers``)."""
        return self.layers

    @property
    def params(self):
        return {f"{i}.{k}": v for i, d in enumerate(self.layers) for k, v in d.params.items()}

    @property
    def grads(self):
        return {f"{i}.{k}": v for i, d in enumerate(self.layers) for k, v in d.grads.items()}

    def forward(self, x):
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def predict(self, x):
        """Forward without caching."""
        for layer in self.layers:
            x = layer.predict(x)
        return x

    def backward(self, dy, need_dx=True, need_grads=True):
        """Backward through every layer, last first; the first layer's dx only if asked; grads unless told not."""
        for i in reversed(range(len(self.layers))):
            dy = self.layers[i].backward(dy, need_dx=need_dx or i > 0, need_grads=need_grads)
        return dy


def pack_parameters(parts, extra=(), backend=None, dtype="float32"):
    """One flat buffer for all the parameters of ``parts``, one for their gradients.

    parts: [(prefix, Dense or MLP)], or a part with ``named_layers()`` (a
    :class:`minivae.models.conv_nets.ConvEncoder`: ``"encoder.conv0.W"``); extra: [(name, array)] parameters that
    belong to no layer (e.g. ``decoder.logvar``). Returns ``(params, grads)``,
    dicts of dotted names (``"encoder.0.W"``, ``"mu.b"``) in that order, each
    array a view of one contiguous buffer; the layers hold the same views, so
    writing through either reaches both, and an optimizer updates every
    parameter in a few passes over one array (:class:`minivae.optim.Adam`).
    """
    xp = get_backend(backend).xp
    slots = []                                           # (name, Dense or None, key, initial value)
    for prefix, part in parts:
        named = part.named_layers() if hasattr(part, "named_layers") else \
            list(enumerate(part.layers)) if isinstance(part, MLP) else [(None, part)]
        layers = [(f"{prefix}." if i is None else f"{prefix}.{i}.", d) for i, d in named]
        slots += [(pre + key, d, key, v) for pre, d in layers for key, v in d.params.items()]
    slots += [(name, None, None, v) for name, v in extra]
    params, grads = {}, {}
    for store, attr in ((params, "params"), (grads, "grads")):
        flat = xp.zeros(sum(int(v.size) for *_, v in slots), dtype=dtype)
        off = 0
        for name, layer, key, value in slots:
            view = store[name] = flat[off:off + value.size].reshape(value.shape)
            if attr == "params":
                view[...] = value
            if layer is not None:
                getattr(layer, attr)[key] = view
            off += value.size
    return params, grads
