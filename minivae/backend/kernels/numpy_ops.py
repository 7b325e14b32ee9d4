"""The NumPy backend's fused ops: :mod:`reference`, with Adam's update on BLAS's threads.

Each function has the signature and the semantics of its reference (tested
against it, as the CUDA kernels are). Only ``adam_update`` differs in how it
runs: 7 passes over memory instead of 12, three of them :mod:`minivae.backend.blas`
calls (OpenBLAS runs the ``axpy`` on all its threads; ``axpby`` on one).
"""
from __future__ import annotations

from .. import blas
from .. import array_module
from .reference import SCRATCH_ACTS  # noqa: F401  (the activations whose bias_act_forward takes a work array)
from .reference import (act_backward, bernoulli_nll_grad, bias_act_forward, gaussian_nll_grad, reparam_kl_backward,
                        reparam_kl_forward)

__all__ = ["reparam_kl_forward", "reparam_kl_backward", "bernoulli_nll_grad", "gaussian_nll_grad",
           "bias_act_forward", "act_backward", "adam_update"]


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
