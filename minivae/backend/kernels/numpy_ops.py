"""The NumPy backend's fused ops: :mod:`reference`, with the optimizers' updates on BLAS.

Each function has the signature and the semantics of its reference (tested
against it, as the CUDA kernels are). Only the three optimizer updates differ
in how they run: their ``y <- a x + b y`` passes are :mod:`minivae.backend.blas`
calls (one pass over memory where NumPy needs two or three; OpenBLAS runs the
``axpy`` on all its threads, ``axpby`` on one). Adam's update makes 7 passes
instead of the reference's 12. The optimizers reach these through their
backend (``backend.ops``), as the layers do; nothing else calls BLAS.
"""
from __future__ import annotations

from .. import blas
from .. import array_module
from .reference import SCRATCH_ACTS  # noqa: F401  (the activations whose bias_act_forward takes a work array)
from .reference import (act_backward, bernoulli_nll_grad, bias_act_forward, gaussian_nll_grad, reparam_kl_backward,
                        reparam_kl_forward)

__all__ = ["reparam_kl_forward", "reparam_kl_backward", "bernoulli_nll_grad", "gaussian_nll_grad",
           "bias_act_forward", "act_backward", "adam_update", "sgd_update", "rmsprop_update"]


def adam_update(p, g, m, v, lr, beta1, beta2, eps, t, work=None):
    """One Adam step in place, as :func:`minivae.backend.kernels.reference.adam_update`:

        m <- beta1 m + (1 - beta1) g                          (axpby)
        v <- beta2 v + (1 - beta2) g^2                        (square, axpby)
        p <- p - a m / (sqrt(v) + eps sqrt(1 - beta2^t))      (sqrt, add, divide, axpy)

    a = lr sqrt(1 - beta2^t) / (1 - beta1^t). Updates p, m, v; g is read only;
    ``work`` (p's shape) is scratch, allocated when None.
    """
    xp = array_module(p)
    f = p.dtype.type
    bc1, bc2 = 1 - beta1**t, 1 - beta2**t
    blas.axpby(1 - beta1, g, beta1, m)
    tmp = xp.multiply(g, g, out=work)
    blas.axpby(1 - beta2, tmp, beta2, v)
    xp.sqrt(v, out=tmp)
    tmp += f(eps * bc2**0.5)
    xp.divide(m, tmp, out=tmp)
    blas.axpy(-lr * bc2**0.5 / bc1, tmp, p)


def sgd_update(p, g, b, lr, momentum):
    """One SGD step in place, as :func:`minivae.backend.kernels.reference.sgd_update`:

        b <- momentum b + g       (axpby; only when momentum > 0)
        p <- p - lr b             (axpy; p - lr g when momentum = 0)
    """
    if momentum:
        g = blas.axpby(1, g, momentum, b)
    blas.axpy(-lr, g, p)


def rmsprop_update(p, g, r, lr, rho, eps, work=None):
    """One RMSProp step in place, as :func:`minivae.backend.kernels.reference.rmsprop_update`:

        r <- rho r + (1 - rho) g^2            (square, axpby)
        p <- p - lr g / (sqrt(r) + eps)       (sqrt, add, divide, axpy)
    """
    xp = array_module(p)
    tmp = xp.multiply(g, g, out=work)
    blas.axpby(1 - rho, tmp, rho, r)
    xp.sqrt(r, out=tmp)
    tmp += p.dtype.type(eps)
    xp.divide(g, tmp, out=tmp)
    blas.axpy(-lr, tmp, p)
