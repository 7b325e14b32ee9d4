"""The yardstick's weights: the shipped file and its SHA-256, training a classifier, saving it safely.

The shipped classifier (``minivae/metrics/mnist_classifier.npz``) is what
makes every FID comparable: a changed file silently changes every later
score. So

- loading it checks its SHA-256 against :data:`CLASSIFIER_SHA256`
  (:func:`check_shipped`: a wrong hash is one line that says how to get the
  right file back), and every yardstick result records the hash of the
  classifier that scored it (``classifier_sha256``);
- :func:`save_classifier` refuses to write anywhere inside the installed
  package unless ``replace_shipped=True`` (:func:`check_destination`); the
  one explicit way to regenerate the shipped weights is the command
  :data:`REGENERATE` (``classifier --replace-shipped``), whose printed
  SHA-256 then goes into :data:`CLASSIFIER_SHA256`.

:func:`train_classifier` is the library side of ``python -m minivae
classifier``: the architecture and schedule that made the shipped weights,
by keyword, returning the classifier without writing anything.
"""
from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

from ..datasets import load_data
from ..errors import CheckpointError, ConfigError
from .classifier import Classifier

#: the shipped classifier's weights
CLASSIFIER_PATH = Path(__file__).resolve().parent / "mnist_classifier.npz"
#: their SHA-256 (sha256sum minivae/metrics/mnist_classifier.npz)
CLASSIFIER_SHA256 = "cc4065f8f2f812f586eeff3fd2f3aab4fa58715ecda5920020d94e1342ce1d5e"
#: the command that made them (deterministic: the same bits again, NumPy with 2 BLAS threads); the
#: classifier command's help shows this string
REGENERATE = "OMP_NUM_THREADS=2 python -m minivae classifier --replace-shipped --epochs 10 --seed 0"
#: the installed package: nothing is written inside it unless asked for
PACKAGE_DIR = Path(__file__).resolve().parent.parent


def sha256_of(path):
    """The SHA-256 of the file at ``path``, as 64 hex digits."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_shipped(path=CLASSIFIER_PATH, expected=CLASSIFIER_SHA256):
    """The SHA-256 of the weights at ``path``; CheckpointError (one line) if it is not ``expected``."""
    got = sha256_of(path)
    if got != expected:
        raise CheckpointError(f"{os.fspath(path)}: SHA-256 {got[:16]}..., expected {expected[:16]}... (the shipped "
                              "yardstick weights were changed, so every FID would be off); restore the file "
                              f"(git checkout, or reinstall minivae) or regenerate it with: {REGENERATE}")
    return got


def inside_package(path):
    """True if ``path`` (resolved, symlinks followed) lies inside the installed minivae package."""
    resolved = Path(os.path.abspath(os.path.realpath(path)))
    return resolved == PACKAGE_DIR or PACKAGE_DIR in resolved.parents


def train_classifier(hidden_dims=(512, 256), epochs=10, batch_size=128, lr=1e-3, lr_schedule="cosine", seed=0,
                     train_size=None, backend="numpy", progress=True):
    """Train a :class:`Classifier` on MNIST as the shipped one was; writes nothing.

    Returns ``(classifier, history, test accuracy, seconds of training)``;
    the defaults are those of the shipped weights (module docstring).
    """
    from ..train import TrainConfig, fit

    clf = Classifier(hidden_dims=tuple(hidden_dims), seed=seed, backend=backend)
    train, _, test = load_data("mnist", train_size=train_size, seed=seed)
    cfg = TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, lr_schedule=lr_schedule, seed=seed)
    t0 = time.perf_counter()
    history = fit(clf, train.x, test.x, train.y, test.y, config=cfg, progress=progress)
    seconds = time.perf_counter() - t0
    return clf, history, clf.accuracy(test.x, test.y), seconds


def check_destination(path, replace_shipped=False, flag="--out"):
    """ConfigError (one line, naming ``flag``) for a ``path`` inside the package, unless ``replace_shipped``."""
    if inside_package(path) and not replace_shipped:
        raise ConfigError(f"{flag} {os.fspath(path)}: inside the installed minivae package (the shipped yardstick "
                          f"weights live there); write elsewhere, or regenerate the shipped weights on purpose: "
                          f"{REGENERATE}")


def save_classifier(classifier, path, extra=None, replace_shipped=False, flag="--out"):
    """Save ``classifier`` at ``path``; never inside the installed package unless ``replace_shipped``.

    Returns the path and the SHA-256 of what was written. ``flag`` names the
    option the path came from, for the one-line error.
    """
    check_destination(path, replace_shipped, flag)
    written = classifier.save(path, extra=extra)
    return written, sha256_of(written)
