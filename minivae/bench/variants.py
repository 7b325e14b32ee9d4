"""``python -m minivae bench variants``: the training step of every VAE variant, side by side.

The pytorch/examples architecture (784-400-20, ReLU, Adam lr 1e-3) at batch
128 on real MNIST, one variant at a time: the default Bernoulli VAE, a CVAE,
free bits, a Gaussian decoder with fixed and with learned variance, a
denoising VAE, a KL warm-up, dynamically binarized input, and IWAE (k = 5);
then the design points, among them the two-stochastic-layer VAE at its own
(Burda et al.'s) sizes, 784-200-200-100 and 100-100-100-50, tanh.
A step is what the training loop does for one batch: gather the rows,
binarize or corrupt them, ``loss``, ``backward``, the Adam step and the
constraints. Rounds of ``--steps`` steps of each variant alternate, so a
slow spell of the machine hits every variant alike; the figure is the
median over rounds of the time per step, and its ratio to the default's.
With a baseline, ``paired`` is the median over rounds of each round's
ratio (this tree / the baseline, rounds run back to back), steadier than
the ratio of the two medians when the machine drifts.

``--baseline DIR`` times another checkout of minivae (say, the last release)
in a child process, alternating rounds with this one, and prints both
columns and their ratio. So this file uses only the public API that every
version has (``VAE``, ``Adam``, ``loss``, ``backward``, ``step``,
``minivae.train.corrupt``, ``minivae.datasets.binarize``) and imports
``minivae`` absolutely: the child runs it with the other checkout first on
its path.
"""
from __future__ import annotations

import argparse
import inspect
import json
import os
import statistics
import subprocess
import sys
import time

import numpy

ARCH = dict(input_dim=784, hidden_dims=(400,), latent_dim=20, activation="relu")
VARIANTS = {          # name: (VAE options, batch preparation)
    "default": ({}, {}),
    "cvae": ({"num_classes": 10}, {}),
    "free bits": ({"free_bits": 0.5}, {}),
    "gaussian, fixed variance": ({"likelihood": "gaussian"}, {}),
    "gaussian, learned variance": ({"likelihood": "gaussian", "learn_variance": True, "min_obs_logvar": -6.0}, {}),
    "denoising": ({}, {"denoise": 0.2}),
    "denoising + masking": ({}, {"denoise": 0.2, "mask_noise": 0.25}),
    "kl warm-up": ({}, {"warmup_steps": 2000}),
    "binarized": ({}, {"binarize": True}),
    "iwae k = 5": ({"iwae_k": 5}, {}),
}
#: the design points of HY-673 lecture 10: more work per step by design, timed to show their cost
DESIGN = {
    "full covariance": ({"posterior": "full"}, {}),
    "planar flow, K = 10": ({"flow": "planar", "flow_steps": 10}, {}),
    "IAF, K = 2, H = 80": ({"flow": "iaf", "flow_steps": 2, "iaf_hidden": 80}, {}),
    "mixture prior, 10": ({"prior": "mog"}, {}),
    "VampPrior, 500": ({"prior": "vamp"}, {}),
    "network variance": ({"likelihood": "gaussian", "variance": "network", "min_obs_logvar": -6.0}, {}),
    "categorical 20 x 10": ({"latent": "categorical", "categories": 10}, {}),
    "MMD-VAE": ({"mmd_weight": 100.0, "beta": 0.0}, {}),
    "skip decoder": ({"decoder_skip": True}, {}),
    "two layers (Burda), 100 + 50": ({"model": "TwoLayerVAE"}, {}),      # its own sizes: 784-200-200-100, 100-100-50
}
ALL = {**VARIANTS, **DESIGN}


class VariantStep:
    """One variant's model, optimizer, data and buffers; ``run(steps)`` times that many training steps."""

    def __init__(self, minivae, name, x, y, batch_size=128, seed=0):
        from minivae.datasets import binarize
        from minivae.train import corrupt

        model_kw, self.prep = ALL[name]
        model_kw = dict(model_kw)
        model = model_kw.pop("model", "VAE")       # another model class builds with its own default sizes
        self.vae = (minivae.VAE(**ARCH, **model_kw, seed=seed) if model == "VAE" else
                    getattr(minivae, model)(**model_kw, seed=seed))
        self.opt = minivae.Adam(self.vae.params, lr=1e-3)
        self.x, self.y = x, (y if getattr(self.vae.config, "conditional", False) else None)
        self.batch_size, self.beta = batch_size, self.vae.beta
        self.rng = numpy.random.default_rng(seed)
        self.binarize, self.corrupt = binarize, corrupt
        shape = (batch_size, x.shape[1])
        self.xb, self.x_in, self.work = (numpy.empty(shape, dtype=self.vae.dtype) for _ in range(3))
        self.buffered = "work" in inspect.signature(corrupt).parameters      # corrupt(..., out=, work=)
        self.order, self.pos, self.t = self.rng.permutation(len(x)), 0, 0
        self.prep_s = 0.0                 # time spent preparing batches (gather, binarize, corrupt)

    def step(self):
        t0 = time.perf_counter()
        if self.pos + self.batch_size > len(self.order):
            self.order, self.pos = self.rng.permutation(len(self.x)), 0
        idx = self.order[self.pos:self.pos + self.batch_size]
        self.pos += self.batch_size
        xb = numpy.take(self.x, idx, axis=0, out=self.xb, mode="clip")
        p = self.prep
        if p.get("binarize"):
            self.binarize(xb, self.rng, out=xb)
        x_in = xb
        if p.get("denoise") or p.get("mask_noise"):
            extra = {"out": self.x_in, "work": self.work} if self.buffered else {}
            x_in = self.corrupt(xb, self.rng, p.get("denoise", 0.0), p.get("mask_noise", 0.0), **extra)
        self.prep_s += time.perf_counter() - t0
        if p.get("warmup_steps"):
            self.vae.beta = self.beta * min(1.0, self.t / p["warmup_steps"])
        labels = {} if self.y is None else {"y": self.y[idx]}
        self.vae.loss(x_in, target=None if x_in is xb else xb, check=False, **labels)
        self.opt.step(self.vae.backward())
        self.vae.apply_constraints()
        self.t += 1

    def run(self, steps, untimed=3):
        """(Seconds per step, of which preparing the batch) over ``steps`` steps, after ``untimed`` steps
        that wake threads and caches."""
        for _ in range(untimed):
            self.step()
        self.prep_s, t0 = 0.0, time.perf_counter()
        for _ in range(steps):
            self.step()
        return (time.perf_counter() - t0) / steps, self.prep_s / steps


def load_mnist(limit=None):
    """The MNIST training images (N, 784) in [0, 1] and labels, the first LIMIT."""
    from minivae.datasets import load_dataset

    ds = load_dataset("mnist", "train")
    return (ds.x[:limit], ds.y[:limit]) if limit else (ds.x, ds.y)


def build(minivae, names, batch_size, limit=None, warmup=20):
    """A warmed-up VariantStep per name."""
    x, y = load_mnist(limit)
    steps = {name: VariantStep(minivae, name, x, y, batch_size) for name in names}
    for s in steps.values():
        s.run(warmup, untimed=0)
    return steps


def serve(names, batch_size, limit):
    """The child of ``--baseline``: answer each line "steps" on stdin with one JSON line of times."""
    import minivae

    steps = build(minivae, names, batch_size, limit)
    print(json.dumps({"ready": minivae.__file__}), flush=True)
    for r, line in enumerate(sys.stdin):
        order = names[r % len(names):] + names[:r % len(names)]
        print(json.dumps({name: steps[name].run(int(line)) for name in order}), flush=True)


class Baseline:
    """Another checkout's minivae in a child process, timing the same variants on request."""

    def __init__(self, path, names, batch_size, limit):
        if not os.path.isdir(os.path.join(path, "minivae")):
            raise SystemExit(f"bench variants: --baseline {path!r} has no minivae/ package (expected a checkout)")
        env = {**os.environ, "PYTHONPATH": os.path.abspath(path), "MINIVAE_VARIANTS": os.path.abspath(__file__)}
        code = "import os, runpy; runpy.run_path(os.environ['MINIVAE_VARIANTS'], run_name='__main__')"
        args = ["--serve", "--batch-size", str(batch_size), "--variants", *names]
        if limit:
            args += ["--limit", str(limit)]
        self.proc = subprocess.Popen([sys.executable, "-c", code, *args], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, env=env, cwd=os.path.abspath(path))
        self.origin = self._read()["ready"]

    def _read(self):
        line = self.proc.stdout.readline()
        if not line:
            raise SystemExit(f"bench variants: the baseline process ended (exit code {self.proc.wait()})")
        return json.loads(line)

    def run(self, steps):
        self.proc.stdin.write(f"{steps}\n")
        self.proc.stdin.flush()
        return self._read()

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(10)


def measure(names, batch_size=128, steps=40, rounds=7, baseline=None, limit=None, pause=0.3):
    """{"current": {name: [s per step, per round]}, "baseline": {...} or absent}, rounds alternating.

    ``pause`` seconds of idleness before each side's block, so that the other
    process's BLAS threads (they spin a while after each product) are asleep.
    """
    import minivae

    current = build(minivae, names, batch_size, limit)
    other = Baseline(baseline, names, batch_size, limit) if baseline else None
    times = {"current": {n: [] for n in names}}
    if other:
        times["baseline"] = {n: [] for n in names}
        times["baseline_origin"] = other.origin
    try:
        for r in range(rounds):
            time.sleep(pause if other else 0)
            for name in names[r % len(names):] + names[:r % len(names)]:     # each variant first in turn
                times["current"][name].append(current[name].run(steps))
            if other:
                time.sleep(pause)
                for name, t in other.run(steps).items():
                    times["baseline"][name].append(t)
    finally:
        if other:
            other.close()
    return times


def table(times):
    """The printed table and the summary dict (medians in ms, ratios to the default and to the baseline)."""
    sides = [side for side in ("current", "baseline") if side in times]
    med = {side: {n: 1e3 * statistics.median(t for t, _ in v) for n, v in times[side].items()} for side in sides}
    prep = {n: 1e3 * statistics.median(p for _, p in v) for n, v in times["current"].items()}
    rows, summary = [], {}
    head = f"{'variant':<28}{'ms/step':>9}{'of it, batch':>14}{'/default':>10}"
    if "baseline" in med:
        head += f"{'baseline ms':>13}{'/default':>10}{'now/then':>10}{'paired':>9}"
    for n, ms in med["current"].items():
        r = ms / med["current"]["default"]
        row = f"{n:<28}{ms:9.3f}{prep[n]:14.3f}{r:10.3f}"
        summary[n] = {"ms": ms, "batch_ms": prep[n], "ratio_to_default": r}
        if "baseline" in med:
            b = med["baseline"][n]
            row += f"{b:13.3f}{b / med['baseline']['default']:10.3f}{ms / b:10.3f}"
            paired = statistics.median(c[0] / o[0] for c, o in zip(times["current"][n], times["baseline"][n]))
            row += f"{paired:9.3f}"
            summary[n].update(baseline_ms=b, baseline_ratio_to_default=b / med["baseline"]["default"],
                              ratio_to_baseline=ms / b, paired_ratio_to_baseline=paired)
        rows.append(row)
    plain = [n for n in summary if not n.startswith("iwae") and n not in DESIGN]
    worst = max(plain, key=lambda n: summary[n]["ratio_to_default"])
    model = {n: (med["current"][n] - prep[n]) / (med["current"]["default"] - prep["default"]) for n in plain}
    rows.append(f"worst non-IWAE variant: {worst}, {summary[worst]['ratio_to_default']:.3f}x the default step; "
                f"without preparing the batch: {max(model.values()):.3f}x")
    if "baseline" in med:
        d = summary["default"]
        rows.append(f"default step, this tree / the baseline: {d['ratio_to_baseline']:.3f} (medians), "
                    f"{d['paired_ratio_to_baseline']:.3f} (paired rounds)")
    return "\n".join([head, "-" * len(head), *rows]), summary


def add_arguments(p):
    """The options of ``bench variants``, added to the parser ``p``."""
    p.add_argument("--variants", nargs="+", default=None, choices=list(ALL), metavar="NAME",
                   help=f"variants to time (default: all; with --baseline, those an older checkout has): "
                        f"{', '.join(ALL)}")
    p.add_argument("--batch-size", type=int, default=128, help="images per step")
    p.add_argument("--steps", type=int, default=40, help="steps per variant per round")
    p.add_argument("--rounds", type=int, default=7, help="rounds; the figure is the median over them")
    p.add_argument("--limit", type=int, default=None, help="use the first LIMIT training images only")
    p.add_argument("--baseline", default=None, metavar="DIR", help="also time the minivae checkout in DIR")
    p.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    return p


def build_parser():
    """The parser of ``python -m minivae.bench.variants`` run on its own (``python -m minivae bench variants`` uses
    :func:`add_arguments` in the one parser of :mod:`minivae.cli`)."""
    p = argparse.ArgumentParser(allow_abbrev=False, prog="python -m minivae bench variants",
                                description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    add_arguments(p)
    return p


def main(argv=None):
    """Parse ``argv`` and run; returns the exit status."""
    return run_command(build_parser().parse_args(sys.argv[1:] if argv is None else argv))


def run_command(a):
    if a.batch_size < 1 or a.steps < 1 or a.rounds < 1:
        print("bench variants: --batch-size, --steps and --rounds must be >= 1", file=sys.stderr)
        return 2
    chosen = a.variants or list(VARIANTS if a.baseline else ALL)
    names = ["default", *[n for n in chosen if n != "default"]]
    if a.serve:
        serve(names, a.batch_size, a.limit)
        return 0
    times = measure(names, a.batch_size, a.steps, a.rounds, a.baseline, a.limit)
    text, summary = table(times)
    print(f"minivae bench variants: 784-400-20 ReLU, batch {a.batch_size}, {a.rounds} rounds of {a.steps} steps "
          f"each, alternating" + (f"; baseline: {times['baseline_origin']}" if a.baseline else ""))
    print(text)
    print(json.dumps({"bench": "variants", "batch_size": a.batch_size, "variants": summary}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
