"""The convolutional VAE's encoder and decoder (``VAE(arch="conv")``), for 28 x 28 single-channel images.

Both have the interface of :class:`minivae.layers.MLP` (forward, backward
with ``need_dx``, predict, ``layers``) on flat images (N, 784), so the VAE's
graph is unchanged; :func:`minivae.layers.pack_parameters` reads their
``named_layers``.

    encoder  x (N, 784) -> (N, 1, 28, 28) -> Conv2D 1->32, 4x4, stride 2, pad 1, act  (N, 32, 14, 14)
             -> Conv2D 32->64, 4x4, stride 2, pad 1, act  (N, 64, 7, 7) -> flatten (N, 3136)
             -> Dense layers 3136 -> hidden_dims, act  (none for hidden_dims=()) -> h, into the mu / logvar heads
    decoder  z (N, M) -> Dense layers M -> reversed(hidden_dims) -> 3136, act -> (N, 64, 7, 7)
             -> ConvTranspose2D 64->32, 4x4, stride 2, pad 1, act  (N, 32, 14, 14)
             -> ConvTranspose2D 32->1, 4x4, stride 2, pad 1, identity  (N, 1, 28, 28) -> (N, 784) logits or means

Each backward is its layers' backward in reverse order; a flatten or a
reshape passes the gradient through reshaped the other way. Parameter names:
``encoder.conv0.W``, ``encoder.conv1.W``, ``encoder.dense{i}.W``;
``decoder.dense{i}.W``, ``decoder.deconv0.W``, ``decoder.deconv1.W`` (and ``.b``).
"""
from __future__ import annotations

from ..layers import MLP, init_for
from .conv_layers import Conv2D, ConvTranspose2D

SIDE = 28                       # MNIST's image side
CHANNELS = (32, 64)             # the feature maps after the first and second convolution
FEATURES = CHANNELS[1] * (SIDE // 4) ** 2     # 64 x 7 x 7 = 3136, the flattened features


class _Stack:
    """What both nets share: the layers in order with their names, predict without caching."""

    def named_layers(self):
        """[(name, layer)] in order: the parameter prefixes (``conv0``, ``dense1``) pack_parameters uses."""
        return list(self._named)

    @property
    def layers(self):
        return [layer for _, layer in self._named]

    def predict(self, x):
        """The same output as ``forward`` in new arrays, without caching."""
        return self._run(x, "predict")


class ConvEncoder(_Stack):
    """x (N, 784) -> h (N, H), H = hidden_dims[-1], or 3136 for hidden_dims=(). See the module docstring."""

    def __init__(self, hidden_dims, activation, rng, backend=None, dtype="float32", init="uniform"):
        kw = dict(stride=2, pad=1, backend=backend, dtype=dtype, init=init_for(activation, init),
                  activation=activation)
        self.conv0 = Conv2D(1, CHANNELS[0], 4, rng, **kw)
        self.conv1 = Conv2D(CHANNELS[0], CHANNELS[1], 4, rng, **kw)
        self.dense = MLP([FEATURES, *hidden_dims], activation, rng, backend, dtype, final_activation=activation,
                         init=init)
        self.out_dim = ([FEATURES, *hidden_dims])[-1]
        self._named = [("conv0", self.conv0), ("conv1", self.conv1),
                       *((f"dense{i}", d) for i, d in enumerate(self.dense.layers))]

    def _run(self, x, how):
        n = x.shape[0]
        a = getattr(self.conv0, how)(x.reshape(n, 1, SIDE, SIDE))
        a = getattr(self.conv1, how)(a)
        return getattr(self.dense, how)(a.reshape(n, FEATURES))

    def forward(self, x):
        return self._run(x, "forward")

    def backward(self, dh, need_dx=True, need_grads=True):
        """dh (N, H) -> dx (N, 784) (None unless ``need_dx``); fills every layer's grads unless told not."""
        n = dh.shape[0]
        da = self.dense.backward(dh, need_dx=True, need_grads=need_grads)
        da = self.conv1.backward(da.reshape(n, CHANNELS[1], SIDE // 4, SIDE // 4), need_grads=need_grads)
        dx = self.conv0.backward(da, need_dx=need_dx, need_grads=need_grads)
        return None if dx is None else dx.reshape(n, SIDE * SIDE)


class ConvDecoder(_Stack):
    """z (N, M) -> out (N, 784): the logits or means of p(x|z). See the module docstring."""

    def __init__(self, code_size, hidden_dims, activation, rng, backend=None, dtype="float32", init="uniform"):
        self.dense = MLP([code_size, *reversed(hidden_dims), FEATURES], activation, rng, backend, dtype,
                         final_activation=activation, init=init)
        kw = dict(stride=2, pad=1, backend=backend, dtype=dtype)
        self.deconv0 = ConvTranspose2D(CHANNELS[1], CHANNELS[0], 4, rng, init=init_for(activation, init),
                                       activation=activation, **kw)
        self.deconv1 = ConvTranspose2D(CHANNELS[0], 1, 4, rng, init=init_for("identity", init), **kw)
        self._named = [*((f"dense{i}", d) for i, d in enumerate(self.dense.layers)),
                       ("deconv0", self.deconv0), ("deconv1", self.deconv1)]

    def _run(self, z, how):
        n = z.shape[0]
        a = getattr(self.dense, how)(z)
        a = getattr(self.deconv0, how)(a.reshape(n, CHANNELS[1], SIDE // 4, SIDE // 4))
        return getattr(self.deconv1, how)(a).reshape(n, SIDE * SIDE)

    def forward(self, z):
        return self._run(z, "forward")

    def backward(self, dout, need_dx=True, need_grads=True):
        """dout (N, 784) -> dz (N, M) (None unless ``need_dx``); fills every layer's grads unless told not."""
        n = dout.shape[0]
        da = self.deconv1.backward(dout.reshape(n, 1, SIDE, SIDE), need_grads=need_grads)
        da = self.deconv0.backward(da, need_grads=need_grads)
        return self.dense.backward(da.reshape(n, FEATURES), need_dx=need_dx, need_grads=need_grads)
