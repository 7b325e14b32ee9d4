"""minivae.backend.blas: y <- a x + y and y <- a x + b y on NumPy's OpenBLAS, and their array-code fallback."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minivae.backend import blas
from minivae.errors import ShapeError

LIB = blas.openblas()
needs_openblas = pytest.mark.skipif(LIB is None, reason="NumPy's BLAS here is not an OpenBLAS minivae can find")
TOL = {"float32": 1e-6, "float64": 1e-14}


def operands(n, dtype, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal(n).astype(dtype), rng.standard_normal(n).astype(dtype)


def close(got, want, dtype):
    np.testing.assert_allclose(got, want, rtol=0, atol=TOL[dtype] * (np.max(np.abs(want)) + 1))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@settings(max_examples=20, deadline=None)
@given(n=st.one_of(st.integers(1, 100), st.just(652_824)), a=st.floats(-2, 2), b=st.floats(-2, 2))
def test_axpy_and_axpby_compute_the_formula(dtype, n, a, b):
    x, y = operands(n, dtype)
    want_axpy, want_axpby = a * x.astype(np.float64) + y, a * x.astype(np.float64) + b * y.astype(np.float64)
    x_before = x.copy()
    got = blas.axpy(a, x, y.copy())
    assert got.dtype == np.dtype(dtype)
    close(got, want_axpy, dtype)
    close(blas.axpby(a, x, b, y.copy()), want_axpby, dtype)
    np.testing.assert_array_equal(x, x_before)                      # x is read only


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_views_that_blas_cannot_take_run_as_array_code(dtype):
    x, y = operands(200, dtype)
    xs, ys = x[::2], y.copy()[::2]                                   # strided
    want = 0.5 * xs + 2.0 * ys
    close(blas.axpby(0.5, xs, 2.0, ys), want, dtype)
    x2d, y2d = x.reshape(10, 20).T, y.reshape(10, 20).T.copy()       # Fortran order
    close(blas.axpy(-1.5, x2d, y2d), -1.5 * x2d + y.reshape(10, 20).T, dtype)


def test_mixed_dtypes_run_as_array_code_in_ys_dtype():
    x, y = operands(50, "float64")
    y32 = y.astype(np.float32)
    got = blas.axpby(0.25, x, 0.5, y32)
    assert got.dtype == np.float32
    close(got, 0.25 * x + 0.5 * y, "float32")


def test_sizes_that_differ_are_refused():
    x, y = operands(10, "float32")
    with pytest.raises(ShapeError, match="10 elements and y 9"):
        blas.axpy(1.0, x, y[:9].copy())


@needs_openblas
def test_openblas_is_found_with_both_routines():
    assert "openblas" in LIB.path
    assert set(LIB.axpy) == set(LIB.axpby) == {np.dtype("float32"), np.dtype("float64")}
    assert int(LIB.get_threads()) >= 1


def test_without_openblas_the_array_code_gives_the_same_update(monkeypatch):
    from minivae.backend.kernels import numpy_ops as cpu, reference

    monkeypatch.setattr(blas, "openblas", lambda: None)                # e.g. a NumPy built against MKL
    x, y = operands(1000, "float32")
    close(blas.axpby(0.1, x, 0.9, y.copy()), 0.1 * x.astype(np.float64) + 0.9 * y, "float32")
    rng = np.random.default_rng(1)
    p, g, m = (rng.standard_normal(5000) for _ in range(3))
    v = rng.uniform(0.1, 1, 5000)
    ours, ref = [a.copy() for a in (p, g, m, v)], [a.copy() for a in (p, g, m, v)]
    cpu.adam_update(*ours, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, t=3)
    reference.adam_update(*ref, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, t=3)
    for a, b in zip(ours, ref):
        close(a, b, "float64")
