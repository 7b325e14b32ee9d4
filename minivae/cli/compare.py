"""``python -m minivae compare CKPT [CKPT ...]``: VAE, GAN and VAE-GAN checkpoints side by side.

For each checkpoint (its kind from :func:`minivae.models.checkpoint.checkpoint_kind`):

    samples         --samples N images of the model (its generator reseeded with --seed), scored by the
                    yardstick (:mod:`minivae.metrics`): FID against the MNIST test set, class entropy, IS
    reconstructions the first N test images through the encoder and decoder, Dec(mu(x)), scored the same way
                    (VAE and VAE-GAN; a GAN has no encoder: n/a)
    test -ELBO      the pixel likelihood's negative ELBO on the test set (recon + KL, nats per image)
    NLL             -log p(x) by the k-sample importance estimate (--k, on the first --nll-n test images)
    params          every parameter of the checkpoint (a GAN's and a VAE-GAN's discriminator included)
    train time      wall_time_s of the metrics.json next to the checkpoint, else n/a

One table is printed (and written with --json), one figure (--out DIR) shows
each model's samples and reconstructions in a column. Images are made and
scored 1000 at a time.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time

import numpy

from ..models.checkpoint import checkpoint_kind, load_checkpoint, write_json
from .common import make_out_dir
from ..datasets import load_data
from ..errors import ConfigError, MiniVAEError
from ..train import evaluate

BATCH = 1000
KINDS = ("vae", "gan", "vaegan")
NOT_MNIST = "the yardstick's classifier knows MNIST digits only"
COLUMNS = (("kind", "kind", "s"), ("params", "params", "d"), ("sample_fid", "FID(s)", ".2f"),
           ("sample_class_entropy", "H(s)", ".3f"), ("sample_inception_score", "IS(s)", ".2f"),
           ("recon_fid", "FID(r)", ".2f"), ("recon_class_entropy", "H(r)", ".3f"),
           ("recon_inception_score", "IS(r)", ".2f"), ("test_elbo", "-ELBO", ".2f"), ("test_nll", "NLL", ".2f"),
           ("train_time_s", "train s", ".0f"))


def build_parser():
    p = argparse.ArgumentParser(prog="python -m minivae compare", allow_abbrev=False,
                                description="one table and one figure for any mix of VAE, GAN and VAE-GAN checkpoints")
    p.add_argument("checkpoints", nargs="+", metavar="CKPT", help="model.npz files (a run's folder also works)")
    p.add_argument("--samples", type=int, default=10000, metavar="N",
                   help="samples, and reconstructions of the first N test images, per model (>= 2)")
    p.add_argument("--k", type=int, default=5000, help="importance samples per test image of the NLL (0: skip it)")
    p.add_argument("--nll-n", type=int, default=None, metavar="M", help="the NLL on the first M test images only "
                   "(default: all; k=5000 on 10000 images takes many minutes on a CPU)")
    p.add_argument("--seed", type=int, default=0, help="the samples' and the NLL's generator")
    p.add_argument("--backend", choices=("numpy", "cupy"), default="numpy")
    p.add_argument("--out", default=None, metavar="DIR", help="write compare.png (and compare.json) there")
    p.add_argument("--json", default=None, metavar="FILE", help="write the table as JSON")
    p.add_argument("--quiet", action="store_true")
    return p


def reseed(model, seed):
    """Give ``model`` (and a VAE-GAN's inner VAE, whose generator its sampler uses) a fresh generator."""
    rng = model.backend.default_rng(seed)
    model.rng = rng
    if getattr(model, "vae", None) is not None:
        model.vae.rng = rng


def sample_images(model, n, seed, classes=None, batch=BATCH):
    """n samples of ``model`` as one host array (n, D) in [0, 1], drawn ``batch`` at a time after reseeding.

    ``classes``: a conditional VAE's number of classes (every class equally often).
    """
    reseed(model, seed)
    parts = []
    for s in range(0, n, batch):
        m = min(batch, n - s)
        x = model.sample(m) if not classes else model.sample(m, y=numpy.arange(s, s + m) % classes)
        parts.append(numpy.array(model.backend.to_numpy(x), dtype=numpy.float32))  # a copy: x may be a reused buffer
    return numpy.clip(numpy.concatenate(parts), 0, 1)


def reconstruction_images(model, x, y=None, batch=BATCH):
    """Dec(mu(x)) of the host images x (N, D), ``batch`` at a time, as one host array in [0, 1]."""
    parts = []
    for s in range(0, len(x), batch):
        args = (x[s:s + batch],) if y is None else (x[s:s + batch], y[s:s + batch])
        parts.append(numpy.array(model.backend.to_numpy(model.reconstruct(*args)), dtype=numpy.float32))
    return numpy.clip(numpy.concatenate(parts), 0, 1)


def quality(images, prefix):
    """The yardstick of ``images`` as {prefix_fid, prefix_class_entropy, prefix_inception_score}."""
    from ..metrics import sample_quality                  # the classifier loads only when asked for
    q = sample_quality(images)
    return {f"{prefix}_{k}": float(q[k]) for k in ("fid", "class_entropy", "inception_score")}


def load_model(path, backend):
    """(kind, model, extra) of the checkpoint ``path`` (a file, or a run's folder holding model.npz)."""
    path = os.path.join(path, "model.npz") if os.path.isdir(path) else path
    if not os.path.isfile(path):
        raise ConfigError(f"{path}: no such checkpoint (expected a model.npz of train, gan or vaegan)")
    kind = checkpoint_kind(path)
    if kind not in KINDS:
        raise ConfigError(f"{path}: a {kind!r} checkpoint; compare takes {', '.join(KINDS)} checkpoints")
    if kind == "vae":
        from ..models.vae import VAE as cls
    elif kind == "gan":
        from ..models.gan import GAN as cls
    else:
        from ..models.vaegan import VAEGAN as cls
    return kind, cls.load(path, backend=backend), load_checkpoint(path)[2]


def train_time(path):
    """wall_time_s of the metrics.json next to the checkpoint, or "n/a"."""
    folder = path if os.path.isdir(path) else os.path.dirname(os.path.abspath(path))
    try:
        with open(os.path.join(folder, "metrics.json")) as f:
            m = json.load(f)
    except (OSError, ValueError):
        return "n/a"
    t = m.get("wall_time_s") or (m.get("final") or {}).get("wall_time_s")
    return float(t) if isinstance(t, (int, float)) else "n/a"


def score(path, a, tests):
    """The table row of one checkpoint, and the images its figure shows."""
    kind, model, extra = load_model(path, a.backend)
    dataset, binarize = extra.get("dataset", "mnist"), bool(extra.get("binarize", False))
    key = (dataset, extra.get("data_dir"), binarize)
    if key not in tests:
        tests[key] = load_data(dataset, extra.get("data_dir"), binarize, seed=extra.get("seed", 0))[2]
    test = tests[key]
    classes = model.config.num_classes if kind == "vae" else None
    row = {"checkpoint": str(path), "kind": kind, "params": int(sum(int(v.size) for v in model.params.values())),
           "train_time_s": train_time(path), "samples": a.samples}
    n = min(a.samples, len(test.y))
    t0 = time.perf_counter()
    x_s = sample_images(model, a.samples, a.seed, classes)
    x_r = None if kind == "gan" else reconstruction_images(model, test.x[:n], test.y[:n] if classes else None)
    if dataset == "mnist":
        row.update(quality(x_s, "sample"))
        row.update(quality(x_r, "recon") if x_r is not None else {})
    else:
        row["note"] = NOT_MNIST
    row["quality_time_s"] = time.perf_counter() - t0
    if kind != "gan":
        y = test.y if classes else None
        xd = model.backend.asarray(test.x, dtype=model.dtype)
        res = evaluate(model, xd, y)
        row.update(test_elbo=res["recon"] + res["kl"], test_recon=res["recon"], test_kl=res["kl"])
        if a.k:
            m = len(test.y) if a.nll_n is None else min(a.nll_n, len(test.y))
            t0 = time.perf_counter()
            kw = {"y": y[:m]} if y is not None else {}
            ll = model.backend.to_numpy(model.log_likelihood(xd[:m], k=a.k, seed=a.seed, **kw))
            row.update(test_nll=float(-ll.mean()), k=a.k, nll_n=m, nll_time_s=time.perf_counter() - t0)
    return row, {"samples": x_s, "inputs": None if x_r is None else test.x[:n], "reconstructions": x_r}


def table(rows):
    """The rows as aligned text, one line per model, n/a where a figure does not apply."""
    names = [os.path.basename(os.path.dirname(os.path.abspath(r["checkpoint"]))) or r["checkpoint"] for r in rows]
    head = ["model"] + [title for _, title, _ in COLUMNS]
    body = [[name] + [_cell(r.get(key), fmt) for key, _, fmt in COLUMNS] for name, r in zip(names, rows)]
    widths = [max(len(line[i]) for line in [head] + body) for i in range(len(head))]
    return "\n".join("  ".join(c.rjust(w) for c, w in zip(line, widths)) for line in [head] + body)


def _cell(v, fmt):
    if v is None or v == "n/a" or (isinstance(v, float) and not math.isfinite(v)):
        return "n/a"
    return format(v, fmt)


def _check(a):
    for name, value, low in (("--samples", a.samples, 2), ("--k", a.k, 0), ("--nll-n", a.nll_n, 1)):
        if value is not None and value < low:
            raise ConfigError(f"{name} must be an integer >= {low}, got {value}"
                              + (" (FID needs a covariance)" if name == "--samples" else ""))


def cmd_compare(a):
    """Score every checkpoint; print the table; write --json and the figure. Returns 0."""
    _check(a)
    for path in a.checkpoints:                           # every path fails now, not after an hour of scoring
        load_model(path, "numpy")
    if a.out:
        make_out_dir(a.out)
    rows, images, tests = [], [], {}
    for path in a.checkpoints:
        if not a.quiet:
            print(f"scoring {path} ...", file=sys.stderr)
        row, im = score(path, a, tests)
        rows.append(row)
        images.append(im)
    text = table(rows)
    print(text)
    print("s: samples, r: reconstructions of the first N test images; FID against the MNIST test set, H the class "
          f"entropy (nats, ln 10 = 2.303 at best); -ELBO, NLL (k={a.k}) in nats per test image (pixel likelihood)")
    record = {"rows": rows, "samples": a.samples, "k": a.k, "nll_n": a.nll_n, "seed": a.seed, "table": text}
    if a.out:
        from ..figures.compare import comparison
        names = [os.path.basename(os.path.dirname(os.path.abspath(r["checkpoint"]))) for r in rows]
        record["figure"] = str(comparison(rows, images, names, os.path.join(a.out, "compare.png")))
        write_json(record, os.path.join(a.out, "compare.json"))
    if a.json:
        write_json(record, a.json)
    return 0



def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        a = build_parser().parse_args(argv)
    except SystemExit as exc:                            # --help (0), or argparse's own error (2), already printed
        return exc.code if isinstance(exc.code, int) else 2
    try:
        return cmd_compare(a)
    except MiniVAEError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
