"""GPU benchmark: ``python -m minivae bench --backend cupy [--vs torch]``.

The pytorch/examples VAE (784-400-20, ReLU, Bernoulli decoder, Adam lr 1e-3,
float32) on MNIST, with minivae on CuPy:

* step time (one loss + backward + Adam step, a fixed batch, wall clock over
  many steps with one synchronisation at the end: the rate a training loop
  achieves) and epoch time (60000 images, a shuffled epoch with the data on
  the GPU and the loss read once per epoch), at batch 128 and 4096;
* the same step with loss + backward replayed as a CUDA graph
  (:class:`minivae.backend.cupy_backend.GraphedLossBackward`) and a multi-tensor Adam;
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

This module holds the entry point, the orchestration and the minivae
timings; the timers are in :mod:`.timing`, the PyTorch baseline in
:mod:`.gpu_torch`, the kernel cases in :mod:`.gpu_kernels`, the table in
:mod:`.gpu_report` and the model's settings in :mod:`.gpu_config`; their
names are importable from here too.
"""
from __future__ import annotations

import json
import statistics
import time

import numpy

from ...errors import BackendError
from .config import CONFIG, LR
from .kernels import _param_shapes, bench_kernels, kernel_cases  # noqa: F401  (re-exported)
from .report import _fmt, report  # noqa: F401  (re-exported)
from .torch_baseline import bench_torch, torch_trainer  # noqa: F401  (re-exported)
from .timing import cuda_event_time, wall_per_call  # noqa: F401  (re-exported)

TARGETS = {"step_ratio_128": 0.6, "step_ratio_4096": 1.0, "kernel_speedup": 2.0}


# ------------------------------------------------------------------ minivae
def minivae_trainer(backend, dtype="float32", seed=0):
    """A fresh pytorch/examples-sized VAE and its Adam on ``backend``, and one training step."""
    from ...optim import Adam
    from ...models.vae import VAE

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
    from ...backend.cupy_backend import GraphedLossBackward

    try:
        graphed = GraphedLossBackward(model, batch)
    except Exception as exc:  # capture is optional: report why it did not work
        return {"graph_step_ms": None, "graph_error": f"{type(exc).__name__}: {exc}"}
    xb = x_dev[:batch]

    def step():
        graphed(xb)
        multi_adam_step(opt, model.grads, backend.ops)

    return {"graph_step_ms": 1e3 * wall_per_call(step, backend.synchronize, steps, repeats)}


# ------------------------------------------------------------------ run
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
    from ...datasets import load_dataset

    x = load_dataset("mnist", "train", dtype=dtype).x
    return numpy.ascontiguousarray(x[:limit] if limit else x)


def run(args):
    """Entry point of ``python -m minivae bench --backend cupy``: print the table, then one JSON line."""
    from ...backend import get_backend

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
