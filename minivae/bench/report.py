"""The benchmark's table and its JSON summary."""
from __future__ import annotations

import platform
import statistics

import numpy

from ..backend.threads import cpu_count

RSS_ALLOWANCE_MB = 200      # target: peak memory <= dataset + 200 MB


def _blas():
    try:
        cfg = numpy.show_config(mode="dicts")["Build Dependencies"]["blas"]
        return f"{cfg.get('name', '?')} {cfg.get('version', '')}".strip()
    except Exception:       # noqa: BLE001 (only for the header line)
        return "unknown BLAS"


def print_header(args, cfg, peak, rates, x, x_test):
    print(f"minivae bench: {cfg['title']}, Bernoulli, Adam lr {args.lr:g}")
    print(f"machine: {platform.machine()}, {cpu_count()} CPUs, python {platform.python_version()}, "
          f"numpy {numpy.__version__} ({_blas()})")
    sizes = ", ".join(f"{s}: {r:.1f}" for s, r in rates.items())
    print(f"float32 matmul peak: {peak:.1f} GFLOP/s (best of n x n products, n = {sizes})")
    print(f"threads: {args.threads} (NumPy's BLAS; PyTorch's intra-op threads, in a process of its own)")
    print(f"data: MNIST, {x.shape[0]} train / {x_test.shape[0]} test images; "
          f"{args.warmup} warm-up + {args.epochs} timed epochs per framework, alternating, "
          f"{args.pause:g} s pause before each")


def stats(run, name):
    """Epoch-time statistics and rates of one framework in one run."""
    t = run["times"][name]
    med = statistics.median(t)
    gflops = run["flops_epoch"] / med / 1e9
    return dict(epoch_time_s=med, epoch_time_min_s=min(t), epoch_time_max_s=max(t),
                examples_per_s=run["n_train"] / med, gflops=gflops, share_of_peak=gflops / run["peak"],
                train_loss=run["train_loss"][name], test_loss=run["test_loss"][name])


def print_run(run):
    names = list(run["times"])
    cols = {n: stats(run, n) for n in names}
    label = {"torch": f"torch ({run['torch_adam']} Adam)"}
    print()
    print(f"batch {run['batch_size']}: {run['steps']} steps/epoch, {run['flops_step'] / 1e6:.1f} MFLOP of matrix "
          f"products per step, {run['flops_epoch'] / 1e9:.1f} GFLOP per epoch")
    print(f"  {'':28s}" + "".join(f"{label.get(n, n):>22s}" for n in names))
    rows = [("epoch time median (s)", "epoch_time_s", "{:.3f}"), ("epoch time min (s)", "epoch_time_min_s", "{:.3f}"),
            ("epoch time max (s)", "epoch_time_max_s", "{:.3f}"), ("examples / s", "examples_per_s", "{:,.0f}"),
            ("matmul GFLOP/s achieved", "gflops", "{:.1f}"), ("share of matmul peak", "share_of_peak", "{:.1%}"),
            ("train loss (last epoch)", "train_loss", "{:.3f}"), ("test loss (nats/example)", "test_loss", "{:.3f}")]
    for title, key, fmt in rows:
        print(f"  {title:28s}" + "".join(f"{fmt.format(cols[n][key]):>22s}" for n in names))
    if "torch" in cols:
        print(f"  ratio minivae / torch epoch time: {cols['minivae']['epoch_time_s'] / cols['torch']['epoch_time_s']:.3f}")
    limit = run["dataset_mb"] + RSS_ALLOWANCE_MB
    print(f"  peak RSS of the minivae run: {run['rss']:.0f} MiB (dataset {run['dataset_mb']:.0f} MiB + "
          f"{RSS_ALLOWANCE_MB} = {limit:.0f} MiB allowed: {'ok' if run['rss'] <= limit else 'OVER'})"
          + (f"; the PyTorch process: {run['torch_rss']:.0f} MiB" if "torch" in cols else ""))


def run_summary(run):
    """The JSON figures of one run (minivae's, plus torch_* and ratio when torch ran)."""
    out = dict(batch_size=run["batch_size"], steps_per_epoch=run["steps"], flops_per_step=run["flops_step"],
               flops_per_epoch=run["flops_epoch"], **stats(run, "minivae"), peak_rss_mb=run["rss"],
               dataset_mb=run["dataset_mb"])
    if "torch" in run["times"]:
        t = stats(run, "torch")
        out.update({f"torch_{k}": v for k, v in t.items()}, torch_adam=run["torch_adam"],
                   torch_peak_rss_mb=run["torch_rss"], ratio=out["epoch_time_s"] / t["epoch_time_s"])
    return out


def summary(args, peak, rates, runs):
    """Everything in one dict: the first run's figures at top level, every run under ``runs``."""
    per_run = [run_summary(r) for r in runs]
    return dict(config=args.config, threads=args.threads, peak_gflops=peak,
                matmul_gflops={str(k): v for k, v in rates.items()}, **per_run[0], runs=per_run)
