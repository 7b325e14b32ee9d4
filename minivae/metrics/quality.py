"""The yardstick: FID, class entropy and Inception score of any generator's images, by the shipped classifier.

Images are (N, 784) in [0, 1] (N >= 2: FID needs a covariance), NumPy or
CuPy; they pass through the classifier once, in batches, and everything
after that is float64 NumPy:

    fid(images)              Fréchet distance of the classifier's penultimate features of the images
                             and of the 10,000 MNIST test images (:func:`minivae.metrics.fid.frechet_distance`)
    class_entropy(images)    entropy (nats) of the predicted-class histogram: ln 10 = 2.303 at best, ~0 under
                             mode collapse (:mod:`minivae.metrics.scores`)
    inception_score(images)  exp E_x KL(p(y|x) || p(y)), in [1, 10]
    sample_quality(images)   the three at once, with n
    real_data_floor(n)       the same figures for n real training images: what a perfect generator scores
    draw_samples(sample, n)  n images of any generator, a batch at a time, as one host array

Each takes ``progress=None``: a callable ``progress(done, total)`` (e.g. a
:class:`minivae.train.Progress`, which also names the stages: sampling,
the reference statistics, the classifier's features).

The classifier (:func:`load_classifier`) and the reference statistics are
cached per process; :func:`clear_cache` forgets them (tests reset it). The
shipped weights are checked against their SHA-256 when they are loaded
(:mod:`minivae.metrics.weights`), and ``sample_quality`` and
``real_data_floor`` record the hash of the classifier that scored
(``classifier_sha256``; None for a classifier that was never saved).
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy

from ..backend import array_module
from ..datasets import DATA_DIR, INPUT_DIM, load_dataset
from ..errors import CheckpointError, ConfigError, DataError, ShapeError
from ..softmax import log_softmax
from ..train.progress import report, stage
from .classifier import Classifier
from .fid import frechet_distance, gaussian_statistics
from .weights import CLASSIFIER_PATH, check_shipped, sha256_of
from .scores import class_entropy_of, inception_score_of

REFERENCES = ("test", "train")
BATCH = 1000

_CACHE: dict = {}


def clear_cache():
    """Forget the loaded classifiers and their reference statistics (the next call loads them anew)."""
    _CACHE.clear()


def load_classifier(path=None, backend=None):
    """The classifier saved at ``path`` (default: the shipped one, its SHA-256 checked), cached per process.

    The cache key is the file (resolved path, modification time, size) and the
    backend, so a rewritten file is read again; :func:`clear_cache` empties it.
    The classifier's ``sha256`` is its file's.
    """
    path = Path(CLASSIFIER_PATH if path is None else path).resolve()
    stat = path.stat() if path.is_file() else None
    if stat is None:
        raise CheckpointError(f"no classifier checkpoint at {os.fspath(path)!r}; train one with "
                              f"`python -m minivae classifier --out {os.fspath(path)}`")
    key = ("classifier", str(path), stat.st_mtime_ns, stat.st_size, getattr(backend, "name", backend))
    if key not in _CACHE:
        digest = check_shipped(path) if path == CLASSIFIER_PATH else sha256_of(path)
        clf = Classifier.load(path, backend=backend)
        clf.sha256 = digest
        _CACHE[key] = clf
    return _CACHE[key]


def check_images(images, name="images", min_n=2):
    """images as a host float array (N, 784) with N >= min_n, finite, in [0, 1]; else a clear error."""
    xp = array_module(images)
    if xp is not numpy:
        images = xp.asnumpy(images)
    x = numpy.asarray(images)
    if x.ndim != 2 or x.shape[1] != INPUT_DIM or x.shape[0] < min_n:
        raise ShapeError(f"{name}: got shape {x.shape}, expected (N, {INPUT_DIM}) flattened 28x28 images with "
                         f"N >= {min_n}" + (" (FID needs a covariance)" if min_n == 2 else ""))
    if x.dtype.kind != "f":
        raise DataError(f"{name}: dtype {x.dtype}, expected floats in [0, 1] (uint8 pixels: divide by 255)")
    bad = ~numpy.isfinite(x)
    if bad.any():
        raise DataError(f"{name}: {int(bad.sum())} non-finite values (the first at {tuple(numpy.argwhere(bad)[0])}); "
                        "expected finite pixels in [0, 1]")
    lo, hi = float(x.min()), float(x.max())
    if lo < 0 or hi > 1:
        raise DataError(f"{name}: values in [{lo:.4g}, {hi:.4g}], expected pixels in [0, 1]")
    return x


def classify(images, classifier=None, batch_size=BATCH, name="images", progress=None):
    """(features h (N, H), log p(y|x) (N, C)) of checked images, float64 host arrays, in batches."""
    clf = load_classifier() if classifier is None else classifier
    x = check_images(images, name)
    to_host = clf.backend.to_numpy
    feats, logps = [], []
    report(progress, 0, x.shape[0])
    for s in range(0, x.shape[0], batch_size):
        h = clf.features(x[s:s + batch_size])                       # (B, H) on the classifier's backend
        feats.append(to_host(h).astype(numpy.float64))
        logps.append(log_softmax(to_host(clf.head(h)).astype(numpy.float64)))
        report(progress, min(s + batch_size, x.shape[0]), x.shape[0])
    return numpy.concatenate(feats), numpy.concatenate(logps)


def draw_samples(sample, n, batch_size=BATCH, progress=None):
    """n images of a generator as one host float32 array (n, D) clipped to [0, 1], ``batch_size`` at a time.

    ``sample(start, m)`` returns the m images numbered start .. start + m - 1
    (NumPy or CuPy; a conditional model picks their labels from the numbers).
    """
    if isinstance(n, bool) or not isinstance(n, (int, numpy.integer)) or n < 1:
        raise ConfigError(f"n must be a positive integer (images to draw), got {n!r}")
    parts = []
    report(progress, 0, n)
    for s in range(0, n, batch_size):
        m = min(batch_size, n - s)
        x = sample(s, m)
        xp = array_module(x)
        parts.append(numpy.array(xp.asnumpy(x) if xp is not numpy else x, dtype=numpy.float32))   # a copy
        report(progress, s + m, n)
    return numpy.clip(numpy.concatenate(parts), 0, 1)


def reference_statistics(reference="test", classifier=None, progress=None):
    """(mu, C) of the classifier's features of MNIST's ``reference`` split ("test": 10,000 images), cached."""
    if reference not in REFERENCES:
        raise ConfigError(f"reference must be one of {REFERENCES} (an MNIST split), got {reference!r}")
    clf = load_classifier() if classifier is None else classifier
    key = ("reference", id(clf), reference)
    if key not in _CACHE:
        x = load_dataset("mnist", reference).x
        h = classify(x, clf, name=f"MNIST {reference}", progress=stage(progress, f"features of MNIST {reference}"))[0]
        _CACHE[key] = (clf, gaussian_statistics(h))                                      # keeps clf alive
    return _CACHE[key][1]


def _figures(h, log_p, reference, classifier, progress=None):
    mu, C = gaussian_statistics(h)
    clf = load_classifier() if classifier is None else classifier
    return {"fid": frechet_distance(mu, C, *reference_statistics(reference, clf, progress)),
            "class_entropy": class_entropy_of(log_p), "inception_score": inception_score_of(log_p),
            "n": int(h.shape[0]), "classifier_sha256": getattr(clf, "sha256", None)}


def fid(images, reference="test", classifier=None, progress=None):
    """Fréchet distance between the features of ``images`` and of the MNIST ``reference`` images (module docstring)."""
    h, _ = classify(images, classifier, progress=stage(progress, "features of the images"))
    mu, C = gaussian_statistics(h)
    return frechet_distance(mu, C, *reference_statistics(reference, classifier, progress))


def class_entropy(images, classifier=None):
    """Entropy (nats) of the histogram of predicted classes of ``images``: ln 10 ~ 2.303 at most."""
    return class_entropy_of(classify(images, classifier)[1])


def inception_score(images, classifier=None):
    """exp(E_x KL(p(y|x) || p(y))) with the classifier's p(y|x), in [1, 10]."""
    return inception_score_of(classify(images, classifier)[1])


def sample_quality(images, reference="test", classifier=None, progress=None):
    """``{"fid", "class_entropy", "inception_score", "n"}`` of ``images`` in one pass through the classifier."""
    h, log_p = classify(images, classifier, progress=stage(progress, "features of the images"))
    return _figures(h, log_p, reference, classifier, progress)


def real_data_floor(n=10000, seed=0, reference="test", classifier=None, progress=None):
    """The figures of ``n`` MNIST training images (drawn without replacement, ``seed``) against ``reference``.

    What a generator that drew real digits would score: the floor of the FID
    (not 0: a finite sample of other images) and the ceiling of the scores.
    The classifier was trained on these images, so it is surer of them than
    of unseen ones: their Inception score (9.91 for n = 10000) is a little
    above the test set's own (9.76).
    """
    if isinstance(n, bool) or not isinstance(n, (int, numpy.integer)) or not 2 <= n <= 60000:
        raise ConfigError(f"n must be an integer in [2, 60000] (training images), got {n!r}")
    train = load_dataset("mnist", "train").x
    idx = numpy.sort(numpy.random.default_rng(seed).choice(train.shape[0], int(n), replace=False))
    return sample_quality(train[idx], reference, classifier, progress)


def describe(figures):
    """One line of the figures, e.g. ``FID 12.3  class entropy 2.29 nats  IS 9.41  (10000 images)``."""
    return (f"FID {figures['fid']:.3f}  class entropy {figures['class_entropy']:.4f} nats (max ln 10 = "
            f"{numpy.log(10):.4f})  IS {figures['inception_score']:.3f}  ({figures['n']} images)")
