"""``python -m minivae bench``: how fast minivae trains, against the machine and against PyTorch.

It measures the float32 matrix-product peak of this machine, trains a VAE
configuration for a few epochs after a warm-up, and reports per-epoch wall
time (median, min, max), examples per second, peak resident memory, and the
achieved GFLOP/s of the matrix products (exact count, :mod:`.flops`) as a
share of the peak. ``--vs torch`` trains the same model in PyTorch eager in
the same run (in a child process), epochs alternating, and prints the time
ratio and both test losses. The last line of output is one JSON object with
every figure. ``--model gan [--loss ...]`` benchmarks cs231n's GAN instead
(:mod:`minivae.bench.gan`).
"""
from __future__ import annotations

import json
import sys
import time

import numpy

from ..adversarial import LOSSES
from ..errors import MiniVAEError
from ..backend.threads import blas_limit, blas_threads, cpu_count
from . import flops as _flops
from .workload import MiniVAETrainer, load_data, peak_rss_mb
from .peak import matmul_peak

CONFIGS = {
    "examples": dict(arch=dict(input_dim=784, hidden_dims=(400,), latent_dim=20, activation="relu"),
                     batch_sizes=(128,), title="pytorch/examples VAE 784-400-20 ReLU"),
    "iwae": dict(arch=dict(input_dim=784, hidden_dims=(200, 200), latent_dim=50, activation="tanh"),
                 batch_sizes=(20, 100), title="IWAE-paper VAE 784-200-200-50 tanh (k = 1)"),
}


def add_arguments(p):
    """The options of bare ``bench`` (the VAE speed benchmark), added to the parser ``p``."""
    p.add_argument("--model", choices=["vae", "gan"], default="vae",
                   help="vae: the VAE configurations below; gan: cs231n's GAN (minivae.bench.gan)")
    p.add_argument("--loss", choices=list(LOSSES), help="--model gan: the GAN's loss (None: ns)")
    p.add_argument("--samples", type=int, default=10000,
                   help="--model gan: images per framework for the sample-quality yardstick (0: none)")
    p.add_argument("--config", choices=sorted(CONFIGS), default="examples",
                   help="examples: 784-400-20 ReLU, batch 128; iwae: 784-200-200-50 tanh, batch 20 and 100")
    p.add_argument("--batch-size", type=int, nargs="+", help="batch size(s), instead of the config's")
    p.add_argument("--epochs", type=int, default=3, help="timed epochs (per framework)")
    p.add_argument("--warmup", type=int, default=1, help="untimed warm-up epochs (per framework)")
    p.add_argument("--lr", type=float, help="learning rate (VAE: Adam's, 1e-3; GAN: the paper's for its loss)")
    p.add_argument("--seed", type=int, default=0, help="initial weights and data order")
    p.add_argument("--limit", type=int, help="train on the first LIMIT MNIST images only (smoke tests)")
    p.add_argument("--test-limit", type=int, help="evaluate on the first TEST_LIMIT test images only")
    p.add_argument("--vs", choices=["torch"], help="also train the same model in PyTorch eager, epochs alternating")
    p.add_argument("--torch-adam", choices=["default", "foreach", "fused"], default="default",
                   help="PyTorch's Adam implementation (--model gan: of its optimizers)")
    p.add_argument("--threads", type=int, default=None,
                   help="threads for both frameworks: NumPy's BLAS threads and PyTorch's intra-op threads "
                        "(none: NumPy's BLAS thread count now, which OPENBLAS_NUM_THREADS sets; else the CPUs this "
                        "process may use); 1 on a machine shared with other jobs")
    p.add_argument("--pause", type=float, default=0.3, metavar="SECONDS",
                   help="idle time before each timed epoch, so that the other framework's spin-waiting "
                        "threads have gone to sleep")
    p.add_argument("--backend", choices=["numpy", "cupy"], default="numpy",
                   help="cupy: the GPU benchmark of minivae.bench.gpu.speed")
    p.add_argument("--peak-sizes", type=int, nargs="+", default=[512, 1024, 2048],
                   help="square matrix sizes for the matmul peak")
    return p


def default_threads():
    """The BLAS threads a run uses when ``--threads`` is not given: NumPy's count now, else the usable CPUs."""
    return blas_threads() or cpu_count()


def main(argv=None):
    """``python -m minivae bench ARGV``'s exit status: the one command line's parser and errors."""
    from ..cli import main as cli_main
    return cli_main(["bench", *(sys.argv[1:] if argv is None else argv)])


def run_command(args):
    """Run the benchmark the parsed options ``args`` describe; returns the exit status."""
    if args.threads is None:
        args.threads = default_threads()
    try:
        if args.model == "gan":
            from . import gan

            args.loss = args.loss or "ns"
            print(f"threads: {args.threads} (NumPy's BLAS; PyTorch's intra-op threads)")
            result = gan.run(args)
            print(json.dumps(result))
            return 0
        if args.loss is not None:
            raise MiniVAEError(f"--loss {args.loss} is a GAN's option: add --model gan")
        if args.lr is None:
            args.lr = 1e-3                          # the VAE's Adam
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
        from .gpu import speed as gpu
    except ImportError as exc:
        raise MiniVAEError(f"--backend cupy needs minivae.bench.gpu.speed, CuPy and an NVIDIA GPU ({exc}); "
                           "install CuPy (pip install cupy-cuda12x or cupy-cuda13x) on a machine with a GPU, "
                           "or run the CPU benchmark (--backend numpy)") from exc
    args.batch_sizes = args.batch_size          # gpu.run's name for the list of batch sizes
    gpu.run(args)                               # prints its own table and JSON line
    return 0


def run(args):
    """Measure the peak, train every batch size of the configuration, print the table; returns the JSON dict."""
    from .report import print_header, print_run, summary

    cfg = CONFIGS[args.config]
    if args.threads < 1:
        raise MiniVAEError(f"--threads must be >= 1, got {args.threads}")
    if args.pause < 0:
        raise MiniVAEError(f"--pause must be >= 0 seconds, got {args.pause}")
    x, x_test, dataset_mb = load_data(args.limit, args.test_limit)
    with blas_limit(args.threads) as ok:
        if not ok:
            print("note: NumPy's BLAS thread count could not be set (install threadpoolctl); it runs as configured")
        peak, rates = matmul_peak(tuple(args.peak_sizes))
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
    warm = [orders.permutation(n) for _ in range(args.warmup)]
    timed = [orders.permutation(n) for _ in range(args.epochs)]
    trainers = [MiniVAETrainer(arch, x, x_test, lr=args.lr, seed=args.seed)]
    if args.vs == "torch":
        from .torch_vae import TorchProcess

        trainers.append(TorchProcess(arch, args.seed, lr=args.lr, adam=args.torch_adam, threads=args.threads,
                                     limit=args.limit, test_limit=args.test_limit))
    try:
        for t in trainers:
            for order in warm:
                t.epoch(order, batch_size)
        times = {t.name: [] for t in trainers}
        losses = {}
        for order in timed:                     # alternate: minivae epoch, torch epoch, ...
            for t in trainers:
                time.sleep(args.pause if len(trainers) > 1 else 0)
                sec, losses[t.name] = t.epoch(order, batch_size)
                times[t.name].append(sec)
        eps = numpy.random.default_rng(args.seed + 1).standard_normal((x_test.shape[0], arch["latent_dim"]),
                                                                      dtype=numpy.float32)
        test = {t.name: t.test_loss(eps) for t in trainers}
    finally:
        for t in trainers[1:]:
            t.close()
    mini = trainers[0]
    return dict(batch_size=batch_size, n_train=n, steps=_flops.steps_per_epoch(n, batch_size),
                flops_epoch=_flops.epoch_flops(mini.vae, n, batch_size),
                flops_step=_flops.step_flops(mini.vae, batch_size), peak=peak, times=times,
                train_loss=losses, test_loss=test, rss=peak_rss_mb(), torch_adam=args.torch_adam,
                torch_rss=trainers[1].peak_rss_mb if len(trainers) > 1 else None)
