"""``python -m minivae bench``: how fast minivae trains, against the machine and against PyTorch.

It measures the float32 matrix-product peak of this machine, trains a VAE
configuration for a few epochs after a warm-up, and reports per-epoch wall
time (median, min, max), examples per second, peak resident memory, and the
achieved GFLOP/s of the matrix products (exact count, :mod:`.flops`) as a
share of the peak. ``--vs torch`` trains the same model in PyTorch eager in
the same run, epochs alternating, and prints the time ratio and both test
losses. The last line of output is one JSON object with every figure.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys

import numpy

from ..errors import MiniVAEError
from . import flops as _flops
from .cpu import MiniVAETrainer, peak_rss_mb, set_blas_threads
from .peak import matmul_peak

CONFIGS = {
    "examples": dict(arch=dict(input_dim=784, hidden_dims=(400,), latent_dim=20, activation="relu"),
                     batch_sizes=(128,), title="pytorch/examples VAE 784-400-20 ReLU"),
    "iwae": dict(arch=dict(input_dim=784, hidden_dims=(200, 200), latent_dim=50, activation="tanh"),
                 batch_sizes=(20, 100), title="IWAE-paper VAE 784-200-200-50 tanh (k = 1)"),
}


def build_parser():
    p = argparse.ArgumentParser(prog="python -m minivae bench", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--config", choices=sorted(CONFIGS), default="examples",
                   help="examples: 784-400-20 ReLU, batch 128; iwae: 784-200-200-50 tanh, batch 20 and 100")
    p.add_argument("--batch-size", type=int, nargs="+", help="batch size(s), instead of the config's")
    p.add_argument("--epochs", type=int, default=3, help="timed epochs (per framework)")
    p.add_argument("--warmup", type=int, default=1, help="untimed warm-up epochs (per framework)")
    p.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--limit", type=int, help="train on the first LIMIT MNIST images only (smoke tests)")
    p.add_argument("--test-limit", type=int, help="evaluate on the first TEST_LIMIT test images only")
    p.add_argument("--no-fused", dest="fused", action="store_false",
                   help="run minivae's readable (unfused) loss/backward instead of the fast path")
    p.add_argument("--vs", choices=["torch"], help="also train the same model in PyTorch eager, epochs alternating")
    p.add_argument("--torch-adam", choices=["default", "foreach", "fused"], default="default",
                   help="PyTorch's Adam implementation")
    p.add_argument("--threads", type=int,
                   help="threads for both frameworks: PyTorch's intra-op threads and NumPy's BLAS (default: "
                        "the CPUs available to PyTorch, BLAS as configured); 1 on a machine shared with "
                        "other jobs, where 2-thread BLAS and OpenMP spin-waits collapse")
    p.add_argument("--backend", choices=["numpy", "cupy"], default="numpy",
                   help="cupy: the GPU benchmark of minivae.bench.gpu")
    p.add_argument("--peak-sizes", type=int, nargs="+", default=[512, 1024, 2048],
                   help="square matrix sizes for the matmul peak")
    return p


def main(argv=None):
    """Run the benchmark; returns the exit status (0, or 2 with a message on a usage error)."""
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    try:
        if args.backend == "cupy":
            return _run_gpu(args)
        result = run(args)
    except MiniVAEError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(result))
    return 0


def _run_gpu(args):
    try:
        from . import gpu
    except ImportError as exc:
        raise MiniVAEError(f"--backend cupy needs minivae.bench.gpu, CuPy and an NVIDIA GPU ({exc}); "
                           "install CuPy (pip install cupy-cuda12x) on a machine with a GPU, "
                           "or run the CPU benchmark (--backend numpy)") from exc
    args.batch_sizes = args.batch_size          # gpu.run's name for the list of batch sizes
    gpu.run(args)                               # prints its own table and JSON line
    return 0


def load_data(args):
    from ..datasets import load_dataset

    train = load_dataset("mnist", "train").x
    test = load_dataset("mnist", "test").x
    dataset_mb = (train.nbytes + test.nbytes) / 2**20      # the float32 arrays, whatever --limit says
    return train[:args.limit] if args.limit else train, test[:args.test_limit] if args.test_limit else test, dataset_mb


def run(args):
    """Measure the peak, train every batch size of the configuration, print the table; returns the JSON dict."""
    from .report import print_header, print_run, summary

    cfg = CONFIGS[args.config]
    if args.threads is not None and not set_blas_threads(args.threads):
        raise MiniVAEError("--threads: could not set the BLAS thread count (install threadpoolctl)")
    peak, rates = matmul_peak(tuple(args.peak_sizes))
    x, x_test, dataset_mb = load_data(args)
    print_header(args, cfg, peak, rates, x, x_test)
    runs = [run_one(args, cfg["arch"], bs, x, x_test, peak) for bs in (args.batch_size or cfg["batch_sizes"])]
    for r in runs:
        r["dataset_mb"] = dataset_mb
    for r in runs:
        print_run(r)
    return summary(args, peak, rates, runs)


def run_one(args, arch, batch_size, x, x_test, peak):
    """Train minivae (and torch) at one batch size; returns the figures of that run."""
    n = x.shape[0]
    orders = numpy.random.default_rng(args.seed)
    mini = MiniVAETrainer(arch, lr=args.lr, seed=args.seed, fused=args.fused, threads=args.threads)
    warm = [orders.permutation(n) for _ in range(args.warmup)]
    timed = [orders.permutation(n) for _ in range(args.epochs)]
    for order in warm:
        mini.epoch(x, order, batch_size)
    rss = peak_rss_mb()                     # before PyTorch is imported: minivae's own footprint
    trainers, data = [mini], {mini.name: x}
    if args.vs == "torch":
        from ..vae import VAE
        from .torch_vae import TorchTrainer

        tt = TorchTrainer(VAE(**arch, seed=args.seed), lr=args.lr, adam=args.torch_adam,
                          threads=args.threads or len(os.sched_getaffinity(0)))
        data[tt.name] = tt.tensor(x)
        for order in warm:
            tt.epoch(data[tt.name], order, batch_size)
        trainers.append(tt)
    times = {t.name: [] for t in trainers}
    losses = {}
    for order in timed:                     # alternate: minivae epoch, torch epoch, ...
        for t in trainers:
            sec, losses[t.name] = t.epoch(data[t.name], order, batch_size)
            times[t.name].append(sec)
    eps = numpy.random.default_rng(args.seed + 1).standard_normal((x_test.shape[0], arch["latent_dim"]),
                                                                  dtype=numpy.float32)
    test = {t.name: t.test_loss(x_test if t is mini else t.tensor(x_test), eps) for t in trainers}
    return dict(batch_size=batch_size, n_train=n, steps=_flops.steps_per_epoch(n, batch_size),
                flops_epoch=_flops.epoch_flops(mini.vae, n, batch_size),
                flops_step=_flops.step_flops(mini.vae, batch_size), peak=peak, times=times,
                train_loss=losses, test_loss=test, rss=rss, process_rss=peak_rss_mb(), torch_adam=args.torch_adam)
