"""The fused training-step ops: NumPy references against the lecture, CUDA kernels against the references.

CPU part (always runs): each function of :mod:`minivae.backend.kernels.reference`
against the readable lecture functions it replaces (:mod:`minivae.reparam`,
:mod:`minivae.kl`, :mod:`minivae.likelihoods`, :mod:`minivae.activations`, the
textbook Adam), float32 and float64, shapes drawn by hypothesis, inputs random
and never zero.

GPU part (skipped with the reason where CuPy or a CUDA device is missing):
each kernel of :mod:`minivae.backend.kernels.cuda` against its NumPy reference run on
host copies of the same inputs.

Error measure: ``max_rel(a, b, scale) = max|a - b| / max(scale)``, the
relative error over the whole array, where ``scale`` is the size of the
operands an entry is computed from (``|b|`` by default). An entry that cancels
to near zero, such as ``sigmoid(l) - x`` or ``exp(logvar) - logvar - 1``, is so
judged by the size of what cancelled, which is what rounding depends on.
Expected magnitudes: float64 about 1e-15, float32 about 1e-7 (a few units of
rounding of exp, log and tanh); the bounds asserted are 1e-12 and 1e-6.
"""
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minivae.activations import get_activation
from minivae.errors import ConfigError, DataError, ShapeError
from minivae.backend.cupy_backend import gpu_unavailable_reason
from minivae.backend.kernels import numpy_ops as cpu, cuda, reference
from minivae.kl import kl_backward, kl_divergence
from minivae.layers import dense_forward
from minivae.likelihoods import (bernoulli_log_likelihood, bernoulli_log_likelihood_backward,
                                 gaussian_log_likelihood, gaussian_log_likelihood_backward)
from minivae.reparam import reparameterize, reparameterize_backward

DTYPES = ("float32", "float64")
#: CPU, reference vs lecture (different formulas: log1p vs log(1 + e), exp(logvar) vs sigma^2)
TOL_LECTURE = {"float32": 1e-6, "float64": 1e-12}
#: GPU kernel vs reference (the issue's bound for float32: 1e-6)
TOL_KERNEL = {"float32": 1e-6, "float64": 1e-12}

GPU_REASON = gpu_unavailable_reason()
gpu = pytest.mark.skipif(GPU_REASON is not None, reason=str(GPU_REASON))


def host64(x):
    return np.asarray(x.get() if hasattr(x, "get") else x, dtype=np.float64)


def max_rel(a, b, scale=None):
    """max|a - b| / max(scale), scale = |b| by default; in float64, on host copies.

    0 or inf when the scale is all zeros (e.g. relu of negative inputs): then a must equal b.
    """
    a, b = host64(a), host64(b)
    assert a.shape == b.shape, (a.shape, b.shape)
    err = np.max(np.abs(a - b))
    scale = np.max(np.abs(b) if scale is None else host64(scale))
    return float(err / scale) if scale > 0 else (0.0 if err == 0 else np.inf)


# The size of the operands of each output (see the module docstring).
def z_scale(mu, logvar, eps):
    mu, logvar, eps = map(host64, (mu, logvar, eps))
    return np.abs(mu) + np.exp(logvar / 2) * np.abs(eps)


def kl_scale(mu, logvar):
    mu, logvar = host64(mu), host64(logvar)
    return 0.5 * (mu * mu + np.exp(logvar) + np.abs(logvar) + 1).sum(axis=1)


def dmu_scale(dz, mu, w):
    return np.abs(host64(dz)) + np.abs(host64(mu) * host64(w))


def dlogvar_scale(dz, logvar, eps, w):
    dz, logvar, eps, w = map(host64, (dz, logvar, eps, w))
    return 0.5 * ((np.exp(logvar) + 1) * np.abs(w) + np.exp(logvar / 2) * np.abs(eps * dz))


def nll_scale(x, logits):
    """log(1 + e) rounds 1 + e ~ 1: each term carries an absolute error of about one unit of 1."""
    x, logits = host64(x), host64(logits)
    return (1 + np.maximum(logits, 0) + np.abs(x * logits)).sum(axis=1)


def dlogits_scale(x, scale):
    return abs(scale) * (1 + np.abs(host64(x)))          # |sigmoid(l)| + |x|


def dx_scale(dy):
    return np.abs(host64(dy))                             # every act' here is at most 1


def latent_inputs(rng, n, d, dtype):
    """mu ~ N(0, 1), logvar ~ U(-3, 3), eps ~ N(0, 1), dz ~ N(0, 1), each (n, d)."""
    mu = rng.standard_normal((n, d)).astype(dtype)
    logvar = rng.uniform(-3, 3, (n, d)).astype(dtype)
    eps = rng.standard_normal((n, d)).astype(dtype)
    dz = rng.standard_normal((n, d)).astype(dtype)
    return mu, logvar, eps, dz


def pixel_inputs(rng, n, d, dtype, extreme=True):
    """x in [0, 1] (a third of the pixels exactly 0 or 1) and logits ~ N(0, 3^2), some far out."""
    x = rng.uniform(0, 1, (n, d))
    mask = rng.uniform(size=(n, d)) < 1 / 3
    x[mask] = np.round(x[mask])
    logits = 3 * rng.standard_normal((n, d))
    if extreme:
        far = rng.uniform(size=(n, d)) < 0.02
        logits[far] = rng.choice([-1, 1], far.sum()) * rng.uniform(30, 1e4, far.sum())
    return x.astype(dtype), logits.astype(dtype)


def adam_inputs(rng, shape, dtype):
    p = rng.standard_normal(shape).astype(dtype)
    g = rng.standard_normal(shape).astype(dtype)
    m = (0.1 * rng.standard_normal(shape)).astype(dtype)
    v = (0.01 * rng.uniform(0.1, 1, shape)).astype(dtype)
    return p, g, m, v


shapes = st.tuples(st.integers(1, 64), st.integers(1, 300))
seeds = st.integers(0, 2**32 - 1)
hyp = settings(max_examples=25, deadline=None)


# ===================================================== CPU: reference vs lecture
@pytest.mark.parametrize("dtype", DTYPES)
@hyp
@given(shape=shapes, seed=seeds)
def test_reparam_kl_forward_matches_lecture(dtype, shape, seed):
    mu, logvar, eps, _ = latent_inputs(np.random.default_rng(seed), *shape, dtype)
    z, kl = reference.reparam_kl_forward(mu, logvar, eps)
    assert z.dtype == kl.dtype == np.dtype(dtype) and kl.shape == shape[:1]
    assert max_rel(z, reparameterize(mu, logvar, eps)[0], z_scale(mu, logvar, eps)) <= TOL_LECTURE[dtype]
    assert max_rel(kl, kl_divergence(mu, logvar), kl_scale(mu, logvar)) <= TOL_LECTURE[dtype]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("vector_weight", [False, True])
@hyp
@given(shape=shapes, seed=seeds)
def test_reparam_kl_backward_matches_lecture(dtype, vector_weight, shape, seed):
    rng = np.random.default_rng(seed)
    mu, logvar, eps, dz = latent_inputs(rng, *shape, dtype)
    n, d = shape
    w = (rng.uniform(0.5, 2, d) / n).astype(dtype) if vector_weight else np.dtype(dtype).type(1.5 / n)
    args = [a.copy() for a in (dz, mu, logvar, eps)]
    dmu, dlogvar = reference.reparam_kl_backward(*args, w)
    for before, after in zip((dz, mu, logvar, eps), args):
        np.testing.assert_array_equal(before, after)                        # nothing mutated
    dmu_z, dlogvar_z = reparameterize_backward(dz, reparameterize(mu, logvar, eps)[1])
    dmu_kl, dlogvar_kl = kl_backward(w[None, :] if vector_weight else w, mu, logvar)  # (1, D): per dimension
    assert dmu.dtype == dlogvar.dtype == np.dtype(dtype)
    assert max_rel(dmu, dmu_z + dmu_kl, dmu_scale(dz, mu, w)) <= TOL_LECTURE[dtype]
    assert max_rel(dlogvar, dlogvar_z + dlogvar_kl, dlogvar_scale(dz, logvar, eps, w)) <= TOL_LECTURE[dtype]


@pytest.mark.parametrize("dtype", DTYPES)
@hyp
@given(shape=st.tuples(st.integers(1, 32), st.integers(1, 800)), seed=seeds)
def test_bernoulli_nll_grad_matches_lecture(dtype, shape, seed):
    x, logits = pixel_inputs(np.random.default_rng(seed), *shape, dtype)
    scale = 1.0 / shape[0]
    nll, dlogits = reference.bernoulli_nll_grad(x, logits, scale)
    assert np.isfinite(nll).all() and np.isfinite(dlogits).all()
    assert max_rel(nll, -bernoulli_log_likelihood(x, logits), nll_scale(x, logits)) <= TOL_LECTURE[dtype]
    dll = np.full(shape[0], -scale, dtype=dtype)                            # d(scale * sum nll)/dll
    assert max_rel(dlogits, bernoulli_log_likelihood_backward(dll, x, logits),
                   dlogits_scale(x, scale)) <= TOL_LECTURE[dtype]


def gaussian_inputs(rng, n, d, dtype, learned):
    """x ~ N(0, 1) pixels, means near them, and logvar: a number, or one per pixel in [-4, 2]."""
    x = rng.standard_normal((n, d)).astype(dtype)
    mean = (x + 0.7 * rng.standard_normal((n, d))).astype(dtype)
    logvar = rng.uniform(-4, 2, d).astype(dtype) if learned else float(rng.uniform(-4, 2))
    return x, mean, logvar


def gaussian_scales(x, mean, logvar):
    """Error scales: each nll term and each gradient term is rounded once at its own magnitude."""
    r2 = (host64(x) - host64(mean)) ** 2 * np.exp(-host64(logvar))
    return (r2 + np.abs(host64(logvar)) + 2).sum(axis=1), np.sqrt(r2 * np.exp(-host64(logvar))), (r2 + 1).sum(0)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("learned", [False, True], ids=["fixed variance", "learned variance"])
@hyp
@given(shape=st.tuples(st.integers(1, 32), st.integers(1, 800)), seed=seeds)
def test_gaussian_nll_grad_matches_lecture(dtype, learned, shape, seed):
    x, mean, logvar = gaussian_inputs(np.random.default_rng(seed), *shape, dtype, learned)
    scale = 1.0 / shape[0]
    work = np.full(shape, np.nan, dtype)                                    # scratch: its contents do not matter
    nll, dmean, dlogvar = reference.gaussian_nll_grad(x, mean, logvar, scale, work=work)
    assert nll.dtype == dmean.dtype == np.dtype(dtype)
    nll_s, dmean_s, dlogvar_s = gaussian_scales(x, mean, logvar)
    assert max_rel(nll, -gaussian_log_likelihood(x, mean, logvar), nll_s) <= TOL_LECTURE[dtype]
    dll = np.full(shape[0], -scale, dtype=dtype)
    dmean_want, dlogvar_want = gaussian_log_likelihood_backward(dll, x, mean, logvar)
    assert max_rel(dmean, dmean_want, scale * dmean_s) <= TOL_LECTURE[dtype]
    if learned:
        assert dlogvar.shape == (shape[1],) and dlogvar.dtype == np.dtype(dtype)
        assert max_rel(dlogvar, dlogvar_want, scale * dlogvar_s) <= TOL_LECTURE[dtype]
    else:
        assert dlogvar is None


@pytest.mark.parametrize("op", ["bernoulli", "gaussian learned", "sigmoid", "leaky_relu"])
@pytest.mark.parametrize("ops", [reference, cpu], ids=["reference", "cpu"])
def test_ops_write_into_the_given_buffers_and_allocate_nothing_of_their_size(op, ops):
    """With ``out`` and ``work`` given, an op allocates less than a quarter of one (N, D) array."""
    import tracemalloc

    n, d = 128, 784
    x, logits = pixel_inputs(np.random.default_rng(0), n, d, "float32")
    logvar = np.zeros(d, np.float32)
    outs = np.empty_like(x), np.empty(n, np.float32), np.empty_like(x)

    def call(work):
        if op == "bernoulli":
            return ops.bernoulli_nll_grad(x, logits, 0.5, dlogits=outs[0], nll=outs[1], work=work)
        if op == "gaussian learned":
            return ops.gaussian_nll_grad(x, logits, logvar, 0.5, dmean=outs[0], nll=outs[1], work=work)
        return (ops.bias_act_forward(logits, logvar, op, out=outs[0], work=work),)

    peaks = []
    for work in (None, outs[2]):
        call(work)
        tracemalloc.start()
        got = call(work)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    assert got[0] is (outs[0] if len(got) == 1 else outs[1])
    assert peaks[0] >= n * d * 4 > 4 * peaks[1], peaks                     # without work: a scratch (N, D)


@pytest.mark.parametrize("dtype", DTYPES)
@hyp
@given(shape=st.tuples(st.integers(1, 8), st.integers(1, 800)), halvings=st.integers(0, 6), seed=seeds)
def test_sum_log_rows_is_the_sum_of_the_logs(dtype, shape, halvings, seed):
    r = (1 + np.random.default_rng(seed).random(shape)).astype(dtype)     # 1 + e, e in [0, 1)
    want = np.log(r.astype(np.float64)).sum(axis=1)
    got = reference.sum_log_rows(r.copy(), halvings=halvings)
    assert got.dtype == np.dtype(dtype) and got.shape == shape[:1]
    assert max_rel(got, want, np.abs(want) + 1) <= TOL_LECTURE[dtype]     # every column counted once


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("act", reference.ACTS)
@hyp
@given(shape=shapes, seed=seeds)
def test_bias_act_forward_and_backward_match_lecture(dtype, act, shape, seed):
    rng = np.random.default_rng(seed)
    n, d = shape
    x = rng.standard_normal((n, 5)).astype(dtype)
    W = rng.standard_normal((5, d)).astype(dtype)
    b = rng.standard_normal(d).astype(dtype)
    a = x @ W
    forward, backward = get_activation(act)
    y_lecture, cache = forward(dense_forward(x, W, b)[0])
    y = reference.bias_act_forward(a, b, act)
    assert y.dtype == np.dtype(dtype)
    assert max_rel(y, y_lecture) <= TOL_LECTURE[dtype]
    dy = rng.standard_normal((n, d)).astype(dtype)
    dy_before = dy.copy()
    dx = reference.act_backward(dy, y, act)
    np.testing.assert_array_equal(dy, dy_before)                            # the upstream gradient is not written
    assert max_rel(dx, backward(dy, cache), dx_scale(dy)) <= TOL_LECTURE[dtype]
    assert reference.bias_act_forward(a, b, act, out=a) is a                # in place when asked
    assert max_rel(a, y) == 0


def adam_textbook(p, g, m, v, lr, beta1, beta2, eps, t):
    """Kingma & Ba (2015), Algorithm 1, in float64: returns new (p, m, v)."""
    p, g, m, v = (np.asarray(a, dtype=np.float64) for a in (p, g, m, v))
    m = beta1 * m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * g * g
    m_hat, v_hat = m / (1 - beta1**t), v / (1 - beta2**t)
    return p - lr * m_hat / (np.sqrt(v_hat) + eps), m, v


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("ops", [reference, cpu], ids=["reference", "cpu (BLAS)"])
@hyp
@given(shape=shapes, seed=seeds, t=st.integers(1, 1000))
def test_adam_update_matches_textbook(ops, dtype, shape, seed, t):
    p, g, m, v = adam_inputs(np.random.default_rng(seed), shape, dtype)
    hyper = dict(lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, t=t)
    want = adam_textbook(p, g, m, v, **hyper)
    scales = adam_error_scales(p, g, m, v, **hyper)
    g_before = g.copy()
    ops.adam_update(p, g, m, v, **hyper)
    np.testing.assert_array_equal(g, g_before)                              # g is read only
    tol = {"float32": 1e-6, "float64": 1e-12}[dtype]
    for got, exp, scale in zip((p, m, v), want, scales):
        assert got.dtype == np.dtype(dtype)
        assert max_rel(got, exp, scale) <= tol


def adam_error_scales(p, g, m, v, lr, beta1, beta2, eps, t):
    """The magnitude each of (p, m, v) is rounded at: the sum of its terms' sizes.

    m = b1 m + (1 - b1) g cancels when the two terms are close, so its error
    is measured against b1 |m| + (1 - b1) |g|, and p - step against |p| plus
    the step that such an m would make.
    """
    p, g, m, v = (host64(a) for a in (p, g, m, v))
    m_scale = beta1 * np.abs(m) + (1 - beta1) * np.abs(g)
    v_new = beta2 * v + (1 - beta2) * g * g
    step = lr * m_scale / (1 - beta1**t) / (np.sqrt(v_new / (1 - beta2**t)) + eps)
    return np.abs(p) + step, m_scale, v_new


def sgd_textbook(p, g, b, lr, momentum):
    """b <- momentum b + g, p <- p - lr b (b untouched without momentum), in float64: returns new (p, b)."""
    p, g, b = (np.asarray(a, dtype=np.float64) for a in (p, g, b))
    if momentum:
        b = momentum * b + g
        return p - lr * b, b
    return p - lr * g, b


def rmsprop_textbook(p, g, r, lr, rho, eps):
    """r <- rho r + (1 - rho) g^2, p <- p - lr g / (sqrt(r) + eps), in float64: returns new (p, r)."""
    p, g, r = (np.asarray(a, dtype=np.float64) for a in (p, g, r))
    r = rho * r + (1 - rho) * g * g
    return p - lr * g / (np.sqrt(r) + eps), r


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("momentum", [0.0, 0.9])
@pytest.mark.parametrize("ops", [reference, cpu], ids=["reference", "cpu (BLAS)"])
@hyp
@given(shape=shapes, seed=seeds)
def test_sgd_and_rmsprop_updates_match_textbook(ops, momentum, dtype, shape, seed):
    """Error measured against the sizes of the terms: |p| + lr |b| (SGD), |p| + lr |g| / sqrt(r) and r (RMSProp)."""
    p, g, s, _ = adam_inputs(np.random.default_rng(seed), shape, dtype)
    s = np.abs(s)                                   # a momentum buffer, or a mean square r >= 0
    tol = {"float32": 1e-6, "float64": 1e-12}[dtype]
    g_before = g.copy()
    p_want, b_want = sgd_textbook(p, g, s, 0.1, momentum)
    p1, b1 = p.copy(), s.copy()
    ops.sgd_update(p1, g, b1, 0.1, momentum)
    assert max_rel(p1, p_want, np.abs(p_want) + 0.1 * (np.abs(b_want) + np.abs(g))) <= tol
    assert max_rel(b1, b_want, np.abs(b_want) + np.abs(g)) <= tol
    p_want, r_want = rmsprop_textbook(p, g, s, 1e-3, 0.9, 1e-8)
    p2, r2 = p.copy(), s.copy()
    ops.rmsprop_update(p2, g, r2, 1e-3, 0.9, 1e-8, work=np.empty_like(p))
    assert max_rel(r2, r_want) <= tol
    assert max_rel(p2, p_want, np.abs(p) + 1e-3 * np.abs(g) / (np.sqrt(r_want) + 1e-8)) <= tol
    np.testing.assert_array_equal(g, g_before)                              # g is read only
    assert p1.dtype == b1.dtype == p2.dtype == r2.dtype == np.dtype(dtype)


def test_cpu_module_has_the_reference_signatures():
    import inspect

    for name in cpu.__all__:
        assert inspect.signature(getattr(cpu, name)) == inspect.signature(getattr(reference, name)), name


def test_bernoulli_reference_is_finite_for_extreme_logits():
    logits = np.array([[-1e30, -100.0, 0.0, 100.0, 1e30]], dtype=np.float32)
    x = np.array([[0.0, 1.0, 0.5, 0.0, 1.0]], dtype=np.float32)
    nll, dlogits = reference.bernoulli_nll_grad(x, logits, 1.0)
    assert np.isfinite(nll).all() and np.isfinite(dlogits).all()
    np.testing.assert_allclose(dlogits, [[0, -1, 0, 1, 0]], atol=1e-7)


# ====================================================== CPU: cuda.py without a GPU
def test_importing_cuda_module_neither_imports_cupy_nor_compiles():
    code = "import sys, minivae.backend.kernels.cuda as c; assert 'cupy' not in sys.modules; print(c._module.cache_info().currsize)"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "0"


def test_cuda_module_has_the_reference_signatures():
    import inspect

    for name in ("reparam_kl_forward", "reparam_kl_backward", "bernoulli_nll_grad", "gaussian_nll_grad",
                 "bias_act_forward", "act_backward", "adam_update", "sgd_update", "rmsprop_update"):
        assert inspect.signature(getattr(cuda, name)) == inspect.signature(getattr(reference, name)), name


def test_layout_checks_say_what_is_wrong():
    a = np.ones((4, 3), dtype=np.float32)
    assert cuda._check_layout("op", a=a, b=np.ones(3, np.float32)) == np.float32
    with pytest.raises(ShapeError, match="not C-contiguous.*ascontiguousarray"):
        cuda._check_layout("op", W=a.T)
    with pytest.raises(DataError, match="float64, expected float32"):
        cuda._check_layout("op", a=a, b=np.ones(3))
    with pytest.raises(DataError, match="expected float32 or float64"):
        cuda._check_layout("op", a=np.ones(3, dtype=np.int64))
    with pytest.raises(ConfigError, match="unknown activation"):
        cuda._act_code("op", "gelu")


def test_scalars_are_passed_in_the_array_dtype():
    s = cuda._scalar("op", "scale", 1 / 3, np.dtype(np.float32))
    assert type(s) is np.float32 and s == np.float32(1 / 3)
    scalars = cuda._adam_scalars(np.dtype(np.float32), 1e-3, 0.9, 0.999, 1e-8, 5)
    assert all(type(x) is np.float32 for x in scalars)


# ========================================================= GPU: kernels vs references
ROW_SHAPES = [(1, 1), (3, 20), (128, 20), (4096, 20), (5, 33), (2, 300), (7, 784), (4096, 784)]


def to_gpu(*arrays):
    import cupy

    return [cupy.asarray(a) for a in arrays]


@gpu
@pytest.mark.gpu
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", ROW_SHAPES)
def test_cuda_reparam_kl_forward(dtype, shape):
    mu, logvar, eps, _ = latent_inputs(np.random.default_rng(1), *shape, dtype)
    z_ref, kl_ref = reference.reparam_kl_forward(mu, logvar, eps)
    z, kl = cuda.reparam_kl_forward(*to_gpu(mu, logvar, eps))
    assert z.dtype == kl.dtype == np.dtype(dtype) and kl.shape == shape[:1]
    assert max_rel(z, z_ref, z_scale(mu, logvar, eps)) <= TOL_KERNEL[dtype]
    assert max_rel(kl, kl_ref, kl_scale(mu, logvar)) <= TOL_KERNEL[dtype]


@gpu
@pytest.mark.gpu
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", ROW_SHAPES)
@pytest.mark.parametrize("weight", ["python", "numpy", "vector", "device0d"])
def test_cuda_reparam_kl_backward(dtype, shape, weight):
    import cupy

    rng = np.random.default_rng(2)
    mu, logvar, eps, dz = latent_inputs(rng, *shape, dtype)
    n, d = shape
    w_vec = (rng.uniform(0.5, 2, d) / n).astype(dtype)
    w = {"python": 1.5 / n, "numpy": np.dtype(dtype).type(1.5 / n), "vector": w_vec,
         "device0d": cupy.asarray(np.dtype(dtype).type(1.5 / n))}[weight]
    w_host = w_vec if weight == "vector" else np.dtype(dtype).type(1.5 / n)
    dmu_ref, dlogvar_ref = reference.reparam_kl_backward(dz, mu, logvar, eps, w_host)
    args = to_gpu(dz, mu, logvar, eps)
    dmu, dlogvar = cuda.reparam_kl_backward(*args, cupy.asarray(w) if weight == "vector" else w)
    for before, after in zip((dz, mu, logvar, eps), args):
        np.testing.assert_array_equal(before, after.get())                  # nothing mutated
    assert max_rel(dmu, dmu_ref, dmu_scale(dz, mu, w_host)) <= TOL_KERNEL[dtype]
    assert max_rel(dlogvar, dlogvar_ref, dlogvar_scale(dz, logvar, eps, w_host)) <= TOL_KERNEL[dtype]


@gpu
@pytest.mark.gpu
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", ROW_SHAPES)
def test_cuda_bernoulli_nll_grad(dtype, shape):
    x, logits = pixel_inputs(np.random.default_rng(3), *shape, dtype)
    scale = 1.0 / shape[0]                                                  # a Python float on purpose
    nll_ref, dlogits_ref = reference.bernoulli_nll_grad(x, logits, scale)
    nll, dlogits = cuda.bernoulli_nll_grad(*to_gpu(x, logits), scale)
    assert bool(np.isfinite(nll.get()).all() and np.isfinite(dlogits.get()).all())
    assert max_rel(nll, nll_ref, nll_scale(x, logits)) <= TOL_KERNEL[dtype]
    assert max_rel(dlogits, dlogits_ref, dlogits_scale(x, scale)) <= TOL_KERNEL[dtype]


@gpu
@pytest.mark.gpu
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("learned", [False, True], ids=["fixed variance", "learned variance"])
@pytest.mark.parametrize("shape", ROW_SHAPES)
def test_cuda_gaussian_nll_grad(dtype, learned, shape):
    x, mean, logvar = gaussian_inputs(np.random.default_rng(5), *shape, dtype, learned)
    scale = 1.0 / shape[0]
    nll_ref, dmean_ref, dlogvar_ref = reference.gaussian_nll_grad(x, mean, logvar, scale)
    lv = to_gpu(logvar)[0] if learned else logvar
    nll, dmean, dlogvar = cuda.gaussian_nll_grad(*to_gpu(x, mean), lv, scale)
    nll_s, dmean_s, dlogvar_s = gaussian_scales(x, mean, logvar)
    assert max_rel(nll, nll_ref, nll_s) <= TOL_KERNEL[dtype]
    assert max_rel(dmean, dmean_ref, scale * dmean_s) <= TOL_KERNEL[dtype]
    if learned:
        assert max_rel(dlogvar, dlogvar_ref, scale * dlogvar_s) <= TOL_KERNEL[dtype]
    else:
        assert dlogvar is None


@gpu
@pytest.mark.gpu
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("act", reference.ACTS)
@pytest.mark.parametrize("shape", [(1, 1), (33, 7), (128, 400), (4096, 400), (4096, 784)])
def test_cuda_bias_act_forward_and_backward(dtype, act, shape):
    rng = np.random.default_rng(4)
    a = (2 * rng.standard_normal(shape)).astype(dtype)
    b = rng.standard_normal(shape[1]).astype(dtype)
    dy = rng.standard_normal(shape).astype(dtype)
    y_ref = reference.bias_act_forward(a, b, act)
    dx_ref = reference.act_backward(dy, y_ref, act)
    a_d, b_d, dy_d, y_ref_d = to_gpu(a, b, dy, y_ref)
    assert max_rel(cuda.bias_act_forward(a_d, b_d, act), y_ref) <= TOL_KERNEL[dtype]
    assert max_rel(cuda.act_backward(dy_d, y_ref_d, act), dx_ref, dx_scale(dy)) <= TOL_KERNEL[dtype]
    np.testing.assert_array_equal(dy_d.get(), dy)                           # dy not written
    assert cuda.bias_act_forward(a_d, b_d, act, out=a_d) is a_d              # in place when asked
    assert max_rel(a_d, y_ref) <= TOL_KERNEL[dtype]
    assert cuda.act_backward(dy_d, y_ref_d, act, out=dy_d) is dy_d
    assert max_rel(dy_d, dx_ref, dx_scale(dy)) <= TOL_KERNEL[dtype]


@gpu
@pytest.mark.gpu
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("t", [1, 7, 1000])
@pytest.mark.parametrize("shape", [(1,), (20,), (400, 784), (784,)])
def test_cuda_adam_update_same_results_and_side_effects(dtype, t, shape):
    p, g, m, v = adam_inputs(np.random.default_rng(5), shape, dtype)
    hyper = dict(lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, t=t)
    p_d, g_d, m_d, v_d = to_gpu(p, g, m, v)
    reference.adam_update(p, g, m, v, **hyper)
    assert cuda.adam_update(p_d, g_d, m_d, v_d, **hyper) is None
    np.testing.assert_array_equal(g_d.get(), g)                             # g is read only
    for got, want in ((p_d, p), (m_d, m), (v_d, v)):
        assert max_rel(got, want) <= TOL_KERNEL[dtype]


@gpu
@pytest.mark.gpu
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_cuda_sgd_and_rmsprop_updates_same_results_and_side_effects(dtype, momentum):
    p, g, s, _ = adam_inputs(np.random.default_rng(6), (400, 784), dtype)
    s = np.abs(s)
    p_d, g_d, b_d, r_d = to_gpu(p, g, s, s)
    p2, b = p.copy(), s.copy()
    cuda.sgd_update(p_d, g_d, b_d, 0.1, momentum)
    reference.sgd_update(p, g, b, 0.1, momentum)
    assert max_rel(p_d, p) <= TOL_KERNEL[dtype] and max_rel(b_d, b) <= TOL_KERNEL[dtype]
    p2_d = to_gpu(p2)[0]
    cuda.rmsprop_update(p2_d, g_d, r_d, 1e-3, 0.9, 1e-8)
    reference.rmsprop_update(p2, g, s, 1e-3, 0.9, 1e-8)
    assert max_rel(p2_d, p2) <= TOL_KERNEL[dtype] and max_rel(r_d, s) <= TOL_KERNEL[dtype]
    np.testing.assert_array_equal(g_d.get(), g)                             # g is read only


@gpu
@pytest.mark.gpu
@pytest.mark.parametrize("dtype", DTYPES)
def test_cuda_adam_update_multi_matches_one_call_per_tensor(dtype):
    rng = np.random.default_rng(6)
    shapes = [(784, 400), (400,), (400, 20), (20,), (400, 20), (20,), (20, 400), (400,), (400, 784), (784,)]
    host = [adam_inputs(rng, s, dtype) for s in shapes]
    dev = [to_gpu(*arrays) for arrays in host]
    for step in (1, 2, 3):                                                  # the cached table is reused
        hyper = dict(lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, t=step)
        for p, g, m, v in host:
            reference.adam_update(p, g, m, v, **hyper)
        cuda.adam_update_multi(*zip(*dev), **hyper)
    for (p, g, m, v), (p_d, g_d, m_d, v_d) in zip(host, dev):
        np.testing.assert_array_equal(g_d.get(), g)
        for got, want in ((p_d, p), (m_d, m), (v_d, v)):
            assert max_rel(got, want) <= TOL_KERNEL[dtype]


@gpu
@pytest.mark.gpu
def test_cuda_kernels_check_arguments_before_launch():
    import cupy

    a = cupy.ones((4, 3), dtype=cupy.float32)
    b = cupy.ones(3, dtype=cupy.float32)
    with pytest.raises(ShapeError, match="not C-contiguous"):
        cuda.bias_act_forward(cupy.ones((3, 4), dtype=cupy.float32).T, b, "relu")
    with pytest.raises(DataError, match="dtype float64"):
        cuda.bias_act_forward(a, b.astype(cupy.float64), "relu")
    with pytest.raises(DataError, match="CuPy array"):
        cuda.act_backward(np.ones((4, 3), np.float32), a, "relu")
    with pytest.raises(ShapeError, match=r"b has shape \(4,\), expected \(3,\)"):
        cuda.bias_act_forward(a, cupy.ones(4, dtype=cupy.float32), "relu")
    with pytest.raises(ConfigError, match="unknown activation"):
        cuda.bias_act_forward(a, b, "gelu")
    with pytest.raises(ShapeError, match="kl_weight"):
        cuda.reparam_kl_backward(a, a, a, a, cupy.ones(5, dtype=cupy.float32))
    with pytest.raises(DataError, match="host number"):
        cuda.bernoulli_nll_grad(a, a, cupy.float32(1) * cupy.ones(()))
    with pytest.raises(ShapeError, match="expected as many"):
        cuda.adam_update_multi([a], [a], [], [a], 1e-3, 0.9, 0.999, 1e-8, 1)


@gpu
@pytest.mark.gpu
def test_cuda_kernels_compile_lazily_and_once():
    cuda._module.cache_clear()
    assert cuda._module.cache_info().currsize == 0
    import cupy

    a = cupy.ones((2, 3), dtype=cupy.float32)
    cuda.act_backward(a, a, "tanh")
    cuda.act_backward(a, a, "relu")
    cuda.bias_act_forward(a, a[0].copy(), "relu")
    assert cuda._module.cache_info().currsize == 1                          # bias_act.cu only


# ============================ CPU: every launch passes what its kernel's signature declares
def kernel_signatures():
    """{kernel name: [C parameter types]} parsed from the extern "C" entry points of the .cu files."""
    import re

    sigs = {}
    for filename in cuda.SOURCES:
        for name, params in re.findall(r"__global__\s+void\s+(\w+)\s*\(([^)]*)\)", cuda.cuda_source(filename)):
            sigs[name] = [" ".join(p.split()[:-1]).replace(" *", "*") for p in params.split(",")]
    return sigs


C_TYPES = {  # C parameter type -> what the launch must pass (array dtype, or NumPy scalar type)
    "const float*": ("array", np.float32), "float*": ("array", np.float32),
    "const double*": ("array", np.float64), "double*": ("array", np.float64),
    "const unsigned long long*": ("array", np.uint64), "const int*": ("array", np.int32),
    "int": ("scalar", np.int32), "float": ("scalar", np.float32), "double": ("scalar", np.float64),
}


@pytest.fixture
def recorded_launches(monkeypatch):
    """Run cuda.py's host code on NumPy arrays; record each launch instead of running it."""
    import types

    fake_cupy = types.SimpleNamespace(ndarray=np.ndarray, empty=np.empty, asarray=np.asarray)
    monkeypatch.setitem(sys.modules, "cupy", fake_cupy)
    monkeypatch.setattr(cuda, "_address", lambda a: a.ctypes.data)
    cuda._adam_table.cache_clear()
    launches = []

    def fake_kernel(name, dtype):
        def launch(grid, block, args):
            launches.append((f"{name}_{cuda._SUFFIX[np.dtype(dtype)]}", grid, block, args))
        return launch

    monkeypatch.setattr(cuda, "_kernel", fake_kernel)
    yield launches
    cuda._adam_table.cache_clear()


@pytest.mark.parametrize("dtype", DTYPES)
def test_every_launch_matches_its_kernel_signature(recorded_launches, dtype):
    rng = np.random.default_rng(0)
    f = np.dtype(dtype).type
    n, d = 37, 20
    mu, logvar, eps, dz = latent_inputs(rng, n, d, dtype)
    x, logits = pixel_inputs(rng, n, 300, dtype)
    cuda.reparam_kl_forward(mu, logvar, eps)
    for w in (0.5, f(0.5), np.full(d, 0.5, dtype=dtype), np.asarray(f(0.5))):
        cuda.reparam_kl_backward(dz, mu, logvar, eps, w)
    cuda.bernoulli_nll_grad(x, logits, 1 / n)
    cuda.gaussian_nll_grad(x, logits, 0.5, 1 / n)
    cuda.gaussian_nll_grad(x, logits, np.zeros(300, dtype=dtype), 1 / n)
    for act in reference.ACTS:
        cuda.bias_act_forward(mu, logvar[0].copy(), act)
        cuda.act_backward(dz, mu, act)
    p, g, m, v = adam_inputs(rng, (5, 3), dtype)
    cuda.adam_update(p, g, m, v, 1e-3, 0.9, 0.999, 1e-8, 3)
    cuda.adam_update_multi([p, mu], [g, dz], [m, eps], [v, logvar], 1e-3, 0.9, 0.999, 1e-8, 3)

    sigs = kernel_signatures()
    launched = {name for name, *_ in recorded_launches}
    assert launched == {k for k in sigs if k.endswith("_f32" if dtype == "float32" else "_f64")}
    for name, grid, block, args in recorded_launches:
        assert len(args) == len(sigs[name]), name
        for i, (ctype, arg) in enumerate(zip(sigs[name], args)):
            kind, want = C_TYPES[ctype]
            if kind == "array":
                assert isinstance(arg, np.ndarray) and arg.dtype == want and arg.flags.c_contiguous, (name, i)
            else:
                assert type(arg) is want, (name, i, ctype, type(arg))      # never a Python float or int
        assert len(grid) == len(block) == 1 and 1 <= grid[0] < 2**31 and block[0] % 32 == 0, name
        assert 32 <= block[0] <= 1024, name
        if name.startswith("reparam_kl_forward"):                      # one warp per row covers every row
            assert grid[0] * block[0] // 32 >= args[-2]
        if name.startswith(("bernoulli_nll_grad", "gaussian_nll_grad")):     # one block per row
            assert grid[0] == n
        if name.startswith("gaussian_dlogvar"):                         # one thread per pixel
            assert grid[0] * block[0] >= 300


def test_adam_multi_table_holds_addresses_and_offsets(recorded_launches):
    ps = [np.ones(s, np.float32) for s in ((3, 4), (5,), (2, 2))]
    trio = [[np.ones_like(p) for p in ps] for _ in range(3)]
    cuda.adam_update_multi(ps, *trio, 1e-3, 0.9, 0.999, 1e-8, 1)
    (_, _, _, args), = recorded_launches
    ptrs, offsets, k, total = args[:4]
    assert k == 3 and total == 12 + 5 + 4
    np.testing.assert_array_equal(offsets, [0, 12, 17, 21])
    assert list(ptrs) == [a.ctypes.data for a in (*ps, *trio[0], *trio[1], *trio[2])]


def test_kernels_return_what_the_reference_returns(recorded_launches):
    mu, logvar, eps, dz = latent_inputs(np.random.default_rng(1), 4, 3, "float32")
    z, kl = cuda.reparam_kl_forward(mu, logvar, eps)
    assert z.shape == (4, 3) and kl.shape == (4,) and z.dtype == kl.dtype == np.float32
    out = np.empty_like(mu)
    assert cuda.bias_act_forward(mu, logvar[0].copy(), "tanh", out=out) is out
    assert cuda.act_backward(dz, mu, "relu", out=dz) is dz
    with pytest.raises(ShapeError, match=r"z has shape \(3, 3\)"):
        cuda.reparam_kl_forward(mu, logvar, eps, z=np.empty((3, 3), np.float32))
    with pytest.raises(ShapeError, match="kl_weight has shape"):
        cuda.reparam_kl_backward(dz, mu, logvar, eps, np.ones(4, np.float32))
    with pytest.raises(ShapeError, match="not C-contiguous"):
        cuda.reparam_kl_forward(mu, logvar, np.asfortranarray(eps))
