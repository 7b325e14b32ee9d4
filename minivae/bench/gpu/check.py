"""``python -m minivae bench gpu-check --out DIR``: everything that needs a GPU, in one command that fits a lease.

A GPU machine is lent for minutes, so one prepared command checks it all,
each part in a child process with its own time limit (a hang costs that
part, not the lease):

    tests   pytest -rs on tests/test_kernels.py, tests/test_gpu_backend.py,
            tests/test_nvcc.py and tests/test_conv_layers.py (the convolution
            layers on CuPy against NumPy): pass, fail
            and skip counts from pytest's JUnit XML
    train   one epoch of the pytorch/examples VAE on CuPy and on NumPy, same
            weights, data order and eps: the losses must agree to float32
            tolerance (:data:`TOLERANCE`)
    bench   each fused kernel against the unfused CuPy expression it replaces at
            batch 4096, and the training step at batch 128 and 4096 against
            PyTorch CUDA eager, with and without CUDA-graph capture
            (:func:`minivae.bench.gpu.speed.measure`); figures, no pass or fail

It writes ``DIR/gpu_check.json`` (every figure) and ``DIR/gpu_check.log``
(every part's output), prints a short table, and exits 0 only if every part
passed. It runs from the working tree with nothing installed:

    PYTHONPATH=. python -m minivae bench gpu-check --out runs/gpu-check

``--dry-run`` runs the same plumbing on a machine without a GPU (CI does):
the tests part collects only the GPU-marked tests (they skip, with their
reasons), train compares NumPy with NumPy on 512 images, bench times the
NumPy ops on tiny sizes.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy

PARTS = ("tests", "train", "bench")
LIMITS = {"tests": 150, "train": 60, "bench": 150}      # seconds: 6 minutes in all, at most
TEST_FILES = ("tests/test_kernels.py", "tests/test_gpu_backend.py", "tests/test_nvcc.py", "tests/test_conv_layers.py")
#: float32 agreement of the CuPy and NumPy epochs. One step's loss differs by the order of the sums in the
#: products (~1e-6 relative; tests/test_gpu_backend.py allows 1e-5). After that, Adam moves every weight by
#: about lr whatever its gradient's size, so rounding-sized differences grow: perturbing the initial
#: weights by 1e-7 relative changed the epoch's mean loss by 2.6e-4 and single steps by up to 2.5e-3.
TOLERANCE = {"first_step": 1e-5, "epoch_mean": 2e-3}
ROOT = Path(__file__).resolve().parents[3]             # the working tree: minivae/bench/gpu/check.py


def _env():
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}


def run_part(name, out, dry_run, limit, hang=False):
    """Run one part in a child process under ``limit`` seconds; returns (its result dict, its output)."""
    if name == "tests":
        cmd = [sys.executable, "-m", "pytest", "-rs", "-q", "-p", "no:cacheprovider",
               f"--junitxml={out / 'tests.xml'}", *TEST_FILES] + (["-m", "gpu"] if dry_run else [])
    else:
        cmd = [sys.executable, "-m", "minivae.bench.gpu.check", "--part", name, "--out", str(out)]
        cmd += (["--dry-run"] if dry_run else []) + (["--simulate-hang", name] if hang else [])
    t0 = time.perf_counter()
    try:
        run = subprocess.run(cmd, cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=limit)
    except subprocess.TimeoutExpired as exc:
        text = (exc.stdout or b"").decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        return {"status": "timed out", "limit_s": limit, "seconds": time.perf_counter() - t0}, text
    result = {"seconds": time.perf_counter() - t0, "exit_code": run.returncode}
    if name == "tests":
        result.update(junit_counts(out / "tests.xml"))
        result["status"] = "passed" if run.returncode == 0 and result.get("failed", 1) == 0 else "failed"
    else:
        path = out / f"{name}.json"
        if run.returncode == 0 and path.exists():
            result.update(json.loads(path.read_text()))
        else:
            result["status"] = "failed"
            result["error"] = (run.stderr or run.stdout).strip().splitlines()[-1:] or ["(no output)"]
    return result, run.stdout + run.stderr


def junit_counts(path):
    """{"passed", "failed", "skipped", "skip_reasons"} from pytest's JUnit XML (errors count as failed)."""
    if not path.exists():
        return {"failed": None, "error": "pytest wrote no report"}
    cases = list(ET.parse(path).getroot().iter("testcase"))
    failed = sum(1 for c in cases if c.find("failure") is not None or c.find("error") is not None)
    skips = [c.find("skipped") for c in cases if c.find("skipped") is not None]
    reasons = sorted({s.get("message", "")[:120] for s in skips})
    return {"passed": len(cases) - failed - len(skips), "failed": failed, "skipped": len(skips),
            "skip_reasons": reasons}


# ------------------------------------------------------------------ the parts, in the child
def one_epoch(backend, x, seed=0, batch=128):
    """Per-step losses of one epoch of the pytorch/examples VAE on ``backend``, data order and eps from ``seed``."""
    from ...optim import Adam
    from ...models.vae import VAE
    from .config import CONFIG, LR

    model = VAE(**CONFIG, seed=seed, backend=backend)
    opt = Adam(model.params, lr=LR)
    order = numpy.random.default_rng(seed).permutation(len(x))
    eps_rng = numpy.random.default_rng(seed + 1)
    x_dev, losses = backend.asarray(x), []
    for s in range(0, len(x), batch):
        idx = order[s:s + batch]
        eps = eps_rng.standard_normal((len(idx), CONFIG["latent_dim"]), dtype=numpy.float32)
        out = model.loss(x_dev[backend.asarray(idx)], eps=backend.asarray(eps), check=False)
        opt.step(model.backward())
        losses.append(float(out["loss"]))
    return numpy.array(losses)


def train_part(dry_run):
    """The CuPy epoch against the NumPy epoch (NumPy against NumPy in a dry run)."""
    from ...backend import get_backend
    from .speed import load_train_images

    other = get_backend("numpy" if dry_run else "cupy")     # first: without CuPy or a GPU, fail at once
    x = load_train_images(limit=512 if dry_run else None)
    ref = one_epoch(get_backend("numpy"), x)
    got = one_epoch(other, x)
    rel = numpy.abs(got - ref) / numpy.abs(ref)
    res = {"steps": len(ref), "first_step_rel": float(rel[0]), "epoch_mean_rel": float(abs(got.mean() - ref.mean())
                                                                                       / ref.mean()),
           "max_step_rel": float(rel.max()), "median_step_rel": float(statistics.median(rel)),
           "numpy_epoch_mean": float(ref.mean()), "other_epoch_mean": float(got.mean()), "tolerance": TOLERANCE}
    ok = res["first_step_rel"] <= TOLERANCE["first_step"] and res["epoch_mean_rel"] <= TOLERANCE["epoch_mean"]
    res["status"] = "passed" if ok else "failed"
    return res


def bench_part(dry_run):
    """Kernels against their unfused expressions, and the step against PyTorch eager, graph on and off."""
    from ...backend import get_backend
    from . import speed as gpu

    if dry_run:
        backend = get_backend("numpy")
        timer = lambda fn: 1e6 * gpu.wall_per_call(fn, backend.synchronize, 1, 1, warmup=1)  # noqa: E731
        res = gpu.measure(backend, gpu.load_train_images(limit=256), batch_sizes=(32, 64), steps=2, repeats=1,
                          kernel_reps=3, kernel_timer=timer, kernel_batch=64, vs="torch", torch_device="cpu")
    else:
        res = gpu.measure(get_backend("cupy"), gpu.load_train_images(), batch_sizes=(128, 4096), epochs=1,
                          vs="torch", steps=50, repeats=5, kernel_reps=200, graph=True)
    res["status"] = "passed"                             # measured; the targets are reported, not required
    return res


def run_child(part, out, dry_run, hang):
    """Run one part and write its JSON; a library error (no CuPy, no GPU) is one line on stderr and exit code 1."""
    from ...errors import MiniVAEError

    if hang:
        time.sleep(3600)                                 # the tests of the time limits
    try:
        res = train_part(dry_run) if part == "train" else bench_part(dry_run)
    except MiniVAEError as exc:
        print(f"{part}: {exc}", file=sys.stderr)
        return 1
    (out / f"{part}.json").write_text(json.dumps(res, default=float))
    return 0


# ------------------------------------------------------------------ the parent
def table(result):
    lines = [f"minivae gpu-check on {result['device']}{' (dry run)' if result['dry_run'] else ''}: "
             f"{result['status']} in {result['seconds']:.0f} s"]
    for name, r in result["parts"].items():
        extra = ""
        if name == "tests" and r.get("failed") is not None:
            extra = f"{r.get('passed')} passed, {r['failed']} failed, {r.get('skipped')} skipped"
        elif name == "train" and "epoch_mean_rel" in r:
            extra = (f"{r['steps']} steps, first step {r['first_step_rel']:.1e}, epoch mean {r['epoch_mean_rel']:.1e} "
                     f"(max step {r['max_step_rel']:.1e}) relative")
        elif name == "bench" and "train" in r:
            extra = bench_figures(r)
        if r.get("error"):
            extra = " ".join(r["error"]) if isinstance(r["error"], list) else str(r["error"])
        lines.append(f"  {name:<6} {r['status']:<10} {r.get('seconds', 0):6.1f} s  {extra}")
    return "\n".join(lines)


def bench_figures(r):
    """The bench part's measured figures in one line: step time / torch's by batch, the kernels' speedups."""
    steps = [f"{t['step_ratio']:.2f}x torch at batch {t['batch']}" if t.get("step_ratio") is not None
             else f"{t['step_ms']:.2f} ms at batch {t['batch']}" for t in r["train"]]
    speedups = [k["speedup"] for k in r.get("kernels", [])]
    if speedups:
        steps.append(f"fused kernels {min(speedups):.1f}x to {max(speedups):.1f}x the unfused")
    return "step " + ", ".join(steps)


def add_arguments(p):
    """The options of ``bench gpu-check``, added to the parser ``p``."""
    p.add_argument("--out", required=True, metavar="DIR", help="gpu_check.json and gpu_check.log go here")
    p.add_argument("--dry-run", action="store_true", help="the plumbing without a GPU (NumPy, tiny sizes)")
    p.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS), help="the parts to run, in order")
    for name in PARTS:
        p.add_argument(f"--limit-{name}", type=float, default=LIMITS[name], metavar="S",
                       help=f"time limit of the {name} part in seconds")
    p.add_argument("--part", choices=PARTS[1:], help=argparse.SUPPRESS)             # the child's own part
    p.add_argument("--simulate-hang", choices=PARTS[1:], help=argparse.SUPPRESS)    # for the time-limit tests
    return p


def main(argv=None):
    """``python -m minivae bench gpu-check ARGV``'s exit status: the one command line's parser and errors."""
    from ...cli import main as cli_main
    return cli_main(["bench", "gpu-check", *(sys.argv[1:] if argv is None else argv)])


def run_command(a):
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    if a.part:
        return run_child(a.part, out, a.dry_run, a.simulate_hang == a.part)
    t0, parts, log = time.perf_counter(), {}, []
    for name in a.parts:
        parts[name], text = run_part(name, out, a.dry_run, getattr(a, f"limit_{name}"), a.simulate_hang == name)
        log.append(f"===== {name}: {parts[name]['status']}\n{text}")
    result = {"dry_run": a.dry_run, "device": parts.get("bench", {}).get("device") or _device_name(a.dry_run),
              "parts": parts, "seconds": time.perf_counter() - t0,
              "status": "passed" if all(r["status"] == "passed" for r in parts.values()) else "failed"}
    (out / "gpu_check.json").write_text(json.dumps(result, indent=2, default=float))
    (out / "gpu_check.log").write_text("\n".join(log))
    print(table(result))
    return 0 if result["status"] == "passed" else 1


def _device_name(dry_run):
    if dry_run:
        return "CPU (NumPy)"
    try:
        run = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True,
                             text=True, timeout=20)
        return run.stdout.strip() or "unknown GPU"
    except (OSError, subprocess.TimeoutExpired):
        return "unknown (nvidia-smi not found)"


if __name__ == "__main__":
    raise SystemExit(main())
