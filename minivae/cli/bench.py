"""``python -m minivae bench [nll|paired|variants|faults|conv|gpu-check] ...``: the benchmarks, one command.

Bare ``bench`` is the VAE (or ``--model gan``) speed benchmark of
:mod:`minivae.bench`; each subcommand is a benchmark module with
``add_arguments(parser)`` and ``run_command(args)``, which keep their
measuring code. Without ``--threads``, ``bench`` uses NumPy's BLAS thread
count as it is (``OPENBLAS_NUM_THREADS`` sets it) and prints it.
"""
from __future__ import annotations

import importlib
import os

from .common import out_folder

#: ``bench NAME`` -> (the module under minivae.bench, its one line of help)
BENCHMARKS = {"nll": ("nll", "Burda et al.'s VAE for a time budget, then its k-sample test NLL"),
              "variants": ("variants", "the training step of every model variant, side by side"),
              "paired": ("paired", "the test-NLL differences between bench nll runs, with paired standard errors"),
              "faults": ("faults", "kill training at random moments, resume it, count the identical endings"),
              "conv": ("conv", "the convolution layers' forward + backward time, split, against PyTorch eager"),
              "gpu-check": ("gpu.check", "everything that needs a GPU, in one command")}
#: what each benchmark's one example adds to ``python -m minivae bench NAME``
EXAMPLE_ARGS = {"gpu-check": " --out runs/gpu-check", "conv": " --vs torch",
                "paired": " runs/nll-diagonal runs/nll-iaf"}
EXAMPLES = """examples:
  OPENBLAS_NUM_THREADS=1 python -m minivae bench --epochs 3
  python -m minivae bench nll --time-budget 600 --k 5000
  python -m minivae bench paired runs/nll-a runs/nll-b"""


def _module(name):
    return importlib.import_module(f"...bench.{name}" if name else "...bench", __name__)


def add_parser(sub):
    p = sub.add_parser("bench", help="speed benchmarks; nll, paired, variants, faults, conv, gpu-check",
                       description="how fast minivae trains, against the machine and against PyTorch; with a "
                                   "subcommand, one of the other benchmarks", epilog=EXAMPLES)
    _module(None).add_arguments(p)
    benches = p.add_subparsers(dest="benchmark", metavar="BENCHMARK", title="other benchmarks (bench NAME --help)")
    for name, (module, text) in BENCHMARKS.items():
        b = benches.add_parser(name, help=text, description=text, epilog=f"example:\n  python -m minivae bench {name}"
                               + EXAMPLE_ARGS.get(name, ""))
        _module(module).add_arguments(b)
    return p


def run(args):
    """Run the benchmark ``args.benchmark`` names (none: the speed benchmark); its exit status."""
    out = getattr(args, "out", None) if args.benchmark in ("nll", "faults", "gpu-check") else None
    made = out is not None and not os.path.exists(out)
    if out is not None:
        out_folder(out)
    name = BENCHMARKS[args.benchmark][0] if args.benchmark else None
    try:
        return _module(name).run_command(args)
    except BaseException:                        # a bad option found later, or Ctrl-C: leave no empty folder behind
        if made and os.path.isdir(out) and not os.listdir(out):
            os.rmdir(out)
        raise
