"""``python -m minivae classifier``: train the yardstick's MNIST classifier and save it, never over the shipped one.

It trains with :func:`minivae.metrics.weights.train_classifier` (the
defaults are the shipped weights': 784-512-256-10 ReLU, He initialisation,
Adam, lr 1e-3 on a cosine schedule to 0, batches of 128, all 60,000 training
images, 10 epochs, float32; 23.6 s of training on 2 CPU cores, test accuracy
98.49%) and saves with :func:`minivae.metrics.weights.save_classifier`. It
prints the accuracy, and stores it, the time and the command in the
checkpoint's ``extra``; the command is deterministic (the same bits again,
NumPy with 2 BLAS threads).

Without ``--out`` it writes ``runs/classifier/mnist_classifier.npz`` (below
the current folder); a file already at ``--out`` is kept unless
``--overwrite``. Nothing is written inside the installed package (an
``--out`` there is refused before training) except by the one explicit
command that regenerates the shipped weights (``weights.REGENERATE``):

    OMP_NUM_THREADS=2 python -m minivae classifier --replace-shipped --epochs 10 --seed 0

It prints the new file's SHA-256, which then goes into
``minivae.metrics.weights.CLASSIFIER_SHA256`` (the yardstick refuses weights
whose hash differs from it, so every FID stays comparable).
"""
from __future__ import annotations

import os
import shlex
import sys

from ..errors import ConfigError
from ..metrics import weights
from ..train import LR_SCHEDULES
from .common import BACKENDS, out_file
from .parser import given

EXAMPLES = f"""examples:
  python -m minivae classifier --train-size 5000 --epochs 2 --out runs/clf.npz
  {weights.REGENERATE}      (regenerate the shipped weights)"""


def add_parser(sub):
    p = sub.add_parser("classifier", help="train the MNIST classifier of the sample-quality yardstick",
                       description=__doc__.split("\n")[0].replace("``", ""), epilog=EXAMPLES)
    p.add_argument("--out", default="runs/classifier/mnist_classifier.npz", metavar="NPZ",
                   help="where to write the checkpoint (never inside the installed package)")
    p.add_argument("--overwrite", action="store_true", help="replace a file already at --out (else refused)")
    p.add_argument("--replace-shipped", action="store_true",
                   help="write the shipped yardstick weights (minivae/metrics/mnist_classifier.npz) instead of "
                        "--out; every later FID is scored by them")
    p.add_argument("--hidden-dims", type=int, nargs="+", default=[512, 256], metavar="H", help="hidden layer sizes")
    p.add_argument("--epochs", type=int, default=10, help="passes over the training images")
    p.add_argument("--batch-size", type=int, default=128, help="images per step")
    p.add_argument("--lr", type=float, default=1e-3, help="Adam's learning rate")
    p.add_argument("--lr-schedule", choices=LR_SCHEDULES, default="cosine", help="the learning rate's schedule")
    p.add_argument("--seed", type=int, default=0, help="initial weights and data order")
    p.add_argument("--train-size", type=int, default=None, help="only the first N training images (quick tries)")
    p.add_argument("--backend", choices=BACKENDS, default="numpy", help="numpy (CPU) or cupy (an NVIDIA GPU)")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    return p


def _given_options(a):
    """The options the command line gave, written out again (for the checkpoint's record)."""
    words = []
    for dest in sorted(given(a) - {"command"}):
        v = getattr(a, dest)
        flag = "--" + dest.replace("_", "-")
        words += [flag] if v is True else [flag, *map(str, v)] if isinstance(v, list) else [flag, shlex.quote(str(v))]
    return words


def destination(a):
    """Where the checkpoint goes (--out, or the shipped file with --replace-shipped), checked before training."""
    if a.replace_shipped:
        if "out" in given(a):
            raise ConfigError("--replace-shipped writes the shipped weights' file; leave out --out")
        return weights.CLASSIFIER_PATH
    weights.check_destination(a.out)
    if os.path.exists(a.out) and not a.overwrite:
        raise ConfigError(f"--out {a.out}: a classifier is already there; pass --overwrite to replace it, or "
                          "another --out")
    return out_file(a.out)


def run(a):
    """Train, save and report the classifier; returns 0."""
    path = destination(a)
    if not a.quiet:
        print(f"training the 784-{'-'.join(map(str, a.hidden_dims))}-10 MNIST classifier, {a.epochs} epochs",
              file=sys.stderr)
    clf, history, accuracy, seconds = weights.train_classifier(
        hidden_dims=a.hidden_dims, epochs=a.epochs, batch_size=a.batch_size, lr=a.lr, lr_schedule=a.lr_schedule,
        seed=a.seed, train_size=a.train_size, backend=a.backend, progress=not a.quiet)
    command = " ".join(["python -m minivae classifier", *_given_options(a)])
    path, digest = weights.save_classifier(
        clf, path, extra={"test_accuracy": accuracy, "train_time_s": round(seconds, 1), "command": command,
                          "train_size": a.train_size or 60000, "history": history},
        replace_shipped=a.replace_shipped)
    print(f"test accuracy {100 * accuracy:.2f}% on the 10000 MNIST test images, after {len(history)} epochs, "
          f"{seconds:.1f} s of training, seed {a.seed}; wrote {path} (SHA-256 {digest})\nreproduce with: {command}")
    if a.replace_shipped and digest != weights.CLASSIFIER_SHA256:
        print(f"the shipped weights changed: set CLASSIFIER_SHA256 in minivae/metrics/weights.py to {digest} "
              "(the yardstick refuses weights whose hash differs from it)")
    return 0
