"""The launch machinery of :mod:`minivae.backend.kernels.cuda`: checks, compilation, launch shapes.

The ops in ``cuda.py`` use what is here; this module holds no op and does
not import ``cuda.py``. It has the constants of the ``.cu`` sources
(:data:`SOURCES`, :data:`KERNELS`, :data:`NVRTC_OPTIONS`, the activation
codes, block and grid sizes), the compile-and-cache helpers
(:func:`cuda_source`, ``_module``) and the argument checks and conversions
every op runs before a launch.

How a call runs:

1. the arguments are checked: CuPy arrays, one float dtype (float32 or
   float64), C-contiguous (a raw kernel reads memory in row-major order and
   would read ``W.T`` as ``W``), the shapes of the contract, fewer than 2^31
   elements (the kernels index with ``int``);
2. the ``.cu`` file is compiled by NVRTC on first use and cached (CuPy also
   keeps the binary on disk); importing this module or ``cuda.py`` compiles
   nothing and does not even import CuPy;
3. the ``_f32`` or ``_f64`` kernel is launched on CuPy's current stream with
   every scalar converted to the arrays' dtype (a Python float would be passed
   as a double, and a float kernel would read garbage).
"""
from __future__ import annotations

import functools
from importlib import resources

import numpy

from ...errors import ConfigError, DataError, ShapeError
from .reference import ACTS

#: compiler options, shared by NVRTC here and by nvcc in tests/test_nvcc.py
NVRTC_OPTIONS = ("--fmad=false",)

#: each .cu file and the kernels it defines (each as ``name_f32`` and ``name_f64``)
SOURCES = {
    "reparam_kl.cu": ("reparam_kl_forward", "reparam_kl_backward"),
    "likelihoods.cu": ("bernoulli_nll_grad", "gaussian_nll_grad", "gaussian_dlogvar"),
    "bias_act.cu": ("bias_act_forward", "act_backward"),
    "adam.cu": ("adam_update", "adam_update_multi"),
}
KERNELS = {k: f for f, ks in SOURCES.items() for k in ks}

#: activation numbers as in bias_act.cu (ACT_IDENTITY 0 ... ACT_SIGMOID 4)
ACT_CODES = {name: i for i, name in enumerate(ACTS)}

BLOCK = 256             # threads per block of the elementwise kernels
WARP = 32
MAX_GRID = 65536        # blocks of a grid-stride loop; more would only wait
INT_LIMIT = 2**31 - 1   # the kernels index with int
_SUFFIX = {numpy.dtype("float32"): "f32", numpy.dtype("float64"): "f64"}


def cuda_source(filename):
    """The text of one of the ``.cu`` files of this package."""
    if filename not in SOURCES:
        raise ConfigError(f"unknown CUDA source {filename!r}; expected one of {sorted(SOURCES)}")
    return resources.files(__package__).joinpath(filename).read_text(encoding="utf-8")


@functools.cache
def _module(filename):
    """The compiled module of one .cu file (NVRTC on first use, then cached)."""
    import cupy

    return cupy.RawModule(code=cuda_source(filename), options=NVRTC_OPTIONS)


def _grid(n, per_block=BLOCK):
    return (max(1, min(-(-n // per_block), MAX_GRID)),)


# ------------------------------------------------------------------ checks
def _check(op, dtype=None, **arrays):
    """Check arrays before a raw kernel launch; return their common dtype.

    Each must be a CuPy array of one float dtype (``dtype`` if given), and
    C-contiguous. Shapes are checked by the callers.
    """
    import cupy

    for name, a in arrays.items():
        if not isinstance(a, cupy.ndarray):
            raise DataError(f"{op}: {name} is a {type(a).__module__}.{type(a).__name__}, expected a CuPy "
                            f"array on the GPU (move it with backend.asarray or cupy.asarray)")
    return _check_layout(op, dtype, **arrays)


def _check_layout(op, dtype=None, **arrays):
    """The dtype and contiguity half of :func:`_check` (works on any array type)."""
    for name, a in arrays.items():
        if dtype is None:
            dtype = a.dtype
            if dtype not in _SUFFIX:
                raise DataError(f"{op}: {name} has dtype {dtype}, expected float32 or float64")
        elif a.dtype != dtype:
            raise DataError(f"{op}: {name} has dtype {a.dtype}, expected {numpy.dtype(dtype)} like the other "
                            f"arrays (one dtype per call; convert with .astype)")
        if not a.flags.c_contiguous:
            raise ShapeError(f"{op}: {name} (shape {tuple(a.shape)}, strides {a.strides}) is not C-contiguous; "
                             f"a raw kernel would read a view such as W.T as W: pass "
                             f"cupy.ascontiguousarray({name})")
        if a.size > INT_LIMIT:
            raise ShapeError(f"{op}: {name} has {a.size} elements, at most {INT_LIMIT} fit one launch; "
                             f"split the batch")
    return numpy.dtype(dtype)


def _check_shape(op, name, a, shape):
    if tuple(a.shape) != tuple(shape):
        raise ShapeError(f"{op}: {name} has shape {tuple(a.shape)}, expected {tuple(shape)}")


def _rows(op, name, a):
    if a.ndim != 2:
        raise ShapeError(f"{op}: {name} has shape {tuple(a.shape)}, expected (N, D)")
    return a.shape


def _out(xp, op, name, out, shape, dtype):
    """A new output array, or ``out`` after checking it."""
    if out is None:
        return xp.empty(shape, dtype=dtype)
    _check(op, dtype, **{name: out})
    _check_shape(op, name, out, shape)
    return out


def _scalar(op, name, value, dt):
    """A host number as a scalar of the arrays' dtype (never a Python float: it would be a double)."""
    if type(value).__module__.startswith("cupy"):
        raise DataError(f"{op}: {name} is a CuPy array, expected a host number (Python or NumPy scalar); "
                        f"reading it back would wait for the GPU")
    return dt.type(value)


def _act_code(op, act):
    if act not in ACT_CODES:
        raise ConfigError(f"{op}: unknown activation {act!r}; expected one of {ACTS}")
    return numpy.int32(ACT_CODES[act])


def _row_block(d):
    """Threads per block of a one-block-per-row kernel: a multiple of 32, at most 256."""
    return min(BLOCK, -(-d // WARP) * WARP)
