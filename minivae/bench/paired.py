"""Benchmark: the test-NLL differences between ``bench nll`` runs, each with its paired standard error.

Every ``bench nll`` run scores the same binarized test images (the first
``--n``) and writes log p(x_n) of each to ``log_px.npy``. Two models' NLLs
differ by the mean of the per-image differences, and that mean's error is
the paired one:

    d_n = log p_A(x_n) - log p_B(x_n)          (NLL_B - NLL_A on image n)
    Delta = 1/N sum_n d_n,   SE(Delta) = std(d) / sqrt(N),

much smaller than the errors of the two NLLs themselves (about 0.6 nats on
2,000 images), since most of an image's difficulty is shared by both models.
Every run is compared with the first one given.

    python -m minivae bench paired runs/nll-diagonal runs/nll-iaf runs/nll-planar
"""
from __future__ import annotations

import json
import math
import os

import numpy

from ..errors import ConfigError
from .nll import LOG_PX


def add_arguments(p):
    p.add_argument("runs", nargs="+", metavar="DIR", help="bench nll --out folders; the first is the reference")
    p.add_argument("--json", default=None, metavar="FILE", help="also write the table as JSON")


def read_run(folder):
    """(results.json's dict, the per-image log p(x)) of a ``bench nll`` folder; a ConfigError naming it if not one."""
    files = [os.path.join(folder, name) for name in ("results.json", LOG_PX)]
    missing = [f for f in files if not os.path.isfile(f)]
    if missing:
        raise ConfigError(f"{folder}: not a finished bench nll run (no {os.path.basename(missing[0])}; a run older "
                          f"than bench paired: score it again with bench nll --eval-only {folder}/model.npz --out {folder})")
    with open(files[0]) as f:
        return json.load(f), numpy.load(files[1])


def paired(reference, other):
    """(Delta, SE): the NLL of ``other`` minus that of ``reference`` and its paired standard error (nats)."""
    d = numpy.asarray(reference, dtype=numpy.float64) - numpy.asarray(other, dtype=numpy.float64)
    return float(d.mean()), float(d.std(ddof=1) / math.sqrt(len(d)))


def _label(res):
    design = ", ".join(f"{k}={v}" for k, v in (res.get("design") or {}).items()) or "plain"
    return f"{res.get('objective', '?')} k={res.get('iwae_k', '?')}, {design}, {res.get('epochs', '?')} epochs"


def run_command(a):
    """Print one row per run: its NLL with its own error, and its difference from the first with the paired error."""
    runs = [read_run(folder) for folder in a.runs]
    n = {len(ll) for _, ll in runs}
    if len(n) > 1:
        raise ConfigError(f"the runs scored different test sets ({sorted(n)} images): give runs of one --n")
    ref = runs[0][1]
    rows = []
    for folder, (res, ll) in zip(a.runs, runs):
        delta, se = paired(ref, ll)
        rows.append({"run": folder, "model": _label(res), "k": res.get("k"), "n": len(ll),
                     "test_nll": float(-ll.mean()), "test_nll_sem": float(ll.std(ddof=1) / math.sqrt(len(ll))),
                     "minus_first": delta, "paired_sem": se})
    w = max(len(r["run"]) for r in rows)
    print(f"{'run':<{w}}  {'NLL':>16}  {'minus the first':>18}  model")
    for r in rows:
        diff = "" if r is rows[0] else f"{r['minus_first']:+.2f} +- {r['paired_sem']:.2f}"
        print(f"{r['run']:<{w}}  {r['test_nll']:>8.2f} +- {r['test_nll_sem']:.2f}  {diff:>18}  {r['model']}")
    print(f"nats per test image, {rows[0]['n']} images; +-: one standard error (paired for the differences)")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"rows": rows}, f, indent=2)
    return 0
