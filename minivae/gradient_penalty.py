"""The WGAN-GP gradient penalty and its second-order backward pass, by hand.

WGAN-GP (Gulrajani et al. 2017) adds to the critic's loss, on points
x_hat = alpha x + (1 - alpha) G(z) between real and generated images,

    P = lambda * 1/N sum_n (r_n - 1)^2,   r_n = ||g_n||_2,   g_n = dD(x_hat_n)/dx_hat_n.

The critic D is an MLP of L Dense layers, h_0 = x_hat (N, D_0),

    a_l = h_{l-1} W_l + b_l,   h_l = f_l(a_l),   l = 1..L,   D = h_L (N, 1), f_L = identity.

**Input gradient** (the ordinary backward of D with dD/dD = 1, one row per example):

    delta_L = 1 (N, 1);   u_l = delta_l * f_l'(a_l) (N, D_l);   delta_{l-1} = u_l W_l^T;   g = delta_0.

u_L = 1 and delta_{L-1} = 1 W_L^T is the row W_L[:, 0] for every n: the last layer's forward and
its product are never computed. g does not depend on b_L at all.

**Second-order backward** (the adjoint of that chain; x_bar means dP/dx). Start from

    delta_bar_0 = dP/dg_n = lambda 2/N (r_n - 1) g_n / r_n.

Walk the chain back up, l = 1..L. From delta_{l-1} = u_l W_l^T (delta_{l-1}[n,i] = sum_j u_l[n,j] W_l[i,j]):

    W_bar_l += delta_bar_{l-1}^T u_l   (D_{l-1}, D_l);   u_bar_l = delta_bar_{l-1} W_l   (N, D_l).

For l = L (u_L = 1, D_L = 1) that is W_bar_L[:, 0] += sum_n delta_bar_{L-1, n}, and the walk stops
(delta_L = 1 is a constant). For l < L, from u_l = delta_l * f'(a_l):

    delta_bar_l = u_bar_l * f'(a_l);   a_bar_l = u_bar_l * delta_l * f''(a_l).

With f'' written through the output y = h_l, and u_l = delta_l f'(a_l):

    tanh:     f'' = -2 y (1 - y^2) = -2 y f'     ->  a_bar_l = -2 y * u_l * u_bar_l
    sigmoid:  f'' = y (1 - y)(1 - 2y) = (1 - 2y) f'  ->  a_bar_l = (1 - 2y) * u_l * u_bar_l

so only h_l and u_l are cached. The a_l also make h_l, which feeds layer l + 1; the a_bar_l reach the
parameters through the ordinary backward of the forward pass, l = L-1 down to 1, with h_bar_{L-1} = 0
(P never reads D's value):

    t_l = a_bar_l + h_bar_l * f'(a_l);   W_bar_l += h_{l-1}^T t_l;   b_bar_l += sum_n t_l;
    h_bar_{l-1} = t_l W_l^T,   and dP/dx_hat = h_bar_0.

Each W_l therefore gets two terms: one as the matrix of the chain (delta_bar^T u), one as the matrix
of the forward pass (h^T t). **Where it simplifies**: for identity, ReLU and leaky ReLU f'' = 0
(almost everywhere: f' is piecewise constant), so every a_bar_l = 0, the second pass is skipped, only
the W_bar_l += delta_bar_{l-1}^T u_l terms survive, the biases get no gradient at all (P depends on
b_l only through f'(a_l), locally constant), and dP/dx_hat = 0. The last bias b_L never gets one.

**The norm at 0.** r_n = sqrt(||g_n||^2 + tiny), tiny = the dtype's smallest normal number
(1.2e-38 in float32, 2.2e-308 in float64). Adding it changes ||g_n||^2 in that dtype only when
||g_n||^2 < tiny / machine-epsilon, so P is the exact norm's to rounding; at g_n = 0 it makes
r_n = sqrt(tiny) > 0, so g_n / r_n = 0 there (the subgradient of least norm) and g_n / r_n stays
bounded (never a division by an underflowed 0).
"""
from __future__ import annotations

from .backend import array_module
from .backend.buffers import Buffers
from .errors import ConfigError, DataError, MiniVAEError, ShapeError, finite_number
from .layers import Dense

HIDDEN_ACTS = ("identity", "relu", "leaky_relu", "tanh", "sigmoid")
SMOOTH_ACTS = ("tanh", "sigmoid")       # f'' != 0: the only ones with a second pass


def critic_layers(critic):
    """The Dense layers of an MLP critic, checked: a ConfigError unless D maps (N, D_0) to (N, 1) linearly
    at the end (last activation identity, output width 1) with hidden activations among HIDDEN_ACTS."""
    layers = getattr(critic, "layers", None)
    if not layers or not all(isinstance(d, Dense) for d in layers):
        raise ConfigError(f"the gradient penalty needs an MLP critic (a minivae.layers.MLP of Dense layers), "
                          f"got {type(critic).__name__}")
    if layers[-1].activation != "identity" or layers[-1].d_out != 1:
        raise ConfigError(f"the critic's last layer must be linear with one output (activation 'identity', "
                          f"width 1), got activation {layers[-1].activation!r} and width {layers[-1].d_out}")
    for i, d in enumerate(layers[:-1]):
        if d.activation not in HIDDEN_ACTS:
            raise ConfigError(f"critic layer {i} has activation {d.activation!r}; the gradient penalty supports "
                              f"{HIDDEN_ACTS}")
    return layers


def _check_input(layers, x, name="x_hat"):
    dt = layers[0].params["W"].dtype
    if x.ndim != 2 or x.shape[1] != layers[0].d_in or x.shape[0] == 0:
        raise ShapeError(f"{name} must have shape (N, {layers[0].d_in}) with N >= 1, got {tuple(x.shape)}")
    if array_module(x) is not layers[0].backend.xp:
        raise DataError(f"{name} is a {array_module(x).__name__} array, the critic lives on "
                        f"{layers[0].backend.xp.__name__}: move it with backend.asarray first")
    if x.dtype != dt:
        raise DataError(f"{name} has dtype {x.dtype}, the critic's parameters {dt}: convert it first")


def _forward(layers, x, buf):
    """h_l = f_l(h_{l-1} W_l + b_l) for l = 1..L-1 (the last layer is not needed) -> [h_0 = x, h_1, ...]."""
    hs = [x]
    for l, d in enumerate(layers[:-1], start=1):
        ops = d.backend.ops
        h = buf(f"h{l}", (x.shape[0], d.d_out))
        work = buf(f"work{l}", h.shape) if d.activation in ops.SCRATCH_ACTS else None
        d.backend.xp.matmul(hs[-1], d.params["W"], out=h)                   # a_l = h_{l-1} W_l
        ops.bias_act_forward(h, d.params["b"], d.activation, out=h, work=work)   # h_l = f(a_l + b_l)
        hs.append(h)
    return hs


def _chain(layers, hs, buf):
    """The input-gradient chain: u_l = delta_l * f_l'(a_l), delta_{l-1} = u_l W_l^T -> ([u_1..u_{L-1}], g)."""
    xp = layers[0].backend.xp
    n, L = hs[0].shape[0], len(layers)
    delta = buf(f"delta{L - 1}", (n, layers[-1].d_in))
    xp.copyto(delta, layers[-1].params["W"][:, 0])                         # delta_{L-1} = 1 W_L^T, every row
    us = [None] * L                                                         # us[l] = u_l, l = 1..L-1
    for l in range(L - 1, 0, -1):
        d = layers[l - 1]
        us[l] = d.backend.ops.act_backward(delta, hs[l], d.activation, out=buf(f"u{l}", delta.shape))
        delta = buf(f"delta{l - 1}", (n, d.d_in))
        xp.matmul(us[l], d.params["W"].T, out=delta)                        # delta_{l-1} = u_l W_l^T
    return us, delta                                                        # delta_0 = g


def input_gradient(critic, x):
    """g = dD(x_n)/dx_n for each row: x (N, D_0) -> g (N, D_0), a new array.

    The chain delta_L = 1; u_l = delta_l * f_l'(a_l); delta_{l-1} = u_l W_l^T; g = delta_0, on a forward
    pass of its own: the layers' caches and grads are left as they were.
    """
    layers = critic_layers(critic)
    _check_input(layers, x, "x")
    buf = Buffers(layers[0].backend.xp, layers[0].params["W"].dtype)
    return _chain(layers, _forward(layers, x, buf), buf)[1]


def interpolate(x, x_fake, alpha, out=None):
    """x_hat = alpha x + (1 - alpha) x_fake = x_fake + alpha (x - x_fake); alpha (N, 1) or (N,), in [0, 1].

    x, x_fake: (N, D) -> x_hat (N, D), written into ``out`` when given.
    """
    if x.shape != x_fake.shape or x.ndim != 2:
        raise ShapeError(f"x and x_fake must be (N, D) of one shape, got {tuple(x.shape)} and {tuple(x_fake.shape)}")
    alpha = alpha.reshape(-1, 1) if alpha.ndim == 1 else alpha
    if alpha.shape != (x.shape[0], 1):
        raise ShapeError(f"alpha must have shape ({x.shape[0]}, 1) or ({x.shape[0]},), got {tuple(alpha.shape)}")
    xp = array_module(x, x_fake)
    out = xp.empty_like(x) if out is None else out
    xp.subtract(x, x_fake, out=out)                                      # ``out`` may be x, not x_fake
    out *= alpha
    out += x_fake
    return out


class GradientPenalty:
    """P = lam * 1/N sum_n (||dD/dx_hat_n|| - 1)^2 for an MLP critic, with its hand-written double backprop.

    ``forward(x_hat)`` returns P and caches h_l, u_l, g and r; ``backward(scale)`` ADDS scale * dP/dW_l and
    scale * dP/db_l into the critic layers' ``grads`` (call it after the critic loss's ordinary backward,
    which overwrites them). Neither touches the layers' forward caches. Arrays of shape (N, .) live in
    buffers kept per batch size, so a step at a batch size seen before allocates no (N, D) array.
    ``x_hat`` is cached by reference: leave it unchanged until ``backward``.
    """

    def __init__(self, critic, lam=10.0):
        self.layers = critic_layers(critic)
        self.lam = finite_number("lam", lam, ">= 0", ok=lambda v: v >= 0)
        W = self.layers[0].params["W"]
        self.xp, self.dtype = self.layers[0].backend.xp, W.dtype
        self.buffers = Buffers(self.xp, self.dtype)
        self.tiny = self.dtype.type(self.xp.finfo(self.dtype).tiny)
        self._scratch = [{k: self.xp.empty_like(v) for k, v in d.params.items()} for d in self.layers]
        self.cache = None

    def forward(self, x_hat):
        """P (a 0-d array of the critic's dtype) for x_hat (N, D_0).

        g = input_gradient(critic, x_hat);  r_n = sqrt(||g_n||^2 + tiny);  P = lam/N sum_n (r_n - 1)^2.
        """
        _check_input(self.layers, x_hat)
        xp, buf, f = self.xp, self.buffers, self.dtype.type
        n = x_hat.shape[0]
        hs = _forward(self.layers, x_hat, buf)
        us, g = _chain(self.layers, hs, buf)
        sq = buf("dbar0", g.shape)                                          # scratch here, delta_bar_0 in backward
        xp.multiply(g, g, out=sq)
        r = buf("r", (n,))
        xp.sum(sq, axis=1, out=r)
        r += self.tiny
        xp.sqrt(r, out=r)                                                   # r_n = sqrt(||g_n||^2 + tiny)
        dev = buf("dev", (n,))
        xp.subtract(r, f(1), out=dev)                                       # r_n - 1
        P = xp.asarray(xp.dot(dev, dev) * f(self.lam / n))
        self.cache = (hs, us, g, r, dev)
        return P

    def backward(self, scale=1.0, need_dx=False):
        """ADD scale * dP/dW_l, scale * dP/db_l to each critic layer's grads (see the module docstring).

        Returns dP/dx_hat * scale (N, D_0), a buffer of this object, when ``need_dx`` (zeros for a
        piecewise-linear critic), else None (WGAN-GP's generator step does not use it).
        """
        if self.cache is None:
            raise MiniVAEError("GradientPenalty.backward() needs a forward pass first: call forward(x_hat)")
        scale = finite_number("scale", scale)
        hs, us, g, r, dev = self.cache
        xp, buf, f, layers = self.xp, self.buffers, self.dtype.type, self.layers
        n, L = g.shape[0], len(layers)
        c = buf("c", (n,))
        xp.divide(dev, r, out=c)
        c *= f(2 * scale * self.lam / n)                                    # c_n = scale lam 2/N (r_n - 1) / r_n
        dbar = xp.multiply(g, c[:, None], out=buf("dbar0", g.shape))        # delta_bar_0 = c_n g_n
        abars = [None] * L
        for l in range(1, L):
            d, s = layers[l - 1], self._scratch[l - 1]
            d.grads["W"] += xp.matmul(dbar.T, us[l], out=s["W"])          # W_bar_l += delta_bar_{l-1}^T u_l
            ubar = xp.matmul(dbar, d.params["W"], out=buf(f"ubar{l}", us[l].shape))   # u_bar_l = delta_bar_{l-1} W_l
            if d.activation in SMOOTH_ACTS:
                abars[l] = self._abar(l, d.activation, hs[l], us[l], ubar)
            dbar = d.backend.ops.act_backward(ubar, hs[l], d.activation, out=buf(f"dbar{l}", ubar.shape))
        d, s = layers[-1], self._scratch[-1]
        xp.sum(dbar, axis=0, out=s["W"][:, 0])
        d.grads["W"] += s["W"]                                              # W_bar_L[:, 0] += sum_n delta_bar_{L-1}
        return self._forward_backward(hs, abars, need_dx)

    def _abar(self, l, act, y, u, ubar):
        """a_bar_l = u_bar_l * delta_l * f''(a_l): -2 y u u_bar (tanh), (1 - 2y) u u_bar (sigmoid)."""
        xp, f = self.xp, self.dtype.type
        abar = xp.multiply(u, ubar, out=self.buffers(f"abar{l}", u.shape))
        if act == "tanh":
            abar *= y
            abar *= f(-2)
        else:
            tmp = xp.multiply(abar, y, out=self.buffers(f"tmp{l}", u.shape))
            tmp *= f(2)
            abar -= tmp                                                     # (1 - 2y) u u_bar
        return abar

    def _forward_backward(self, hs, abars, need_dx):
        """The ordinary backward of the forward pass driven by a_bar, l = L-1..1 (skipped when all a_bar = 0):
        t_l = a_bar_l + h_bar_l * f'(a_l); W_bar_l += h_{l-1}^T t_l; b_bar_l += sum_n t_l; h_bar_{l-1} = t_l W_l^T."""
        xp, buf = self.xp, self.buffers
        hbar = None
        for l in range(len(self.layers) - 1, 0, -1):
            d, s = self.layers[l - 1], self._scratch[l - 1]
            t = abars[l]
            if hbar is not None:
                t = d.backend.ops.act_backward(hbar, hs[l], d.activation, out=buf(f"t{l}", hbar.shape))
                if abars[l] is not None:
                    t += abars[l]
            if t is None:
                continue
            d.grads["W"] += xp.matmul(hs[l - 1].T, t, out=s["W"])         # W_bar_l += h_{l-1}^T t_l
            d.grads["b"] += xp.sum(t, axis=0, out=s["b"])                  # b_bar_l += sum_n t_l
            if l > 1 or need_dx:
                hbar = xp.matmul(t, d.params["W"].T, out=buf(f"hbar{l - 1}", hs[l - 1].shape))
        if not need_dx:
            return None
        if hbar is None:                                                    # no smooth layer: dP/dx_hat = 0
            hbar = buf("hbar0", hs[0].shape)
            hbar[...] = 0
        return hbar
