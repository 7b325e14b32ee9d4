"""Reference semantics of the optimizers' updates (:mod:`minivae.optim`), in NumPy/CuPy array code.

Each update changes the parameters and the optimizer's state in place and
reads the gradient only; all arrays have one shape and dtype (a flat buffer
of every parameter works as well as one parameter), and scalars are taken in
the arrays' dtype. They are part of :mod:`.reference` (which imports them):
the NumPy backend's :mod:`.numpy_ops` runs them with BLAS, and the CUDA
module has Adam's as a kernel (``adam.cu``).
"""
from __future__ import annotations

from .. import array_module


def adam_update(p, g, m, v, lr, beta1, beta2, eps, t, work=None):
    """One Adam step in place (Kingma & Ba 2015, Algorithm 1), t >= 1 the step count.

        m <- beta1 m + (1 - beta1) g
        v <- beta2 v + (1 - beta2) g^2
        p <- p - lr * (m / (1 - beta1^t)) / (sqrt(v / (1 - beta2^t)) + eps)

    computed, with the same value, as p - a m / (sqrt(v) + eps sqrt(1 - beta2^t)),
    a = lr sqrt(1 - beta2^t) / (1 - beta1^t) (the form of Algorithm 1's last
    remark): 12 passes over memory. Updates p, m, v; g is read only. All four
    arrays have one shape and dtype (any shape: a flat buffer of all
    parameters works as well as one parameter); ``work``, of that shape too,
    is scratch (allocated when None).
    """
    xp = array_module(p)
    f = p.dtype.type
    bc1, bc2 = 1 - beta1**t, 1 - beta2**t
    tmp = xp.subtract(g, m, out=work)
    tmp *= f(1 - beta1)
    m += tmp                                   # m + (1-b1)(g - m) = b1 m + (1-b1) g
    xp.multiply(g, f(1 - beta2), out=tmp)
    tmp *= g
    v *= f(beta2)
    v += tmp                                   # b2 v + (1-b2) g^2
    xp.sqrt(v, out=tmp)
    tmp += f(eps * bc2**0.5)
    xp.divide(m, tmp, out=tmp)
    tmp *= f(lr * bc2**0.5 / bc1)
    p -= tmp


def sgd_update(p, g, b, lr, momentum):
    """One step of SGD with (heavy-ball) momentum, in place:

        b <- momentum b + g,   p <- p - lr b          (momentum > 0)
        p <- p - lr g                                 (momentum = 0; b is left as it is)

    Updates p and b; g is read only. All three arrays have one shape and dtype.
    """
    f = p.dtype.type
    if momentum:
        b *= f(momentum)
        b += g
        g = b
    p -= f(lr) * g


def rmsprop_update(p, g, r, lr, rho, eps, work=None):
    """One RMSProp step in place (Tieleman & Hinton 2012, lecture 6e):

        r <- rho r + (1 - rho) g^2,   p <- p - lr g / (sqrt(r) + eps)

    Updates p and r; g is read only. All arrays have one shape and dtype;
    ``work``, of that shape too, is scratch (allocated when None).
    """
    xp = array_module(p)
    f = p.dtype.type
    tmp = xp.multiply(g, g, out=work)
    tmp *= f(1 - rho)
    r *= f(rho)
    r += tmp                                   # rho r + (1-rho) g^2
    xp.sqrt(r, out=tmp)
    tmp += f(eps)
    xp.divide(g, tmp, out=tmp)
    tmp *= f(lr)
    p -= tmp
