"""Elementwise activations, forward and backward side by side.

Each ``*_forward(x)`` returns ``(y, cache)`` and each ``*_backward(dy, cache)``
returns ``dx = dy * f'(x)``. Every derivative here can be written with the
output ``y`` alone, so the cache is ``y``:

=============  =========================  ==========================
name           y = f(x)                   f'(x) in terms of y
=============  =========================  ==========================
identity       x                          1
relu           max(x, 0)                  1[y > 0]
leaky_relu     x if x > 0 else a x        1 if y > 0 else a
tanh           tanh(x)                    1 - y^2
sigmoid        1 / (1 + e^{-x})           y (1 - y)
=============  =========================  ==========================
"""
from __future__ import annotations

from .backend import array_module
from .errors import ConfigError

LEAKY_SLOPE = 0.01


def identity_forward(x):
    """y = x."""
    return x, None


def identity_backward(dy, cache):
    """dx = dy."""
    return dy


def relu_forward(x):
    """y = max(x, 0)."""
    y = array_module(x).maximum(x, 0)
    return y, y


def relu_backward(dy, cache):
    """dx = dy * 1[y > 0]."""
    y = cache
    return dy * (y > 0)


def leaky_relu_forward(x, slope=LEAKY_SLOPE):
    """y = x for x > 0, slope * x otherwise (0 < slope < 1)."""
    y = array_module(x).where(x > 0, x, x * slope)
    return y, (y, slope)


def leaky_relu_backward(dy, cache):
    """dx = dy for y > 0, slope * dy otherwise."""
    y, slope = cache
    return array_module(dy).where(y > 0, dy, dy * slope)


def tanh_forward(x):
    """y = tanh(x)."""
    y = array_module(x).tanh(x)
    return y, y


def tanh_backward(dy, cache):
    """dx = dy * (1 - y^2)."""
    y = cache
    return dy * (1 - y * y)


def sigmoid(x):
    """Logistic function 1 / (1 + e^{-x}), without overflow for any x.

    With e = exp(-|x|) <= 1: sigmoid(x) = 1/(1+e) for x >= 0 and e/(1+e) for x < 0.
    """
    xp = array_module(x)
    e = xp.exp(-xp.abs(x))
    return xp.where(x >= 0, 1, e) / (1 + e)


def softplus(x):
    """log(1 + e^x) = max(x, 0) + log(1 + e^{-|x|}): finite for any finite x; its derivative is sigmoid(x)."""
    xp = array_module(x)
    return xp.maximum(x, 0) + xp.log1p(xp.exp(-xp.abs(x)))


def sigmoid_forward(x):
    """y = sigmoid(x)."""
    y = sigmoid(x)
    return y, y


def sigmoid_backward(dy, cache):
    """dx = dy * y * (1 - y)."""
    y = cache
    return dy * y * (1 - y)


ACTIVATIONS = {
    "identity": (identity_forward, identity_backward),
    "relu": (relu_forward, relu_backward),
    "leaky_relu": (leaky_relu_forward, leaky_relu_backward),
    "tanh": (tanh_forward, tanh_backward),
    "sigmoid": (sigmoid_forward, sigmoid_backward),
}


def get_activation(name):
    """Return ``(forward, backward)`` for an activation name."""
    if name not in ACTIVATIONS:
        raise ConfigError(f"unknown activation {name!r}; expected one of {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[name]
