"""GPU benchmark: ``python -m minivae bench --backend cupy [--vs torch]``.

The pytorch/examples VAE (784-400-20, ReLU, Bernoulli decoder, Adam lr 1e-3,
float32) on MNIST, with minivae on CuPy:

* step time (one loss + backward + Adam step, a fixed batch, wall clock over
  many steps with one synchronisation at the end: the rate a training loop
  achieves) and epoch time (60000 images, a shuffled epoch with the data on
  the GPU and the loss read once per epoch), at batch 128 and 4096;
* the same step with loss + backward replayed as a CUDA graph
  (:class:`minivae.gpu.GraphedLossBackward`) and a multi-tensor Adam;
* with ``vs="torch"``, the same model in PyTorch CUDA eager and the ratios
  minivae / torch (below 1 is faster);
* each fused kernel alone against the unfused CuPy expression it replaces
  (the readable lecture functions), at batch 4096, timed with CUDA events:
  warm-up, then the median of many calls.

Prints a table and, last, one JSON line. :func:`run` takes an argparse
namespace; every attribute is optional (``batch_sizes``, ``epochs``, ``vs``,
``steps``, ``repeats``, ``kernel_reps``, ``graph``, ``json_path``).
The issue's targets: step at batch 128 <= 0.6 x torch, at 4096 <= 1.0 x,
each fused kernel >= 2x faster than its unfused expression.
"""
from __future__ import annotations

import json
import statistics
import time

import numpy

from ..errors import BackendError

CONFIG = dict(input_dim=784, hidden_dims=(400,), latent_dim=20, activation="relu", likelihood="bernoulli")
LR = 1e-3
TARGETS = {"step_ratio_128": 0.6, "step_ratio_4096": 1.0, "kernel_speedup": 2.0}


# ------------------------------------------------------------------ timing
def wall_per_call(fn, sync, calls, repeats, warmup=3):
    """Median over ``repeats`` of (wall time of ``calls`` calls of fn, then one sync) / calls, in seconds."""
    for _ in range(warmup):
        fn()
    sync()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        sync()
        times.append((time.perf_counter() - t0) / calls)
    return statistics.median(times)


def cuda_event_time(cupy, fn, reps, warmup=20):
    """Median latency of one call of fn in microseconds, between two CUDA events on the current stream."""
    for _ in range(warmup):
        fn()
    start, end = cupy.cuda.Event(), cupy.cuda.Event()
    times = []
    for _ in range(reps):
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(cupy.cuda.get_elapsed_time(start, end) * 1e3)
    return statistics.median(times)


# ------------------------------------------------------------------ minivae
def minivae_trainer(backend, dtype="float32", seed=0):
    """A fresh pytorch/examples-sized VAE and its Adam on ``backend``, and one training step."""
    from ..optim import Adam
    from ..vae import VAE

    model = VAE(**CONFIG, dtype=dtype, seed=seed, backend=backend)
    opt = Adam(model.params, lr=LR)

    def step(xb, eps=None):
        out = model.loss(xb, eps=eps, check=False)
        opt.step(model.backward())
        return out

    return model, opt, step


def multi_adam_step(opt, grads, ops):
    """``opt.step(grads)`` (an Adam without clipping) as one launch of ``ops.adam_update_multi``."""
    names = list(opt.params)
    opt.t += 1
    ops.adam_update_multi([opt.params[k] for k in names], [grads[k] for k in names],
                          [opt.m[k] for k in names], [opt.v[k] for k in names],
                          opt.lr, opt.beta1, opt.beta2, opt.eps, opt.t)


def epoch_time(step, x_dev, batch, backend, seed=0):
    """Seconds for one shuffled pass over x_dev (already on the device); the loss is read once at the end."""
    xp = backend.xp
    n = x_dev.shape[0]
    perm = backend.asarray(numpy.random.default_rng(seed).permutation(n))
    total = xp.zeros((), dtype=x_dev.dtype)
    backend.synchronize()
    t0 = time.perf_counter()
    for s in range(0, n, batch):
        idx = perm[s:s + batch]
        out = step(x_dev[idx])
        total += out["loss"] * idx.shape[0]
    mean_loss = float(total) / n                     # the one host read-back of the epoch
    elapsed = time.perf_counter() - t0
    if not numpy.isfinite(mean_loss):
        raise FloatingPointError(f"minivae epoch at batch {batch}: mean loss {mean_loss}")
    return elapsed, mean_loss


def bench_minivae(backend, x_dev, batch, steps, repeats, epochs, graph):
    """Step and epoch times of minivae on ``backend`` at one batch size (a dict)."""
    model, opt, step = minivae_trainer(backend)
    xb = x_dev[:batch]
    res = {"batch": batch}
    res["step_ms"] = 1e3 * wall_per_call(lambda: step(xb), backend.synchronize, steps, repeats)
    times = [epoch_time(step, x_dev, batch, backend, seed=e) for e in range(epochs)]
    res["epoch_s"] = statistics.median(t for t, _ in times)
    res["epoch_loss"] = times[-1][1]
    if graph:
        res.update(bench_graph(model, opt, backend, x_dev, batch, steps, repeats))
    return res


def bench_graph(model, opt, backend, x_dev, batch, steps, repeats):
    """Step time with loss + backward as one CUDA graph and one multi-tensor Adam launch."""
    from ..gpu import GraphedLossBackward

    try:
        graphed = GraphedLossBackward(model, batch)
    except Exception as exc:  # capture is optional: report why it did not work
        return {"graph_step_ms": None, "graph_error": f"{type(exc).__name__}: {exc}"}
    xb = x_dev[:batch]

    def step():
        graphed(xb)
        multi_adam_step(opt, model.grads, backend.ops)

    return {"graph_step_ms": 1e3 * wall_per_call(step, backend.synchronize, steps, repeats)}


# ------------------------------------------------------------------ PyTorch
def torch_trainer(torch, device, seed=0):
    """The same model in PyTorch eager: encoder 784-400 ReLU, heads 400-20, decoder 20-400 ReLU-784 logits."""
    nn = torch.nn
    torch.manual_seed(seed)

    class TorchVAE(nn.Module):
        def __init__(self):
            super().__init__()
            self.enc, self.mu, self.logvar = nn.Linear(784, 400), nn.Linear(400, 20), nn.Linear(400, 20)
            self.dec1, self.dec2 = nn.Linear(20, 400), nn.Linear(400, 784)

        def forward(self, x):
            h = torch.relu(self.enc(x))
            mu, logvar = self.mu(h), self.logvar(h)
            z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
            logits = self.dec2(torch.relu(self.dec1(z)))
            recon = nn.functional.binary_cross_entropy_with_logits(logits, x, reduction="sum")
            kl = 0.5 * torch.sum(mu * mu + logvar.exp() - logvar - 1)
            return (recon + kl) / x.shape[0]          # minivae's batch mean of the negative ELBO

    model = TorchVAE().to(device)
    opt = torch.optim.Adam(model.parameters(), lr=LR)

    def step(xb):
        opt.zero_grad(set_to_none=True)
        loss = model(xb)
        loss.backward()
        opt.step()
        return {"loss": loss.detach()}

    return step


def bench_torch(x_host, batch_sizes, steps, repeats, epochs, device="cuda"):
    """PyTorch eager step and epoch times per batch size, or {"error": why} when it cannot run."""
    try:
        import torch
    except ImportError as exc:
        return {"error": f"PyTorch is not installed ({exc})"}
    if device == "cuda" and not torch.cuda.is_available():
        return {"error": "PyTorch sees no CUDA device (a CPU-only build, or no GPU)"}
    device = torch.device(device)
    x_dev = torch.tensor(x_host, device=device)          # a copy (x_host may be read-only)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    out = {}
    for batch in batch_sizes:
        step = torch_trainer(torch, device)
        xb = x_dev[:batch]
        res = {"step_ms": 1e3 * wall_per_call(lambda: step(xb), sync, steps, repeats)}
        times = []
        for e in range(epochs):
            gen = torch.Generator(device=device).manual_seed(e)
            perm = torch.randperm(x_dev.shape[0], device=device, generator=gen)
            total = torch.zeros((), device=device)
            sync()
            t0 = time.perf_counter()
            for s in range(0, x_dev.shape[0], batch):
                idx = perm[s:s + batch]
                total += step(x_dev[idx])["loss"] * idx.shape[0]
            loss = float(total) / x_dev.shape[0]
            times.append(time.perf_counter() - t0)
        res["epoch_s"] = statistics.median(times)
        res["epoch_loss"] = loss
        out[batch] = res
    return out


# ------------------------------------------------------------------ kernels
def kernel_cases(backend, batch=4096, seed=0):
    """(name, shape, fused call, unfused call) for each fused op, on float32 arrays of the pytorch/examples sizes."""
    from .. import activations, kl, likelihoods, reparam
    from ..kernels import reference

    xp, ops = backend.xp, backend.ops
    rng = numpy.random.default_rng(seed)

    def arr(*shape, scale=1.0):
        return backend.asarray((scale * rng.standard_normal(shape)).astype(numpy.float32))

    n, d, h, pix = batch, CONFIG["latent_dim"], CONFIG["hidden_dims"][0], CONFIG["input_dim"]
    mu, logvar, eps, dz = arr(n, d), arr(n, d, scale=0.5), arr(n, d), arr(n, d)
    w = numpy.float32(1.0 / n)
    x = backend.asarray(rng.uniform(0, 1, (n, pix)).astype(numpy.float32))
    logits = arr(n, pix, scale=3.0)
    a, b, dy = arr(n, h), arr(h), arr(n, h)
    y = xp.maximum(a + b, 0)
    params = {k: arr(*s) for k, s in _param_shapes().items()}
    grads = {k: arr(*s) for k, s in _param_shapes().items()}
    m1 = {k: xp.zeros_like(p) for k, p in params.items()}
    v1 = {k: xp.zeros_like(p) for k, p in params.items()}
    m2 = {k: xp.zeros_like(p) for k, p in params.items()}
    v2 = {k: xp.zeros_like(p) for k, p in params.items()}
    names = list(params)
    hyper = (LR, 0.9, 0.999, 1e-8, 10)

    def reparam_kl_unfused():
        z, cache = reparam.reparameterize(mu, logvar, eps)
        return z, kl.kl_divergence(mu, logvar)

    def reparam_kl_backward_unfused():
        dmu, dlogvar = reparam.reparameterize_backward(dz, (reparam.sigma_from_logvar(logvar), eps))
        dmu_kl, dlogvar_kl = kl.kl_backward(w, mu, logvar)
        return dmu + dmu_kl, dlogvar + dlogvar_kl

    def bernoulli_unfused():
        nll = -likelihoods.bernoulli_log_likelihood(x, logits)
        dll = xp.full(n, -w, dtype=numpy.float32)
        return nll, likelihoods.bernoulli_log_likelihood_backward(dll, x, logits)

    def adam_unfused():
        for k in names:
            reference.adam_update(params[k], grads[k], m1[k], v1[k], *hyper)

    def adam_fused_per_tensor():
        for k in names:
            ops.adam_update(params[k], grads[k], m2[k], v2[k], *hyper)

    cases = [
        ("reparam_kl_forward", f"({n}, {d})", lambda: ops.reparam_kl_forward(mu, logvar, eps), reparam_kl_unfused),
        ("reparam_kl_backward", f"({n}, {d})", lambda: ops.reparam_kl_backward(dz, mu, logvar, eps, w),
         reparam_kl_backward_unfused),
        ("bernoulli_nll_grad", f"({n}, {pix})", lambda: ops.bernoulli_nll_grad(x, logits, w), bernoulli_unfused),
        ("bias_act_forward(relu)", f"({n}, {h})", lambda: ops.bias_act_forward(a, b, "relu"),
         lambda: activations.relu_forward(a + b)[0]),
        ("act_backward(relu)", f"({n}, {h})", lambda: ops.act_backward(dy, y, "relu"),
         lambda: activations.relu_backward(dy, y)),
        ("adam_update (10 tensors, per tensor)", "all params", adam_fused_per_tensor, adam_unfused),
    ]
    if hasattr(ops, "adam_update_multi"):
        cases.append(("adam_update_multi (10 tensors, 1 launch)", "all params",
                      lambda: ops.adam_update_multi([params[k] for k in names], [grads[k] for k in names],
                                                    [m2[k] for k in names], [v2[k] for k in names], *hyper),
                      adam_unfused))
    return cases


def _param_shapes():
    i, h, d = CONFIG["input_dim"], CONFIG["hidden_dims"][0], CONFIG["latent_dim"]
    return {"encoder.0.W": (i, h), "encoder.0.b": (h,), "mu.W": (h, d), "mu.b": (d,), "logvar.W": (h, d),
            "logvar.b": (d,), "decoder.0.W": (d, h), "decoder.0.b": (h,), "decoder.1.W": (h, i),
            "decoder.1.b": (i,)}


def bench_kernels(backend, reps, batch=4096, timer=None):
    """Median microseconds of each fused op and of the unfused expression it replaces."""
    timer = timer or (lambda fn: cuda_event_time(backend.xp, fn, reps))
    rows = []
    for name, shape, fused, unfused in kernel_cases(backend, batch):
        f, u = timer(fused), timer(unfused)
        rows.append({"op": name, "shape": shape, "fused_us": f, "unfused_us": u, "speedup": u / f})
    return rows


# ------------------------------------------------------------------ report
def _fmt(v, spec):
    width = int(spec.split(".")[0])
    return f"{'-':>{width}}" if v is None else format(v, spec)


def report(result):
    """The human-readable table (a string)."""
    lines = [f"minivae GPU benchmark on {result['device']} ({result['dtype']}, pytorch/examples VAE 784-400-20)", ""]
    head = (f"{'batch':>6} | {'minivae step ms':>15} | {'graph step ms':>13} | {'torch step ms':>13} | "
            f"{'ratio':>6} | {'graph ratio':>11} | {'minivae epoch s':>15} | {'torch epoch s':>13} | {'ratio':>6}")
    lines += [head, "-" * len(head)]
    for r in result["train"]:
        lines.append(f"{r['batch']:>6} | {_fmt(r['step_ms'], '15.3f')} | {_fmt(r.get('graph_step_ms'), '13.3f')} | "
                     f"{_fmt(r.get('torch_step_ms'), '13.3f')} | {_fmt(r.get('step_ratio'), '6.2f')} | "
                     f"{_fmt(r.get('graph_step_ratio'), '11.2f')} | {_fmt(r['epoch_s'], '15.3f')} | "
                     f"{_fmt(r.get('torch_epoch_s'), '13.3f')} | {_fmt(r.get('epoch_ratio'), '6.2f')}")
        if r.get("graph_error"):
            lines.append(f"       graph capture failed: {r['graph_error']}")
    if result.get("torch_error"):
        lines.append(f"PyTorch not measured: {result['torch_error']}")
    if result["kernels"]:
        lines += ["", f"{'fused op':<42} | {'shape':<24} | {'fused us':>9} | {'unfused us':>10} | "
                      f"{'speedup':>7}"]
        lines.append("-" * 104)
        for k in result["kernels"]:
            lines.append(f"{k['op']:<42} | {k['shape']:<24} | {k['fused_us']:9.1f} | {k['unfused_us']:10.1f} | "
                         f"{k['speedup']:7.2f}")
    lines += ["", "targets: " + ", ".join(f"{k} {'met' if v else 'NOT met'}" for k, v in result["targets"].items())]
    return "\n".join(lines)


def check_targets(result):
    """Which of the issue's targets the measurements meet (None where not measured)."""
    out = {}
    for r in result["train"]:
        if r["batch"] in (128, 4096):
            key = f"step_ratio_{r['batch']}"
            best = min((v for v in (r.get("step_ratio"), r.get("graph_step_ratio")) if v is not None), default=None)
            out[key] = None if best is None else best <= TARGETS[key]
    if result["kernels"]:
        out["kernel_speedup"] = all(k["speedup"] >= TARGETS["kernel_speedup"] for k in result["kernels"])
    return {k: v for k, v in out.items() if v is not None}


def device_name(backend):
    if backend.name != "cupy":
        return "CPU (NumPy)"
    props = backend.xp.cuda.runtime.getDeviceProperties(backend.xp.cuda.Device().id)
    name = props["name"]
    return name.decode() if isinstance(name, bytes) else str(name)


def measure(backend, x_host, batch_sizes=(128, 4096), epochs=1, vs=None, steps=50, repeats=5,
            kernel_reps=200, graph=True, kernel_timer=None, torch_device="cuda", kernel_batch=4096):
    """Run every measurement on ``backend`` (any minivae Backend; "cupy" for the real thing); a result dict."""
    x_dev = backend.asarray(x_host)
    result = {"device": device_name(backend), "dtype": "float32", "backend": backend.name,
              "n_train": int(x_host.shape[0]), "train": [], "kernels": []}
    for batch in batch_sizes:
        result["train"].append(bench_minivae(backend, x_dev, batch, steps, repeats, epochs, graph))
    if vs == "torch":
        torch_res = bench_torch(x_host, batch_sizes, steps, repeats, epochs, torch_device)
        if "error" in torch_res:
            result["torch_error"] = torch_res["error"]
        else:
            for r in result["train"]:
                t = torch_res[r["batch"]]
                r.update(torch_step_ms=t["step_ms"], torch_epoch_s=t["epoch_s"], torch_epoch_loss=t["epoch_loss"],
                         step_ratio=r["step_ms"] / t["step_ms"], epoch_ratio=r["epoch_s"] / t["epoch_s"])
                if r.get("graph_step_ms") is not None:
                    r["graph_step_ratio"] = r["graph_step_ms"] / t["step_ms"]
    if kernel_reps:
        result["kernels"] = bench_kernels(backend, kernel_reps, kernel_batch, timer=kernel_timer)
    result["targets"] = check_targets(result)
    return result


def load_train_images(dtype="float32", limit=None):
    """MNIST training images (60000, 784) in [0, 1] on the host."""
    from ..datasets import load_dataset

    x = load_dataset("mnist", "train", dtype=dtype).x
    return numpy.ascontiguousarray(x[:limit] if limit else x)


def run(args):
    """Entry point of ``python -m minivae bench --backend cupy``: print the table, then one JSON line."""
    from ..backend import get_backend

    batch_sizes = tuple(getattr(args, "batch_sizes", None) or (128, 4096))
    epochs = int(getattr(args, "epochs", None) or 1)
    vs = getattr(args, "vs", None)
    if vs not in (None, "torch"):
        raise BackendError(f"--vs must be 'torch' or absent, got {vs!r}")
    backend = get_backend("cupy")          # BackendError, saying what is missing, without CuPy or a GPU
    result = measure(backend, load_train_images(), batch_sizes, epochs, vs,
                     steps=int(getattr(args, "steps", None) or 50),
                     repeats=int(getattr(args, "repeats", None) or 5),
                     kernel_reps=int(getattr(args, "kernel_reps", 200)),
                     graph=bool(getattr(args, "graph", True)))
    print(report(result))
    line = json.dumps(result, sort_keys=True)
    json_path = getattr(args, "json_path", None)
    if json_path:
        with open(json_path, "w", encoding="utf-8") as f:
            f.write(line + "\n")
    print(line)
    return result
