"""The one sample-and-score path of ``evaluate``, ``compare`` and the training commands' final yardstick.

    sample_images(model, n, seed)   n samples, the model's generator reseeded with seed, drawn BATCH at a time;
                                    a conditional VAE's i-th sample has label i mod C (whatever the batching)
    reconstruction_images(model, x) Dec(mu(x)) (a VQ-VAE: Dec(z_q(x))), BATCH at a time
    yardstick(images)               FID against the MNIST test set, class entropy, Inception score, n and
                                    classifier_sha256, the SHA-256 of the classifier's weights that scored them

Images are host float32 arrays (N, D) clipped to [0, 1] (a Gaussian decoder's
means may leave it). Each takes ``progress=None``: a
:class:`minivae.train.Progress` (or any ``progress(done, total)``), which
gets one stage per loop (sampling, reconstructions, the classifier's features).
"""
from __future__ import annotations

import numpy

from ..errors import ConfigError
from ..train.progress import report, stage

BATCH = 1000
NOT_MNIST = "not computed: the yardstick's classifier (minivae.metrics) knows MNIST digits only"


def reseed(model, seed):
    """Give ``model`` (and a VAE-GAN's inner VAE, whose generator its sampler uses) a fresh generator."""
    rng = model.backend.default_rng(seed)
    model.rng = rng
    if getattr(model, "vae", None) is not None:
        model.vae.rng = rng


def num_classes(model):
    """A conditional model's class count, else None."""
    return getattr(model.config, "num_classes", None) or None


def labels(start, m, classes):
    """The labels of samples start .. start + m - 1: sample i has label i mod classes."""
    return numpy.arange(start, start + m) % classes


def sample_images(model, n, seed, batch=BATCH, progress=None):
    """n samples of ``model`` as one host array (n, D) in [0, 1], drawn ``batch`` at a time after reseeding."""
    from ..metrics.quality import draw_samples
    if isinstance(n, bool) or n < 2:
        raise ConfigError(f"--samples must be an integer >= 2 (FID needs a covariance), got {n}")
    reseed(model, seed)
    classes = num_classes(model)

    def sample(start, m):                                 # the images start .. start + m - 1
        return model.sample(m) if classes is None else model.sample(m, y=labels(start, m, classes))
    return draw_samples(sample, n, batch, progress=stage(progress, "sampling"))


def reconstruction_images(model, x, y=None, batch=BATCH, progress=None):
    """The reconstructions of the host images x (N, D), ``batch`` at a time, as one host array in [0, 1]."""
    parts, bar = [], stage(progress, "reconstructions")
    report(bar, 0, len(x))
    for s in range(0, len(x), batch):
        args = (x[s:s + batch],) if y is None else (x[s:s + batch], y[s:s + batch])
        parts.append(numpy.array(model.backend.to_numpy(model.reconstruct(*args)), dtype=numpy.float32))
        report(bar, min(s + batch, len(x)), len(x))
    return numpy.clip(numpy.concatenate(parts), 0, 1)


def yardstick(images, progress=None):
    """{"fid", "class_entropy", "inception_score", "n", "classifier_sha256"} of ``images``.

    :func:`minivae.metrics.sample_quality`, with the SHA-256 of the weights
    that scored (every FID a command writes carries it: a FID is comparable
    only with one scored by the same classifier).
    """
    from ..metrics import sample_quality                  # the classifier loads only when asked for
    q = sample_quality(images, progress=progress)
    return {**{k: float(q[k]) for k in ("fid", "class_entropy", "inception_score")}, "n": int(q["n"]),
            "classifier_sha256": q["classifier_sha256"]}


def describe(q):
    """One line of a yardstick's figures."""
    return (f"FID {q['fid']:.3f}  class entropy {q['class_entropy']:.4f} nats (ln 10 = 2.3026)  "
            f"IS {q['inception_score']:.3f}  ({q['n']} images, FID against the 10000 MNIST test images)")
