"""Numerical gradient checking by central differences (the cs231n workflow).

Use float64 and fix every random draw (pass ``eps``) before checking: a
function that samples anew at each call has no gradient to check.
Expected relative errors in float64: about 1e-9 or smaller for smooth
functions; above 1e-7 almost always means a bug.
"""
from __future__ import annotations

from .backend import array_module


def rel_error(a, b):
    """max |a - b| / max(1e-8, |a| + |b|), elementwise, as a float (cs231n)."""
    xp = array_module(a, b)
    a, b = xp.asarray(a, dtype="float64"), xp.asarray(b, dtype="float64")
    return float(xp.max(xp.abs(a - b) / xp.maximum(1e-8, xp.abs(a) + xp.abs(b))))


def numerical_gradient(f, x, h=1e-5, order=2):
    """df/dx for a scalar function f() of the array x, by central differences.

    order 2:  df/dx_i ~ (f(x + h e_i) - f(x - h e_i)) / (2h),  error O(h^2);
    order 4:  (8 [f(x + h e_i) - f(x - h e_i)] - [f(x + 2h e_i) - f(x - 2h e_i)]) / (12h),
              error O(h^4): use it (with h ~ 1e-3) to resolve small gradients.
    ``x`` is perturbed in place and restored; f takes no argument and reads x.
    """
    if order not in (2, 4):
        raise ValueError(f"order must be 2 or 4, got {order!r}")
    xp = array_module(x)
    grad = xp.zeros_like(x)
    flat, gflat = x.reshape(-1), grad.reshape(-1)

    def f_at(i, value):
        flat[i] = value
        return float(f())

    for i in range(flat.size):
        old = flat[i].item()
        d1 = f_at(i, old + h) - f_at(i, old - h)
        if order == 2:
            gflat[i] = d1 / (2 * h)
        else:
            d2 = f_at(i, old + 2 * h) - f_at(i, old - 2 * h)
            gflat[i] = (8 * d1 - d2) / (12 * h)
        flat[i] = old
    return grad


def numerical_gradient_array(f, x, dout, h=1e-5, order=2):
    """d(sum(f() * dout))/dx for an array-valued f(), by central differences.

    This is the vector-Jacobian product a backward pass computes given dout.
    """
    xp = array_module(x)
    return numerical_gradient(lambda: xp.sum(f() * dout), x, h, order)


def check_model_gradients(loss_fn, params, grads, h=1e-3, order=4, names=None):
    """Compare analytic ``grads`` with numerical gradients of ``loss_fn()``.

    loss_fn() must be deterministic and return the scalar loss for the
    current ``params`` (which are perturbed in place and restored).
    Returns {name: relative error} for every checked parameter.
    """
    names = list(params) if names is None else names
    return {n: rel_error(grads[n], numerical_gradient(loss_fn, params[n], h, order)) for n in names}
