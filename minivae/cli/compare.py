"""``python -m minivae compare CKPT [CKPT ...]``: VAE, GAN, VAE-GAN, VQ-VAE and autoencoder checkpoints side by side.

For each checkpoint (its class from :mod:`minivae.models.registry`):

    samples         --samples N images of the model (its generator reseeded with --seed), scored by the
                    yardstick (:mod:`minivae.metrics`): FID against the MNIST test set, class entropy, IS
    reconstructions the first N test images through the encoder and decoder, scored the same way
                    (every kind but the GAN, which has no encoder: n/a)
    recon           the test reconstruction term -E_q log p(x|z) (a VQ-VAE: -log p(x|z_q(x)); an autoencoder:
                    -log p(x|Enc(x))), nats per image
    test -ELBO      the pixel likelihood's negative ELBO on the test set (recon + KL, nats per image; VAE, VAE-GAN)
    NLL             -log p(x) by the k-sample importance estimate (--k, on the first --nll-n test images)
    params          every parameter of the checkpoint (a GAN's and a VAE-GAN's discriminator included)
    train time      the run's training seconds over every session (resumes added up), from the metrics.json
                    next to the checkpoint (:func:`minivae.train.train_seconds`, older layouts too), else n/a

One table is printed (and written with --json; each row records the
SHA-256 of the classifier that scored its FIDs), one figure (--out DIR) shows
each model's samples and reconstructions in a column. Images are drawn by
:mod:`minivae.cli.sampling`, as ``evaluate`` draws them, and scored 1000 at a
time. Each model is a stage on stderr (its sampling, features and NLL with a
bar and the time left in a terminal, a line each in a log; nothing with --quiet).
"""
from __future__ import annotations

import math
import os
import sys
import time

from ..datasets import load_data
from ..errors import ConfigError
from ..models.checkpoint import load_checkpoint, write_json
from ..models.registry import checkpoint_file, load
from ..train import evaluate, train_seconds
from ..train.progress import Progress, report, stage
from ..train.run_folder import resolve_run
from .common import BACKENDS, check_at_least, out_file, out_folder
from .sampling import NOT_MNIST, num_classes, reconstruction_images, sample_images, yardstick

#: kinds with no KL term nor an importance estimate: their row has recon only
NO_LATENT_DENSITY = ("vqvae", "ae")
COLUMNS = (("kind", "kind", "s"), ("params", "params", "d"), ("sample_fid", "FID(s)", ".2f"),
           ("sample_class_entropy", "H(s)", ".3f"), ("sample_inception_score", "IS(s)", ".2f"),
           ("recon_fid", "FID(r)", ".2f"), ("recon_class_entropy", "H(r)", ".3f"),
           ("recon_inception_score", "IS(r)", ".2f"), ("test_recon", "recon", ".2f"), ("test_elbo", "-ELBO", ".2f"),
           ("test_nll", "NLL", ".2f"), ("train_time_s", "train s", ".0f"))
EXAMPLES = """examples:
  python -m minivae compare runs/latest runs/gan runs/vaegan --out runs/compare
  python -m minivae compare runs/latest runs/vqvae --samples 1000 --k 100 --nll-n 200"""


def add_parser(sub):
    p = sub.add_parser("compare", help="VAE, GAN, VAE-GAN and VQ-VAE checkpoints side by side",
                       description="one table and one figure for any mix of VAE, GAN, VAE-GAN and VQ-VAE "
                                   "checkpoints", epilog=EXAMPLES)
    p.add_argument("checkpoints", nargs="+", metavar="CKPT", help="model.npz files (a run's folder also works)")
    p.add_argument("--samples", type=int, default=10000, metavar="N",
                   help="samples, and reconstructions of the first N test images, per model (>= 2)")
    p.add_argument("--k", type=int, default=5000, help="importance samples per test image of the NLL (0: skip it)")
    p.add_argument("--nll-n", type=int, default=None, metavar="M", help="the NLL on the first M test images only "
                   "(none: all; k=5000 on 10000 images takes many minutes on a CPU)")
    p.add_argument("--seed", type=int, default=0, help="the samples' and the NLL's generator")
    p.add_argument("--backend", choices=BACKENDS, default="numpy", help="numpy (CPU) or cupy (an NVIDIA GPU)")
    p.add_argument("--out", default=None, metavar="DIR", help="write compare.png and compare.json there")
    p.add_argument("--json", default=None, metavar="FILE", help="write the table as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    return p


def train_time(path):
    """The run's training seconds over every session, from the metrics.json next to the checkpoint, or "n/a"."""
    t = train_seconds(path)
    return float(t) if isinstance(t, (int, float)) else "n/a"


def _prefixed(q, prefix):
    return {f"{prefix}_{k}": q[k] for k in ("fid", "class_entropy", "inception_score")}


def score(path, a, tests, progress=None):
    """The table row of one checkpoint, and the images its figure shows; ``progress``: a Progress (or None)."""
    model = load(path, backend=a.backend)
    kind, extra = model.kind, load_checkpoint(checkpoint_file(path))[2]
    dataset, binarize = extra.get("dataset", "mnist"), bool(extra.get("binarize", False))
    key = (dataset, extra.get("data_dir"), binarize)
    if key not in tests:
        tests[key] = load_data(dataset, extra.get("data_dir"), binarize, seed=extra.get("seed", 0))[2]
    test = tests[key]
    classes = num_classes(model)
    row = {"checkpoint": str(path), "kind": kind, "params": int(sum(int(v.size) for v in model.params.values())),
           "train_time_s": train_time(path), "samples": a.samples}
    n = min(a.samples, len(test.y))
    t0 = time.perf_counter()
    x_s = sample_images(model, a.samples, a.seed, progress=progress)
    x_r = None if kind == "gan" else reconstruction_images(model, test.x[:n], test.y[:n] if classes else None,
                                                           progress=progress)
    if dataset == "mnist":
        q = yardstick(x_s, progress)
        row.update(_prefixed(q, "sample"), classifier_sha256=q["classifier_sha256"])
        row.update(_prefixed(yardstick(x_r, progress), "recon") if x_r is not None else {})
    else:
        row["note"] = NOT_MNIST
    row["quality_time_s"] = time.perf_counter() - t0
    if kind != "gan":
        y = test.y if classes else None
        xd = model.backend.asarray(test.x, dtype=model.dtype)
        res = evaluate(model, xd, y)
        row["test_recon"] = res["recon"]
        if kind not in NO_LATENT_DENSITY:
            row.update(test_elbo=res["recon"] + res["kl"], test_kl=res["kl"])
        if a.k and kind not in NO_LATENT_DENSITY:
            m = len(test.y) if a.nll_n is None else min(a.nll_n, len(test.y))
            t0 = time.perf_counter()
            kw = {"y": y[:m]} if y is not None else {}
            bar = stage(progress, f"NLL (k={a.k})")
            report(bar, 0, m)                              # the bar shows before the first batch is done
            ll = model.backend.to_numpy(model.log_likelihood(xd[:m], k=a.k, seed=a.seed, progress=bar, **kw))
            row.update(test_nll=float(-ll.mean()), k=a.k, nll_n=m, nll_time_s=time.perf_counter() - t0)
    return row, {"samples": x_s, "inputs": None if x_r is None else test.x[:n], "reconstructions": x_r}


def table(rows):
    """The rows as aligned text, one line per model, n/a where a figure does not apply."""
    names = run_names([r["checkpoint"] for r in rows])
    head = ["model"] + [title for _, title, _ in COLUMNS]
    body = [[name] + [_cell(r.get(key), fmt) for key, _, fmt in COLUMNS] for name, r in zip(names, rows)]
    widths = [max(len(line[i]) for line in [head] + body) for i in range(len(head))]
    return "\n".join("  ".join(c.rjust(w) for c, w in zip(line, widths)) for line in [head] + body)


def run_names(paths):
    """The label of each checkpoint: its run folder's name (the folder given, or the one holding the file).

    Two labels that would be the same get the folder above too (``a/vae`` and ``b/vae``), and then the path as given.
    """
    folders = [os.path.abspath(p) if os.path.isdir(p) else os.path.dirname(os.path.abspath(p)) for p in paths]
    names = [os.path.basename(f) or f for f in folders]
    if len(set(names)) < len(names):
        names = [os.path.join(os.path.basename(os.path.dirname(f)), os.path.basename(f)) for f in folders]
    return names if len(set(names)) == len(names) else [os.fspath(p) for p in paths]


def _cell(v, fmt):
    if v is None or v == "n/a" or (isinstance(v, float) and not math.isfinite(v)):
        return "n/a"
    return format(v, fmt)


def run(a):
    """Score every checkpoint; print the table; write --json and the figure. Returns 0."""
    check_at_least(samples=(a.samples, 2), k=(a.k, 0), nll_n=(a.nll_n, 1))
    a.checkpoints = [os.fspath(resolve_run(p)) for p in a.checkpoints]   # runs/latest, a symlink or a text file
    for path in a.checkpoints:                           # every path fails now, not after an hour of scoring
        if not os.path.exists(path):
            raise ConfigError(f"{path}: no such checkpoint (a model.npz, or a run's folder holding one)")
        load(path)
    if a.out:
        out_folder(a.out)
    if a.json:
        out_file(a.json, "--json")
    rows, images, tests = [], [], {}
    progress = Progress(enabled=not a.quiet)
    for i, path in enumerate(a.checkpoints, 1):
        if not a.quiet:
            print(f"[{i}/{len(a.checkpoints)}] scoring {path}", file=sys.stderr)
        row, im = score(path, a, tests, progress)
        rows.append(row)
        images.append(im)
    text = table(rows)
    print(text)
    print("s: samples, r: reconstructions of the first N test images; FID against the MNIST test set, H the class "
          f"entropy (nats, ln 10 = 2.303 at best); recon, -ELBO, NLL (k={a.k}) in nats per test image (pixel "
          "likelihood)")
    record = {"rows": rows, "samples": a.samples, "k": a.k, "nll_n": a.nll_n, "seed": a.seed, "table": text}
    if a.out:
        from ..figures.compare import comparison
        record["figure"] = str(comparison(rows, images, run_names(a.checkpoints), os.path.join(a.out, "compare.png")))
        write_json(record, os.path.join(a.out, "compare.json"))
    if a.json:
        write_json(record, a.json)
    return 0
