"""A decoder with skip connections from z (Dieng, Kim, Rush & Blei 2019, "generative skip models").

The plain decoder sees z only at its first layer; each later layer sees it
through the layers before, which a strong decoder can learn to ignore
(posterior collapse: q(z|x) = p(z), the KL is 0, and so is I_q(x; z)). The
skip decoder hands z to every layer, the output layer included:

    h_0 = act(z W_0 + b_0)
    h_l = act(h_{l-1} W_l + z U_l + b_l),   l = 1 .. L-1   (the last layer without act)

which is a dense layer on the concatenation, act([h_{l-1}, z] [W_l; U_l] + b_l),
with the weight split in two so that the z-path has a name: ``decoder.{l}.U``.

Backward. With da_l = dh_l * act'(h_l) (the layer's own dy for the identity),

    dW_l = h_{l-1}^T da_l,   dU_l = z^T da_l,   db_l = sum_n da_l,
    dh_{l-1} = da_l W_l^T,   and z, used by every layer, gets the sum
    dz = da_0 W_0^T + sum_{l >= 1} da_l U_l^T

(a value used L times receives L gradients: ``+=``).
"""
from __future__ import annotations

from ..backend.buffers import Buffers
from ..errors import ConfigError, MiniVAEError, ShapeError
from ..layers import MLP, Dense, init_for


class SkipDense(Dense):
    """``y = act(h @ W + z @ U + b)``: a Dense layer on [h, z] with the weight split into W (from h) and U (from z).

    ``params = {"W": (D_in, D_out), "U": (D_z, D_out), "b": (D_out,)}``. Its
    initial [W; U] is that of one dense layer of fan-in D_in + D_z, so at the
    start it is exactly the layer on the concatenation.
    """

    def __init__(self, d_in, d_z, d_out, rng, backend=None, dtype="float32", init="xavier", activation="identity"):
        super().__init__(d_in + d_z, d_out, rng, backend, dtype, init, activation)     # the layer on [h, z]
        W_full = self.params["W"]                                                      # [W; U]: (D_in + D_z, D_out)
        self.params = {"W": W_full[:d_in].copy(), "U": W_full[d_in:].copy(), "b": self.params["b"]}
        self.grads = {k: self.backend.xp.zeros_like(v) for k, v in self.params.items()}
        self.d_in, self.d_z = d_in, d_z

    def _check_z(self, h, z):
        self._check(h)
        if z.ndim != 2 or z.shape != (h.shape[0], self.d_z):
            raise ShapeError(f"SkipDense expects z of shape ({h.shape[0]}, {self.d_z}), got {tuple(z.shape)}")

    def forward(self, h, z):
        """y = act(h @ W + z @ U + b).  h: (N, D_in), z: (N, D_z) -> y: (N, D_out) (this layer's buffer)."""
        self._check_z(h, z)
        xp, ops = self.backend.xp, self.backend.ops
        y = self.buffers("y", (h.shape[0], self.d_out))
        zu = self.buffers("zU", y.shape)
        xp.matmul(h, self.params["W"], out=y)
        y += xp.matmul(z, self.params["U"], out=zu)
        work = self.buffers("work", y.shape) if self.activation in ops.SCRATCH_ACTS else None
        ops.bias_act_forward(y, self.params["b"], self.activation, out=y, work=work)
        self.cache = (h, z, y)
        return y

    def predict(self, h, z):
        """act(h @ W + z @ U + b) in a new array, without caching."""
        self._check_z(h, z)
        y = h @ self.params["W"] + z @ self.params["U"]
        return self.backend.ops.bias_act_forward(y, self.params["b"], self.activation, out=y)

    def backward(self, dy, need_dz=True, need_grads=True):
        """(dh, dz) of y = act(a), a = h W + z U + b; fills ``grads`` (unless ``need_grads`` is False).

            da = dy * act'(y),  dW = h^T da,  dU = z^T da,  db = sum_n da_n,  dh = da W^T,  dz = da U^T

        dz is None when ``need_dz`` is False. Both are this layer's buffers.
        """
        if self.cache is None:
            raise MiniVAEError("SkipDense.backward() needs a forward pass first: call forward(h, z) first")
        h, z, y = self.cache
        xp, da = self.backend.xp, self.pre_activation_grad(dy, y)
        if need_grads:
            xp.matmul(h.T, da, out=self.grads["W"])
            xp.matmul(z.T, da, out=self.grads["U"])
            xp.sum(da, axis=0, out=self.grads["b"])
        dh = xp.matmul(da, self.params["W"].T, out=self.buffers("dx", h.shape))
        dz = xp.matmul(da, self.params["U"].T, out=self.buffers("dz", z.shape)) if need_dz else None
        return dh, dz


class SkipMLP(MLP):
    """An MLP whose input z also enters every layer after the first: layer 0 is a :class:`Dense`
    on z, layers 1.. are :class:`SkipDense` on (h, z). Same interface as :class:`MLP` (``forward``,
    ``predict``, ``backward``, ``params``/``grads`` named ``"{i}.W"``, ``"{i}.b"`` and ``"{i}.U"``),
    so the VAE uses it as its decoder unchanged. Needs at least two layers (one hidden size).
    """

    def __init__(self, sizes, activation, rng, backend=None, dtype="float32", final_activation=None, init="auto"):
        if len(sizes) < 3:
            raise ConfigError(f"a skip decoder passes z to every layer after the first: it needs at least one hidden "
                              f"layer, got the sizes {list(sizes)}")
        super().__init__(sizes[:2], activation, rng, backend, dtype, final_activation=activation, init=init)
        self.sizes, d_z, backend = tuple(sizes), sizes[0], self.layers[0].backend
        for i, (d_in, d_out) in enumerate(zip(sizes[1:-1], sizes[2:]), start=1):
            act = (final_activation or "identity") if i == len(sizes) - 2 else activation
            self.layers.append(SkipDense(d_in, d_z, d_out, rng, backend, dtype, init_for(act, init), act))
        self.buffers = Buffers(backend.xp, dtype)

    def forward(self, z):
        h = self.layers[0].forward(z)
        for layer in self.layers[1:]:
            h = layer.forward(h, z)
        return h

    def predict(self, z):
        """Forward without caching."""
        h = self.layers[0].predict(z)
        for layer in self.layers[1:]:
            h = layer.predict(h, z)
        return h

    def backward(self, dy, need_dx=True, need_grads=True):
        """Backward through every layer, last first; returns dz, the sum over the layers that read z (None
        unless ``need_dx``); fills the grads unless told not."""
        dz = self.buffers("dz", (dy.shape[0], self.sizes[0])) if need_dx else None
        if need_dx:
            dz[...] = 0
        for layer in reversed(self.layers[1:]):
            dy, dz_l = layer.backward(dy, need_dz=need_dx, need_grads=need_grads)
            if need_dx:
                dz += dz_l
        dz_0 = self.layers[0].backward(dy, need_dx=need_dx, need_grads=need_grads)
        if need_dx:
            dz += dz_0
        return dz
