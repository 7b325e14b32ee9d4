"""``python -m minivae classifier``: train the yardstick's MNIST classifier with ``fit`` and save it.

The shipped weights (``minivae/metrics/mnist_classifier.npz``) were made by

    OMP_NUM_THREADS=2 python -m minivae classifier --out minivae/metrics/mnist_classifier.npz --epochs 10 --seed 0

(the defaults: 784-512-256-10 ReLU, He initialisation, Adam, lr 1e-3 on a cosine schedule to 0, batches
of 128, all 60,000 training images, no augmentation, no validation split, float32): 23.6 s of training
(25 s in all) on 2 CPU cores, test accuracy 98.49% on the 10,000 MNIST test images. The command is
deterministic: run again, it writes the same weights bit for bit (NumPy, 2 BLAS threads). It prints the
accuracy, and stores it, the time and the command in the checkpoint's ``extra``. Without ``--out`` it
writes to ``runs/classifier/mnist_classifier.npz``, never inside the installed package: replacing the
shipped weights takes the explicit command above.
"""
from __future__ import annotations

import shlex
import sys
import time

from ..datasets import load_data
from ..metrics.classifier import Classifier
from ..train import LR_SCHEDULES, TrainConfig, fit
from .common import BACKENDS, out_file
from .parser import given

#: the command that made the shipped weights
SHIPPED_COMMAND = ("OMP_NUM_THREADS=2 python -m minivae classifier --out minivae/metrics/mnist_classifier.npz "
                   "--epochs 10 --seed 0")
EXAMPLES = f"""examples:
  python -m minivae classifier --train-size 5000 --epochs 2 --out runs/clf.npz
  {SHIPPED_COMMAND}      (the shipped weights)"""


def add_parser(sub):
    p = sub.add_parser("classifier", help="train the MNIST classifier of the sample-quality yardstick",
                       description=__doc__.split("\n")[0].replace("``", ""), epilog=EXAMPLES)
    p.add_argument("--out", default="runs/classifier/mnist_classifier.npz", metavar="NPZ",
                   help="where to write the checkpoint")
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


def train_classifier(a):
    """Train a :class:`Classifier` as the options ``a`` say; returns (classifier, history, test accuracy, seconds)."""
    clf = Classifier(hidden_dims=tuple(a.hidden_dims), seed=a.seed, backend=a.backend)
    train, _, test = load_data("mnist", train_size=a.train_size, seed=a.seed)
    cfg = TrainConfig(epochs=a.epochs, batch_size=a.batch_size, lr=a.lr, lr_schedule=a.lr_schedule, seed=a.seed)
    if not a.quiet:
        print(f"{clf}: {len(train.y)} training images, {cfg.epochs} epochs", file=sys.stderr)
    t0 = time.perf_counter()
    history = fit(clf, train.x, test.x, train.y, test.y, config=cfg, progress=not a.quiet)
    seconds = time.perf_counter() - t0
    return clf, history, clf.accuracy(test.x, test.y), seconds


def _given_options(a):
    """The options the command line gave, written out again (for the checkpoint's record)."""
    words = []
    for dest in sorted(given(a) - {"command"}):
        v = getattr(a, dest)
        flag = "--" + dest.replace("_", "-")
        words += [flag] if v is True else [flag, *map(str, v)] if isinstance(v, list) else [flag, shlex.quote(str(v))]
    return words


def run(a):
    """Train, save and report the classifier; returns 0."""
    out_file(a.out)
    clf, history, accuracy, seconds = train_classifier(a)
    command = " ".join(["python -m minivae classifier", *_given_options(a)])
    clf.save(a.out, extra={"test_accuracy": accuracy, "train_time_s": round(seconds, 1), "command": command.strip(),
                           "train_size": a.train_size or 60000, "history": history})
    print(f"test accuracy {100 * accuracy:.2f}% on the 10000 MNIST test images, after {len(history)} epochs, "
          f"{seconds:.1f} s of training, seed {a.seed}; wrote {a.out}\nreproduce with: {command.strip()}")
    return 0
