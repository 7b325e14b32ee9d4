"""Optimizers: SGD with momentum, RMSProp (Hinton's lecture 6e) and Adam (Kingma & Ba 2015, Algorithm 1).

An optimizer holds the model's flat parameter dict (``"encoder.0.W"`` ...)
and updates those arrays in place from a grads dict with the same keys. Its
state is keyed by the full parameter name, so two layers never share a slot.
Each update is one call of its backend's ops (``backend.ops.adam_update``,
``sgd_update``, ``rmsprop_update``), as the layers call theirs: the NumPy
backend runs them with BLAS, the CuPy backend Adam's as one CUDA kernel.
"""
from __future__ import annotations

import math

from .backend import array_module, get_backend
from .errors import ConfigError, NonFiniteGradientError, finite_number


def global_norm(grads):
    """sqrt(sum over all gradients of the squared entries), as a 0-d array."""
    g = list(grads.values())
    xp = array_module(*g)
    return xp.sqrt(sum(xp.vdot(v.ravel(), v.ravel()) for v in g))


def clip_grad_norm(grads, max_norm):
    """Scale every gradient in place by min(1, max_norm / ||g||), ||g|| the global norm.

    Returns the norm before clipping.
    """
    norm = global_norm(grads)
    scale = min(1.0, max_norm / (float(norm) + 1e-12))
    if scale < 1.0:
        for g in grads.values():
            g *= g.dtype.type(scale)
    return norm


def _address(a):
    """The address of a's first element (NumPy or CuPy)."""
    ptr = getattr(a.data, "ptr", None)
    return a.__array_interface__["data"][0] if ptr is None else ptr


def flat_view(arrays):
    """One 1-D view covering ``arrays`` when they lie back to back, in order, in one buffer; else None.

    :class:`minivae.VAE` keeps its parameters (and gradients) that way, so an
    optimizer can update them all with a few passes over one array instead
    of a few passes per parameter.
    """
    arrays = list(arrays)
    base = arrays[0].base
    if base is None or base.ndim != 1:
        return None
    end = _address(arrays[0])
    for a in arrays:
        if a.base is not base or a.dtype != base.dtype or not a.flags.c_contiguous or _address(a) != end:
            return None
        end += a.nbytes
    start = (_address(arrays[0]) - _address(base)) // base.itemsize
    return base[start:start + (end - _address(arrays[0])) // base.itemsize]


def zeros_like_all(params):
    """Zero state arrays shaped like ``params``, by name, as views of one flat buffer when possible."""
    arrays = list(params.values())
    xp = array_module(*arrays)
    if len({a.dtype for a in arrays}) != 1:
        return None, {k: xp.zeros_like(v) for k, v in params.items()}
    flat = xp.zeros(sum(int(a.size) for a in arrays), dtype=arrays[0].dtype)
    views, off = {}, 0
    for k, a in params.items():
        views[k] = flat[off:off + a.size].reshape(a.shape)
        off += a.size
    return flat, views


def first_non_finite(grads):
    """The name, count and first index of the first gradient with a NaN or infinite entry, or None."""
    for name, g in grads.items():
        xp = array_module(g)
        bad = ~xp.isfinite(g)
        if bool(bad.any()):
            where = tuple(int(i) for i in xp.argwhere(bad)[0])
            return name, int(bad.sum()), where, float(g[where])
    return None


class Optimizer:
    """Shared checks and bookkeeping: parameters, step count, clipping, finite gradients, state.

    ``backend``: whose ops run the update; by default the backend of the
    parameters' arrays (NumPy or CuPy), so ``Adam(model.params)`` needs no more.

    ``check_finite``: before each update, one pass over the gradients (their
    squared norm, on the flat buffer when there is one: ~1% of a training
    step) makes sure they are all finite; a NaN or infinite gradient raises
    :class:`NonFiniteGradientError` naming the first bad parameter, with the
    parameters, the moments and the step count unchanged. The default (None)
    checks NumPy arrays and not CuPy ones, where reading the norm back would
    wait for the GPU at every step (the training loop's NaN guard reads the
    loss every 50 steps there).

    A subclass names its per-parameter state dicts in ``slots`` (Adam: m, v);
    :meth:`state_dict` saves them as ``"m.<parameter name>"``, beside ``"t"``.
    """

    slots = ()

    def __init__(self, params, lr, clip_norm=None, check_finite=None, backend=None):
        if not params:
            raise ConfigError("optimizer got no parameters")
        finite_number("learning rate", lr, "> 0", lambda v: v > 0)
        if clip_norm is not None:
            finite_number("clip_norm", clip_norm, "> 0 (or None)", lambda v: v > 0)
        self.params, self.lr, self.clip_norm, self.t = params, lr, clip_norm, 0
        self.backend = _backend_of(params, backend)
        if check_finite is None:
            check_finite = self.backend.xp.__name__ == "numpy"
        self.check_finite = check_finite
        self._flat_state = None            # set by a subclass whose state is flat
        self._flat_cache = (None, None, None)   # (identities, their flat views, the arrays kept alive)

    def step(self, grads):
        """Apply one update from ``grads`` (same keys as ``params``)."""
        if grads.keys() != self.params.keys():
            missing = sorted(set(self.params) ^ set(grads))
            raise ConfigError(f"grads and params have different keys: {missing}")
        flat = self._flat_pair(grads)
        if self.check_finite:
            self._check_finite(grads, flat)
        if self.clip_norm is not None:
            clip_grad_norm(grads, self.clip_norm)
        self.t += 1
        if flat is not None:
            self.update_flat(*flat)
        else:
            for name, p in self.params.items():
                self.update(name, p, grads[name])

    def _check_finite(self, grads, flat):
        """Raise NonFiniteGradientError if any gradient entry is NaN or infinite (nothing is changed)."""
        g = flat[1] if flat is not None else None
        square = global_norm(grads) if g is None else array_module(g).vdot(g, g)
        if math.isfinite(float(square)):
            return
        bad = first_non_finite(grads)           # None: every entry finite, only the squared norm overflowed
        if bad is not None:
            name, count, where, value = bad
            raise NonFiniteGradientError(
                f"the gradient of {name!r} has {count} non-finite values (the first, {value}, at index {where}); "
                "the parameters and the optimizer's state were left unchanged. A NaN loss (too large a learning "
                "rate, NaN data or noise) usually comes first: try a smaller lr or gradient clipping")

    def _flat_pair(self, grads):
        """(all params, all grads) as two flat views, when both are packed and state is flat; else None."""
        if self._flat_state is None:
            return None
        ident = tuple(map(id, self.params.values())) + tuple(id(grads[k]) for k in self.params)
        if self._flat_cache[0] != ident:
            p = flat_view(self.params.values())
            g = flat_view(grads[k] for k in self.params)
            ok = p is not None and g is not None and p.dtype == g.dtype == self._flat_state.dtype
            self._flat_cache = (ident, (p, g) if ok else None, (list(self.params.values()), list(grads.values())))
        return self._flat_cache[1]

    def update_flat(self, p, g):
        """One update of every parameter at once: p, g are flat views of all of them."""
        raise NotImplementedError

    def update(self, name, p, g):
        """One update of the parameter ``name`` (array p, gradient g)."""
        raise NotImplementedError

    def state_dict(self):
        """Step count and per-parameter state (``"<slot>.<parameter name>"``), for checkpoints."""
        return {"t": self.t, **{f"{slot}.{k}": a for slot in self.slots for k, a in getattr(self, slot).items()}}

    def load_state_dict(self, state):
        """Restore what :meth:`state_dict` saved, in place (flat state buffers stay shared)."""
        self.t = int(state["t"])
        for slot in self.slots:
            for k, a in getattr(self, slot).items():
                a[...] = state[f"{slot}.{k}"]


def _backend_of(params, backend):
    """The Backend whose ops update ``params``: ``backend`` if given (it must hold them), else theirs."""
    xp = array_module(*params.values())
    if backend is None:
        return get_backend(xp)
    backend = get_backend(backend)
    if backend.xp is not xp:
        raise ConfigError(f"optimizer: backend {backend.name!r} cannot update {xp.__name__} arrays; "
                          f"pass the backend of the model's parameters (or none)")
    return backend


class SGD(Optimizer):
    """Stochastic gradient descent with (heavy-ball) momentum.

        b <- momentum * b + g,   p <- p - lr * b
    """

    slots = ("buf",)

    def __init__(self, params, lr=1e-2, momentum=0.0, clip_norm=None, check_finite=None, backend=None):
        super().__init__(params, lr, clip_norm, check_finite, backend)
        finite_number("momentum", momentum, "in [0, 1)", lambda v: 0 <= v < 1)
        self.momentum = momentum
        self._flat_state, self.buf = zeros_like_all(params)

    def update(self, name, p, g):
        self.backend.ops.sgd_update(p, g, self.buf[name], self.lr, self.momentum)

    def update_flat(self, p, g):
        self.backend.ops.sgd_update(p, g, self._flat_state, self.lr, self.momentum)


class Adam(Optimizer):
    """Adam, Kingma & Ba (2015), Algorithm 1, with bias correction.

        m <- beta1 m + (1 - beta1) g
        v <- beta2 v + (1 - beta2) g^2
        m_hat = m / (1 - beta1^t),   v_hat = v / (1 - beta2^t)
        p <- p - lr * m_hat / (sqrt(v_hat) + eps)
    """

    slots = ("m", "v")

    def __init__(self, params, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, clip_norm=None, check_finite=None,
                 backend=None):
        super().__init__(params, lr, clip_norm, check_finite, backend)
        for name, b in (("beta1", beta1), ("beta2", beta2)):
            finite_number(name, b, "in [0, 1)", lambda v: 0 <= v < 1)
        finite_number("eps", eps, "> 0", lambda v: v > 0)
        self.beta1, self.beta2, self.eps = beta1, beta2, eps
        self._flat_state, self.m = zeros_like_all(params)
        self._v_flat, self.v = zeros_like_all(params)
        self._work = None if self._flat_state is None else self._flat_state.copy()   # the update's scratch

    def update(self, name, p, g):
        self.backend.ops.adam_update(p, g, self.m[name], self.v[name], self.lr,
                                     self.beta1, self.beta2, self.eps, self.t)

    def update_flat(self, p, g):
        """All parameters in one fused update (7 passes over one flat buffer on NumPy, one kernel on CuPy)."""
        self.backend.ops.adam_update(p, g, self._flat_state, self._v_flat, self.lr,
                                     self.beta1, self.beta2, self.eps, self.t, work=self._work)


class RMSProp(Optimizer):
    """RMSProp (Tieleman & Hinton 2012, Coursera lecture 6e), as the WGAN paper trains its critic:

        r <- rho r + (1 - rho) g^2
        p <- p - lr g / (sqrt(r) + eps)

    No momentum and no bias correction. The lecture suggests rho = 0.9; the default 0.99 is what the
    WGAN authors' code ran (PyTorch's RMSprop default), so a minivae WGAN and its PyTorch reference match.
    """

    slots = ("r",)

    def __init__(self, params, lr=1e-2, rho=0.99, eps=1e-8, clip_norm=None, check_finite=None, backend=None):
        super().__init__(params, lr, clip_norm, check_finite, backend)
        finite_number("rho", rho, "in [0, 1)", lambda v: 0 <= v < 1)
        finite_number("eps", eps, "> 0", lambda v: v > 0)
        self.rho, self.eps = rho, eps
        self._flat_state, self.r = zeros_like_all(params)
        self._work = None if self._flat_state is None else self._flat_state.copy()

    def update(self, name, p, g):
        self.backend.ops.rmsprop_update(p, g, self.r[name], self.lr, self.rho, self.eps)

    def update_flat(self, p, g):
        self.backend.ops.rmsprop_update(p, g, self._flat_state, self.lr, self.rho, self.eps, work=self._work)


OPTIMIZERS = {"adam": Adam, "sgd": SGD, "rmsprop": RMSProp}


def make_optimizer(name, params, **kwargs):
    if name not in OPTIMIZERS:
        raise ConfigError(f"unknown optimizer {name!r}; expected one of {sorted(OPTIMIZERS)}")
    return OPTIMIZERS[name](params, **kwargs)
