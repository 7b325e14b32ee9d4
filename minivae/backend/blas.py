"""The OpenBLAS that NumPy loaded, through ctypes: its thread count and two level-1 routines.

    axpy:   y <- a x + y
    axpby:  y <- a x + b y

Each is one pass over memory where NumPy needs two or three (``t = a * x``,
then ``y += t``), and OpenBLAS runs ``axpy`` on all its threads, which right
after a training step's matrix products are still awake (they spin for a
while after each call); ``axpby`` runs on one. Adam's update uses both
(:mod:`minivae.backend.kernels.numpy_ops`; measured in PERFORMANCE.md).

Where the library or its symbols cannot be found (a NumPy built against
another BLAS), or for arrays BLAS cannot take (CuPy, non-contiguous, not
float32/float64, two dtypes), the same update runs as NumPy/CuPy array code.
"""
from __future__ import annotations

import ctypes
import functools

import numpy

from . import array_module
from ..errors import ShapeError

#: (thread-function prefix, cblas prefix, symbol suffix) of the OpenBLAS builds NumPy ships or links
_NAMINGS = (("scipy_openblas", "scipy_", "64_"), ("scipy_openblas", "scipy_", ""),
            ("openblas", "", "64_"), ("openblas", "", ""))


class OpenBLAS:
    """One loaded OpenBLAS: ``get_threads``, ``set_threads``, and the s/d axpy and axpby routines."""

    def __init__(self, lib, prefix, cprefix, suffix):
        self.path = lib._name
        self.get_threads = getattr(lib, f"{prefix}_get_num_threads{suffix}")
        self.set_threads = getattr(lib, f"{prefix}_set_num_threads{suffix}")
        config = getattr(lib, f"{prefix}_get_config{suffix}", None)
        if config is not None:
            config.restype = ctypes.c_char_p
        ilp64 = suffix == "64_" or (config is not None and b"USE64BITINT" in config())
        n, f, d, ptr = ctypes.c_int64 if ilp64 else ctypes.c_int32, ctypes.c_float, ctypes.c_double, ctypes.c_void_p
        self.axpy, self.axpby = {}, {}
        for dtype, code, real in ((numpy.float32, "s", f), (numpy.float64, "d", d)):
            axpy = getattr(lib, f"{cprefix}cblas_{code}axpy{suffix}")
            axpy.argtypes, axpy.restype = [n, real, ptr, n, ptr, n], None
            self.axpy[numpy.dtype(dtype)] = axpy
            axpby = getattr(lib, f"{cprefix}cblas_{code}axpby{suffix}", None)
            if axpby is not None:
                axpby.argtypes, axpby.restype = [n, real, ptr, n, real, ptr, n], None
                self.axpby[numpy.dtype(dtype)] = axpby


@functools.cache
def openblas():
    """The OpenBLAS this process loaded (NumPy's first), or None: found through /proc/self/maps (Linux)."""
    try:
        with open("/proc/self/maps") as f:
            paths = {line.split()[-1] for line in f if "openblas" in line.split()[-1] and ".so" in line}
    except OSError:
        return None
    for path in sorted(paths, key=lambda p: ("numpy" not in p, p)):     # NumPy's wheel ships it in numpy.libs
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for prefix, cprefix, suffix in _NAMINGS:
            try:
                return OpenBLAS(lib, prefix, cprefix, suffix)
            except AttributeError:
                continue
    return None


def _routine(table, x, y):
    """The BLAS routine of ``table`` for x and y, or None where the array code must run instead."""
    if x.size != y.size:
        raise ShapeError(f"BLAS {table}: x has {x.size} elements and y {y.size}; expected one size")
    if not (isinstance(x, numpy.ndarray) and isinstance(y, numpy.ndarray)):
        return None
    lib = openblas()
    if (lib is None or x.dtype != y.dtype or x.size == 0
            or not (x.flags.c_contiguous and y.flags.c_contiguous and y.flags.writeable)):
        return None
    return getattr(lib, table).get(y.dtype)


def axpy(a, x, y):
    """y <- a x + y in place (x, y: one size, not overlapping), on BLAS's threads where it can; returns y."""
    f = _routine("axpy", x, y)
    if f is None:
        y += y.dtype.type(a) * x
    else:
        f(y.size, a, x.ctypes.data, 1, y.ctypes.data, 1)
    return y


def axpby(a, x, b, y):
    """y <- a x + b y in place (x, y: one size, not overlapping), on BLAS's threads where it can; returns y."""
    f = _routine("axpby", x, y)
    if f is None:
        xp = array_module(y)
        y *= y.dtype.type(b)
        y += xp.multiply(x, y.dtype.type(a), dtype=y.dtype)
    else:
        f(y.size, a, x.ctypes.data, 1, b, y.ctypes.data, 1)
    return y
