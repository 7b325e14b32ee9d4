"""The model on every backend: NumPy always, CuPy where CuPy and a CUDA device are present.

A test parametrized over ``backend`` runs once per backend; the CuPy case is
skipped with the reason ("CuPy not installed (...)" or "no CUDA device (...)").
The CuPy backend must give the NumPy backend's numbers for the same weights
and the same eps: float64 to about 1e-12 (only the order of sums in matrix
products and reductions differs), float32 to about 1e-6 of each array's scale.
On the NumPy backend itself that comparison would be NumPy against NumPy (its
fused ops are the references), so its case compares with an independent
reference instead: the model and Adam written out in float64 below, or a
closed form. The BackendError tests run everywhere, simulating a missing CuPy or GPU.
"""
import sys
import types
from types import SimpleNamespace

import numpy as np
import pytest

from minivae import VAE, Adam, get_backend, use_backend
from minivae.backend import Backend
from minivae.errors import BackendError
from minivae.backend.cupy_backend import CupyBackend, gpu_unavailable_reason
from minivae.backend.kernels import reference

GPU_REASON = gpu_unavailable_reason()
BACKENDS = ["numpy", pytest.param("cupy", marks=[pytest.mark.gpu,
                                                   pytest.mark.skipif(GPU_REASON is not None, reason=str(GPU_REASON))])]
needs_gpu = pytest.mark.skipif(GPU_REASON is not None, reason=str(GPU_REASON))

SMALL = dict(input_dim=30, hidden_dims=(16,), latent_dim=4)          # fast on the CPU
PYTORCH_EXAMPLES = dict(input_dim=784, hidden_dims=(400,), latent_dim=20, activation="relu",
                        likelihood="bernoulli")


def host(a):
    return a.get() if hasattr(a, "get") else np.asarray(a)


def max_rel(a, b):
    """max|a - b| / max|b| over the array, in float64 on the host."""
    a, b = host(a).astype(np.float64), host(b).astype(np.float64)
    scale = np.max(np.abs(b))
    return float(np.max(np.abs(a - b)) / scale) if scale > 0 else float(np.max(np.abs(a - b)))


def batch(n, d, seed, dtype):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, (n, d))
    x[rng.uniform(size=(n, d)) < 0.3] = 0                      # MNIST-like: many exact zeros
    return x.astype(dtype)


def eps_for(model, n, seed):
    return np.random.default_rng(seed).standard_normal((n, model.config.latent_dim)).astype(model.dtype)


def train_steps(backend, dtype, steps, arch=SMALL, n=16, seed=0):
    """`steps` Adam steps with fixed data and eps; returns the model, its optimizer and the last losses."""
    model = VAE(**arch, dtype=dtype, seed=seed, backend=backend)
    opt = Adam(model.params, lr=1e-3)
    out = None
    for t in range(steps):
        x = batch(n, model.config.input_dim, 100 + t, dtype)
        out = model.loss(x, eps=eps_for(model, n, 200 + t))
        opt.step(model.backward())
    return model, opt, out


def by_hand(params, x, eps):
    """Loss dict and gradients of the default VAE (ReLU MLPs, Bernoulli decoder, beta = 1), written out in
    float64 from the weights: a reference that shares no code with either backend."""
    P = {k: np.asarray(v, np.float64) for k, v in params.items()}
    x, eps = np.asarray(x, np.float64), np.asarray(eps, np.float64)
    n, depth = x.shape[0], sum(k.startswith("encoder.") and k.endswith(".W") for k in P)
    hs = [x]
    for i in range(depth):
        hs.append(np.maximum(hs[-1] @ P[f"encoder.{i}.W"] + P[f"encoder.{i}.b"], 0))
    mu, logvar = hs[-1] @ P["mu.W"] + P["mu.b"], hs[-1] @ P["logvar.W"] + P["logvar.b"]
    sigma = np.exp(logvar / 2)
    gs = [mu + sigma * eps]                                        # the decoder's layer inputs, z first
    for i in range(depth):
        gs.append(np.maximum(gs[-1] @ P[f"decoder.{i}.W"] + P[f"decoder.{i}.b"], 0))
    logits = gs[-1] @ P[f"decoder.{depth}.W"] + P[f"decoder.{depth}.b"]
    nll = (np.logaddexp(0, logits) - x * logits).sum(axis=1)
    kl = 0.5 * (mu**2 + sigma**2 - logvar - 1).sum(axis=1)
    G, d = {}, (1 / (1 + np.exp(-logits)) - x) / n                # d loss / d logits
    for i in reversed(range(depth + 1)):
        G[f"decoder.{i}.W"], G[f"decoder.{i}.b"] = gs[i].T @ d, d.sum(axis=0)
        d = (d @ P[f"decoder.{i}.W"].T) * (gs[i] > 0 if i else 1)
    dmu, dlogvar = d + mu / n, 0.5 * (d * eps * sigma + (sigma**2 - 1) / n)
    G["mu.W"], G["mu.b"] = hs[-1].T @ dmu, dmu.sum(axis=0)
    G["logvar.W"], G["logvar.b"] = hs[-1].T @ dlogvar, dlogvar.sum(axis=0)
    d = dmu @ P["mu.W"].T + dlogvar @ P["logvar.W"].T
    for i in reversed(range(depth)):
        d = d * (hs[i + 1] > 0)
        G[f"encoder.{i}.W"], G[f"encoder.{i}.b"] = hs[i].T @ d, d.sum(axis=0)
        d = d @ P[f"encoder.{i}.W"].T
    return {"loss": (nll + kl).mean(), "recon": nll.mean(), "kl": kl.mean()}, G


def train_by_hand(dtype, steps, arch=SMALL, n=16, seed=0, lr=1e-3, b1=0.9, b2=0.999, eps=1e-8):
    """`train_steps` in float64 from the same initial weights, data and eps: by_hand, then Adam's Algorithm 1."""
    model = VAE(**arch, dtype=dtype, seed=seed)
    P = {k: v.astype(np.float64) for k, v in model.state_arrays().items()}
    m, v = ({k: np.zeros_like(p) for k, p in P.items()} for _ in range(2))
    for t in range(1, steps + 1):
        x = batch(n, model.config.input_dim, 100 + t - 1, dtype)
        out, G = by_hand(P, x, eps_for(model, n, 200 + t - 1))
        for k, g in G.items():
            m[k] = b1 * m[k] + (1 - b1) * g
            v[k] = b2 * v[k] + (1 - b2) * g**2
            P[k] = P[k] - lr * (m[k] / (1 - b1**t)) / (np.sqrt(v[k] / (1 - b2**t)) + eps)
    return SimpleNamespace(params=P, grads=G, m=m, v=v, out=out)


def reference_run(backend, dtype, steps, arch=SMALL, n=16):
    """What `train_steps` on `backend` must give: for CuPy, the NumPy backend's run; for NumPy, `train_by_hand`."""
    if backend.name == "numpy":
        return train_by_hand(dtype, steps, arch, n)
    model, opt, out = train_steps("numpy", dtype, steps, arch, n)
    return SimpleNamespace(params=model.state_arrays(), grads=model.grads, m=opt.m, v=opt.v, out=out)


@pytest.fixture(params=BACKENDS)
def backend(request):
    return get_backend(request.param)


# ------------------------------------------------------------- every backend
def test_backend_object(backend):
    assert backend.name in ("numpy", "cupy")
    a = backend.asarray(np.arange(6, dtype=np.float32).reshape(2, 3))
    assert type(a).__module__.split(".")[0] == backend.xp.__name__
    back = backend.to_numpy(a)
    assert isinstance(back, np.ndarray) and back.dtype == np.float32
    np.testing.assert_array_equal(back, np.arange(6).reshape(2, 3))
    backend.synchronize()
    draws = backend.default_rng(3).standard_normal((2, 3), dtype=np.float32)
    assert draws.dtype == np.float32 and type(draws).__module__.split(".")[0] == backend.xp.__name__
    assert backend.ops.__name__ == ("minivae.backend.kernels.numpy_ops" if backend.name == "numpy"
                                    else "minivae.backend.kernels.cuda")


def test_model_params_grads_and_state_live_on_the_backend(backend):
    model, opt, _ = train_steps(backend, "float32", 1)
    for name, p in model.params.items():
        assert type(p).__module__.split(".")[0] == backend.xp.__name__, name
        assert type(model.grads[name]) is type(p) and model.grads[name].shape == p.shape
        assert type(opt.m[name]) is type(p) and type(opt.v[name]) is type(p)
        assert p.dtype == np.float32
    arrays = model.state_arrays()
    assert all(isinstance(a, np.ndarray) for a in arrays.values())
    assert opt.backend.name == backend.name and opt.backend.ops is backend.ops   # Adam's update: the model's ops


@needs_gpu
@pytest.mark.gpu
def test_same_initial_weights_on_every_backend():
    """CuPy's initial weights are NumPy's (drawn on the host). Only CuPy's case: NumPy's would compare
    NumPy with itself; what the seed draws there is not a property of a backend."""
    ref = VAE(**SMALL, seed=7, backend="numpy").state_arrays()
    got = VAE(**SMALL, seed=7, backend="cupy").state_arrays()
    for name in ref:
        np.testing.assert_array_equal(got[name], ref[name])


@pytest.mark.parametrize("steps", [1, 3])
def test_training_steps_match_numpy_float64(backend, steps):
    """Loss, grads, Adam state and parameters after each step: same as NumPy's to 1e-10 in float64
    (NumPy's case: the same as the model and Adam written out by hand in float64, `train_by_hand`)."""
    ref = reference_run(backend, "float64", steps)
    model, opt, out = train_steps(backend, "float64", steps)
    for key in ("loss", "recon", "kl"):
        assert max_rel(out[key], ref.out[key]) <= 1e-12, key
    for name in ref.params:
        assert max_rel(model.grads[name], ref.grads[name]) <= 1e-10, name
        assert max_rel(opt.m[name], ref.m[name]) <= 1e-10, name
        assert max_rel(opt.v[name], ref.v[name]) <= 1e-10, name
        assert max_rel(model.params[name], ref.params[name]) <= 1e-10, name


def test_training_step_matches_numpy_float32_pytorch_examples_config(backend):
    """784-400-20 ReLU Bernoulli at batch 128, float32: loss and grads to about 1e-6 of their scale.

    At t = 1 Adam moves a parameter by lr * g / (|g| + eps), about lr * sign(g),
    so a gradient within rounding of 0 may step either way on different
    hardware. The step is compared where |g| > 1e-3 of the array's largest
    (the gradients agree to 1e-4 of it, so the sign is sure; seen: 96-100% of
    the entries): to 1e-3 lr there (seen: 1e-5 lr), and downhill; elsewhere only |step| <= lr.
    """
    lr = 1e-3
    ref = reference_run(backend, "float32", 1, PYTORCH_EXAMPLES, n=128)
    start = VAE(**PYTORCH_EXAMPLES, dtype="float32", seed=0).state_arrays()
    model, _, out = train_steps(backend, "float32", 1, PYTORCH_EXAMPLES, n=128)
    assert max_rel(out["loss"], ref.out["loss"]) <= 1e-5
    for name in ref.params:
        g = host(ref.grads[name]).astype(np.float64)
        assert max_rel(model.grads[name], g) <= 1e-4, name
        p, p_ref = host(model.params[name]).astype(np.float64), host(ref.params[name]).astype(np.float64)
        sure = np.abs(g) > 1e-3 * np.abs(g).max()
        assert sure.mean() > 0.9, name
        np.testing.assert_allclose(p[sure], p_ref[sure], rtol=0, atol=1e-3 * lr, err_msg=name)
        assert np.all(np.sign(p - start[name])[sure] == -np.sign(g[sure])), name       # downhill
        assert np.max(np.abs(p - start[name])) <= lr * (1 + 1e-4), name


def test_inference_on_every_backend(backend):
    model = VAE(**SMALL, seed=1, backend=backend)
    x = batch(5, SMALL["input_dim"], 9, "float32")
    mu, logvar = model.encode(x)
    assert mu.shape == logvar.shape == (5, SMALL["latent_dim"])
    x_hat = model.reconstruct(x)
    samples = model.sample(3)
    for a in (mu, x_hat, samples):
        assert type(a).__module__.split(".")[0] == backend.xp.__name__
    if backend.name == "numpy":                            # decode(mu(x)) written out in float64
        P = {k: np.asarray(v, np.float64) for k, v in model.state_arrays().items()}
        h = np.maximum(x @ P["encoder.0.W"] + P["encoder.0.b"], 0) @ P["mu.W"] + P["mu.b"]
        want = 1 / (1 + np.exp(-(np.maximum(h @ P["decoder.0.W"] + P["decoder.0.b"], 0) @ P["decoder.1.W"]
                                 + P["decoder.1.b"])))
    else:
        want = VAE(**SMALL, seed=1, backend="numpy").reconstruct(x)
    assert max_rel(x_hat, want) <= 1e-6


def test_checkpoint_round_trip_across_backends(backend, tmp_path):
    model, _, _ = train_steps(backend, "float32", 2)
    model.save(tmp_path / "m.npz")
    for other in ("numpy", backend):
        loaded = VAE.load(tmp_path / "m.npz", backend=other)
        for name, a in model.state_arrays().items():
            np.testing.assert_array_equal(loaded.state_arrays()[name], a)


def test_use_backend_sets_the_default(backend):
    with use_backend(backend):
        assert VAE(**SMALL).backend.name == backend.name
    assert VAE(**SMALL).backend.name == "numpy"


# ------------------------------------------------------- fused ops through backend.ops
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_backend_ops_give_the_reference_numbers(backend, dtype):
    """CuPy's fused op against the NumPy reference; NumPy's (the reference itself) against the closed form."""
    rng = np.random.default_rng(0)
    mu, logvar, eps = (rng.standard_normal((64, 20)).astype(dtype) for _ in range(3))
    if backend.name == "numpy":
        m, lv, e = (a.astype(np.float64) for a in (mu, logvar, eps))
        z_ref, kl_ref = m + np.exp(lv / 2) * e, 0.5 * (m**2 + np.exp(lv) - lv - 1).sum(axis=1)
    else:
        z_ref, kl_ref = reference.reparam_kl_forward(mu, logvar, eps)
    z, kl = backend.ops.reparam_kl_forward(*(backend.asarray(a) for a in (mu, logvar, eps)))
    tol = 1e-6 if dtype == "float32" else 1e-12
    assert max_rel(z, z_ref) <= tol and max_rel(kl, kl_ref) <= tol


# ---------------------------------------------------- clear errors without CuPy or a GPU
def test_cupy_not_installed_is_a_clear_backend_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)                 # `import cupy` raises ImportError
    for make in (lambda: get_backend("cupy"), lambda: VAE(**SMALL, backend="cupy"), CupyBackend):
        with pytest.raises(BackendError, match=r"needs CuPy, which is not installed.*backend='numpy'"):
            make()
    assert gpu_unavailable_reason().startswith("CuPy not installed")


def _fake_cupy(get_device_count):
    runtime = types.SimpleNamespace(getDeviceCount=get_device_count)
    return types.SimpleNamespace(cuda=types.SimpleNamespace(runtime=runtime), __name__="cupy")


def test_no_cuda_device_is_a_clear_backend_error(monkeypatch):
    def no_driver():
        raise RuntimeError("cudaErrorNoDevice: no CUDA-capable device is detected")

    monkeypatch.setitem(sys.modules, "cupy", _fake_cupy(no_driver))
    with pytest.raises(BackendError, match=r"no CUDA device is usable.*cudaErrorNoDevice.*backend='numpy'"):
        get_backend("cupy")
    assert gpu_unavailable_reason().startswith("no CUDA device")
    monkeypatch.setitem(sys.modules, "cupy", _fake_cupy(lambda: 0))
    with pytest.raises(BackendError, match=r"no CUDA device is visible.*CUDA_VISIBLE_DEVICES"):
        VAE(**SMALL, backend="cupy")


@pytest.mark.skipif(GPU_REASON is None, reason="a GPU is present: the real error cannot happen here")
def test_real_environment_without_gpu_raises_backend_error():
    with pytest.raises(BackendError, match="backend='numpy'"):
        get_backend("cupy")


@needs_gpu
@pytest.mark.gpu
def test_cupy_backend_is_a_backend():
    b = get_backend("cupy")
    assert isinstance(b, CupyBackend) and isinstance(b, Backend) and b.name == "cupy"
    assert "CupyBackend" in repr(b)


# ------------------------------------------------------------- CUDA graph and benchmark
@needs_gpu
@pytest.mark.gpu
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_graphed_loss_backward_matches_eager(dtype):
    from minivae.backend.cupy_backend import GraphedLossBackward

    eager = VAE(**PYTORCH_EXAMPLES, dtype=dtype, seed=3, backend="cupy")
    graphed_model = VAE(**PYTORCH_EXAMPLES, dtype=dtype, seed=3, backend="cupy")
    step = GraphedLossBackward(graphed_model, 64)
    for t in range(3):                                       # replays see new inputs
        x = batch(64, 784, 300 + t, dtype)
        eps = eps_for(eager, 64, 400 + t)
        out_ref = eager.loss(x, eps=eps)
        eager.backward()
        out = step(eager.backend.asarray(x), eager.backend.asarray(eps))
        assert max_rel(out["loss"], out_ref["loss"]) <= 1e-6
        for name in eager.grads:
            assert max_rel(graphed_model.grads[name], eager.grads[name]) <= 1e-6, name


def _tiny_bench(backend, **kw):
    from minivae.bench.gpu import speed as bench

    x = bench.load_train_images(limit=128)
    timer = None
    if backend.name == "numpy":
        timer = lambda fn: 1e6 * bench.wall_per_call(fn, backend.synchronize, 1, 1, warmup=1)  # noqa: E731
    return bench, bench.measure(backend, x, batch_sizes=(32, 64), steps=2, repeats=1, kernel_reps=3,
                                kernel_timer=timer, kernel_batch=64, **kw)


def test_benchmark_measures_and_reports(backend):
    """The benchmark's code paths on a tiny problem (on NumPy too, so CI exercises them)."""
    import json

    bench, result = _tiny_bench(backend, vs="torch" if backend.name == "cupy" else None)
    assert [r["batch"] for r in result["train"]] == [32, 64]
    for r in result["train"]:
        assert r["step_ms"] > 0 and r["epoch_s"] > 0 and np.isfinite(r["epoch_loss"])
        if backend.name == "cupy":
            assert r["graph_step_ms"] > 0, r.get("graph_error")
        if "torch_step_ms" in r:
            assert r["step_ratio"] == pytest.approx(r["step_ms"] / r["torch_step_ms"])
    names = {k["op"] for k in result["kernels"]}
    assert {"reparam_kl_forward", "reparam_kl_backward", "bernoulli_nll_grad", "act_backward(relu)"} <= names
    assert all(k["fused_us"] > 0 and k["unfused_us"] > 0 for k in result["kernels"])
    text = bench.report(result)
    assert "minivae step ms" in text and "speedup" in text
    json.loads(json.dumps(result))


def test_benchmark_torch_side_runs_on_cpu():
    """The PyTorch baseline's code on the CPU (the GPU run uses device "cuda")."""
    pytest.importorskip("torch")
    from minivae.bench.gpu import speed as bench

    res = bench.bench_torch(bench.load_train_images(limit=64), (32,), steps=1, repeats=1, epochs=1, device="cpu")
    assert res[32]["step_ms"] > 0 and res[32]["epoch_s"] > 0
    assert 100 < res[32]["epoch_loss"] < 1000                 # nats per image of an untrained VAE on MNIST


def test_benchmark_run_without_gpu_is_a_clear_error(monkeypatch):
    from minivae.bench.gpu import speed as bench

    monkeypatch.setitem(sys.modules, "cupy", None)
    with pytest.raises(BackendError, match="CuPy"):
        bench.run(types.SimpleNamespace())                  # no attributes at all: defaults everywhere
