"""Dense layers and the MLP, with hand-written backward passes.

Weight layout, stated once: ``y = x @ W + b`` with ``x`` of shape (N, D_in),
``W`` of shape (D_in, D_out) and ``b`` of shape (D_out,).

The functional core is ``dense_forward``/``dense_backward`` (cs231n's
``affine_forward``/``affine_backward``); :class:`Dense`, :class:`Activation`
and :class:`MLP` are thin objects that hold ``params`` and ``grads`` dicts
under the same keys and cache what their backward needs.
"""
from __future__ import annotations

import math

from .activations import get_activation
from .errors import ConfigError, ShapeError


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


def init_weight(rng, d_in, d_out, scheme, dtype):
    """Draw W of shape (d_in, d_out).

    ``uniform``: U(-a, a) with a = 1 / sqrt(d_in), the default of PyTorch's nn.Linear
    (with it the pytorch/examples VAE reaches its published test loss).
    ``he``: N(0, 2 / d_in), for ReLU-like activations (He et al. 2015).
    ``xavier``: U(-a, a) with a = sqrt(6 / (d_in + d_out)) (Glorot & Bengio 2010).
    """
    if scheme == "uniform":
        a = 1.0 / math.sqrt(d_in)
        W = rng.uniform(-a, a, size=(d_in, d_out)).astype(dtype)
    elif scheme == "he":
        W = rng.standard_normal((d_in, d_out), dtype=dtype) * math.sqrt(2.0 / d_in)
    elif scheme == "xavier":
        a = math.sqrt(6.0 / (d_in + d_out))
        W = rng.uniform(-a, a, size=(d_in, d_out)).astype(dtype)
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
    """A fully connected layer ``y = x @ W + b`` with ``params = {"W", "b"}``."""

    def __init__(self, d_in, d_out, rng, xp, dtype="float32", init="xavier"):
        self.d_in, self.d_out = d_in, d_out
        self.params = {
            "W": xp.asarray(init_weight(rng, d_in, d_out, init, dtype)),
            "b": xp.zeros(d_out, dtype=dtype),
        }
        self.grads = {k: xp.zeros_like(v) for k, v in self.params.items()}
        self.cache = None

    def forward(self, x):
        if x.ndim != 2 or x.shape[1] != self.d_in:
            raise ShapeError(f"Dense expects input of shape (N, {self.d_in}), got {tuple(x.shape)}")
        y, self.cache = dense_forward(x, self.params["W"], self.params["b"])
        return y

    def predict(self, x):
        """Forward without caching (inference leaves the training cache intact)."""
        return dense_forward(x, self.params["W"], self.params["b"])[0]

    def backward(self, dy, need_dx=True):
        """Store dW, db in ``grads`` (overwriting) and return dx."""
        dx, dW, db = dense_backward(dy, self.cache, need_dx)
        self.grads["W"][...] = dW
        self.grads["b"][...] = db
        return dx


class Activation:
    """An elementwise activation layer (no parameters)."""

    params: dict = {}
    grads: dict = {}

    def __init__(self, name):
        self.name = name
        self._forward, self._backward = get_activation(name)
        self.cache = None

    def forward(self, x):
        y, self.cache = self._forward(x)
        return y

    def predict(self, x):
        return self._forward(x)[0]

    def backward(self, dy, need_dx=True):
        return self._backward(dy, self.cache)


class MLP:
    """Dense layers with an activation after each, except (optionally) the last.

    ``sizes = [D_0, D_1, ..., D_L]`` builds L Dense layers. Parameters are
    named ``"{i}.W"``, ``"{i}.b"`` for the i-th Dense layer (activations are
    not counted), so a model can prefix them (``"encoder.0.W"``).
    """

    def __init__(self, sizes, activation, rng, xp, dtype="float32", final_activation=None, init="auto"):
        self.sizes = tuple(sizes)
        self.layers = []
        self.dense = []
        for i, (d_in, d_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            last = i == len(sizes) - 2
            act = final_activation if last else activation
            layer = Dense(d_in, d_out, rng, xp, dtype, init_for(act or "identity", init))
            self.layers.append(layer)
            self.dense.append(layer)
            if act is not None and act != "identity":
                self.layers.append(Activation(act))

    @property
    def params(self):
        return {f"{i}.{k}": v for i, d in enumerate(self.dense) for k, v in d.params.items()}

    @property
    def grads(self):
        return {f"{i}.{k}": v for i, d in enumerate(self.dense) for k, v in d.grads.items()}

    def forward(self, x):
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def predict(self, x):
        """Forward without caching."""
        for layer in self.layers:
            x = layer.predict(x)
        return x

    def backward(self, dy, need_dx=True):
        """Backward through every layer; the first layer's dx only if asked."""
        for j, layer in enumerate(reversed(self.layers)):
            first = j == len(self.layers) - 1
            dy = layer.backward(dy, need_dx=need_dx or not first)
        return dy


# --------------------------------------------------------------- fast path
# The same layer maths as above, written into preallocated buffers so that a
# training step allocates nothing of size (N, D). ``ops`` is the backend's
# module of fused elementwise operations (minivae.kernels.cpu on NumPy).

def dense_acts(mlp):
    """[(Dense, activation name)] for the Dense layers of ``mlp``, in order."""
    pairs = []
    for j, layer in enumerate(mlp.layers):
        if isinstance(layer, Dense):
            nxt = mlp.layers[j + 1] if j + 1 < len(mlp.layers) else None
            pairs.append((layer, nxt.name if isinstance(nxt, Activation) else "identity"))
    return pairs


def dense_act_forward_into(x, W, b, act, out, xp, ops):
    """y = act(x @ W + b), written into ``out``: one matmul and one fused pass.

    x: (N, D_in), W: (D_in, D_out), b: (D_out,), out: (N, D_out) -> out.
    """
    xp.matmul(x, W, out=out)
    return ops.bias_act_forward(out, b, act, out=out)


def dense_act_backward_into(dy, x, y, W, act, dW, db, dx, xp, ops):
    """Backward of y = act(x @ W + b), every result written in place.

        da = dy * act'(y)  (into dy, which the caller owns),
        dW = x^T da,   db = sum_n da_n,   dx = da W^T (skipped when dx is None).

    dy, y: (N, D_out), x: (N, D_in), dW: (D_in, D_out), db: (D_out,), dx: (N, D_in).
    """
    if act != "identity":
        ops.act_backward(dy, y, act, out=dy)
    xp.matmul(x.T, dy, out=dW)
    xp.sum(dy, axis=0, out=db)
    if dx is not None:
        xp.matmul(dy, W.T, out=dx)
    return dx


def mlp_forward_into(pairs, x, outs, xp, ops):
    """Forward through [(Dense, act)] into ``outs`` (one (N, D_i) buffer per layer); returns the last."""
    for (layer, act), out in zip(pairs, outs):
        x = dense_act_forward_into(x, layer.params["W"], layer.params["b"], act, out, xp, ops)
    return x


def mlp_backward_into(pairs, x, outs, dy, dxs, xp, ops):
    """Backward of :func:`mlp_forward_into`; fills each layer's ``grads``.

    x: the MLP input; outs: the forward buffers; dy: dL/d(last output), a
    buffer the caller lets us overwrite; dxs[i]: where layer i writes dL/d(its
    input), or None to skip it (dxs[0] None: the input's gradient is not
    needed). Returns dxs[0].
    """
    for i in reversed(range(len(pairs))):
        layer, act = pairs[i]
        x_i = outs[i - 1] if i else x
        dense_act_backward_into(dy, x_i, outs[i], layer.params["W"], act, layer.grads["W"],
                                layer.grads["b"], dxs[i], xp, ops)
        dy = dxs[i]
    return dxs[0]
