"""Benchmark: test NLL of the Burda et al. (2015) one-stochastic-layer VAE / IWAE on MNIST.

Architecture (Burda, Grosse & Salakhutdinov 2015, section 5): a 784-200-200-50
tanh encoder, the mirrored 50-200-200-784 tanh decoder, Bernoulli likelihood,
dynamically binarized MNIST (each training batch resampled). The decoder's
output bias starts at the logit of the mean training image
(``VAE.init_output_bias``). Trained within a time budget (default 600 s) with
Adam and a cosine learning-rate decay that reaches its floor when the budget
(or the epoch count) runs out, on all 60,000 training images, keeping the last
weights; with ``--val-size 10000`` the last 10,000 are held out instead and
the weights with the best validation -ELBO are kept (model selection, never on
the test set). Then, on the full test set (binarized once with a fixed seed):

    test NLL = -1/N sum_n log p(x_n),  log p(x) estimated with k = 5000
    importance samples (the k-sample IWAE bound, ``VAE.log_likelihood``),

with the test -ELBO, KL and active units. Prints a table and one JSON line.
Published after 3,280 epochs: 86.76 nats (VAE), 84.78 (IWAE, k = 50).

    python -m minivae bench nll --time-budget 600
    python -m minivae bench nll --iwae-k 5 --epochs 200 --time-budget 0
    python -m minivae bench nll --iwae-k 5 --vr-alpha 0.5 --epochs 20 --time-budget 0   (the Rényi bound)
    python -m minivae bench nll --flow planar --flow-steps 10 --epochs 20 --time-budget 0
    python -m minivae bench nll --prior vamp --epochs 20 --time-budget 0
    python -m minivae bench nll --layers 2 --iwae-k 5 --epochs 20 --time-budget 0   (two stochastic layers)

``--layers 2`` trains Burda et al.'s second architecture instead (:class:`minivae.TwoLayerVAE`:
784-200-200-100 and 100-100-100-50, tanh, mirrored; published after 3,280 epochs: 85.33 nats as a VAE,
82.90 as an IWAE with k = 50), with the same protocol; its active units are reported per layer.

The design-point flags are ``train``'s (:mod:`minivae.cli.design`), so each
row of the README's table of posteriors and priors is one command.
    python -m minivae.bench.nll --eval-only runs/bench-nll/model.npz

A run writes ``results.json`` and ``log_px.npy`` (log p(x) of each test
image) to ``--out``; ``python -m minivae bench paired DIR DIR ...`` gives
the differences between runs with their paired standard errors.
"""
from __future__ import annotations

import contextlib
import json
import math
import multiprocessing
import os
import signal
import sys
import threading
import time

import numpy

from ..models.checkpoint import load_checkpoint
from ..cli.parser import given
from ..cli.design import (add_design_args, add_layers_args, add_renyi_args, design_kwargs, one_layer_flags, prepare,
                          two_layer_kwargs)
from ..datasets import load_data
from ..errors import ConfigError
from ..train import Progress, TrainConfig, evaluate, fit
from ..train.progress import report, stage
from ..models.registry import load
from ..models.two_layer import TwoLayerVAE
from ..models.vae import VAE

TRAINING = ("time_budget", "budget_clock", "batch_size", "lr", "lr_schedule", "lr_min", "lr_decay", "val_size",
            "train_size", "output_bias", "seed")
ARCH = dict(input_dim=784, hidden_dims=(200, 200), latent_dim=50, likelihood="bernoulli", activation="tanh",
            init="auto")   # Xavier for the tanh layers


#: the per-image log p(x) of the test images, beside results.json (``bench paired`` reads it)
LOG_PX = "log_px.npy"


def add_arguments(p):
    """The options of ``bench nll``, added to the parser ``p``."""
    p.add_argument("--time-budget", type=float, default=600.0, metavar="SECONDS",
                   help="training time budget (0: no budget, train --epochs epochs)")
    p.add_argument("--budget-clock", choices=("wall", "cpu"), default="wall",
                   help="count the budget in wall-clock seconds or in this process's CPU seconds (all threads; "
                        "fairer on a shared machine)")
    p.add_argument("--epochs", type=int, default=10_000, help="at most this many epochs")
    p.add_argument("--iwae-k", type=int, default=1, metavar="K", help="train on the K-sample IWAE bound")
    design = p.add_argument_group("design points of the one-layer VAE (HY-673 lecture 10)")
    add_renyi_args(design)
    add_design_args(design)
    add_layers_args(p.add_argument_group("two stochastic layers (Burda et al.'s second architecture)"), sizes=False)
    p.set_defaults(one_layer_only=one_layer_flags(design))
    p.add_argument("--likelihood", choices=("bernoulli", "gaussian"), default="bernoulli",
                   help="the decoder's likelihood (gaussian: with --variance)")
    p.add_argument("--batch-size", type=int, default=100, help="images per step")
    p.add_argument("--lr", type=float, default=1e-3, help="Adam's learning rate")
    p.add_argument("--lr-min", type=float, default=1e-4, help="cosine floor of the learning rate")
    p.add_argument("--lr-schedule", choices=("constant", "exponential", "cosine"), default="cosine",
                   help="the learning rate's schedule")
    p.add_argument("--lr-decay", type=float, default=1.0, help="per-epoch factor (exponential schedule)")
    p.add_argument("--val-size", type=int, default=0,
                   help="hold out the last VAL_SIZE training images and keep the weights with the best validation "
                        "-ELBO (default 0: train on all 60,000 and keep the last weights)")
    p.add_argument("--output-bias", choices=("data", "zero"), default="data",
                   help="decoder output bias at the start: the logit of the training pixels' mean (VAE.init_output_bias) "
                        "or zero")
    p.add_argument("--train-size", type=int, default=None, help="train on the first N images only (for quick checks)")
    p.add_argument("--eval-every", type=int, default=5, help="validate every this many epochs")
    p.add_argument("--k", type=int, default=5000, help="importance samples for the test NLL")
    p.add_argument("--n", type=int, default=None, help="only the first N test images (default: all 10,000)")
    p.add_argument("--eval-batch-size", type=int, default=100, help="test images per batch of the NLL")
    p.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1),
                   help="processes for the NLL estimate (one BLAS thread each; same figures for any number)")
    p.add_argument("--seed", type=int, default=0, help="initial weights, data order and noise")
    p.add_argument("--dtype", choices=("float32", "float64"), default="float32", help="the parameters' dtype")
    p.add_argument("--backend", choices=("numpy", "cupy"), default="numpy", help="numpy (CPU) or cupy (a GPU)")
    p.add_argument("--out", default="runs/bench-nll", metavar="DIR", help="checkpoint, results.json and log_px.npy "
                   "go here (with --eval-only: only when given)")
    p.add_argument("--eval-only", default=None, metavar="CHECKPOINT", help="skip training, evaluate this model")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    return p


def train(a):
    """Train the Burda architecture; returns (vae, a dict of training facts)."""
    train_ds, val, _ = load_data("mnist", binarized=True, train_size=a.train_size, val_size=a.val_size or 0,
                                 seed=a.seed)
    two_layer = two_layer_kwargs(a, a.one_layer_only)
    if two_layer:
        vae = TwoLayerVAE(**two_layer, likelihood=a.likelihood, iwae_k=a.iwae_k, seed=a.seed, dtype=a.dtype,
                          backend=a.backend)
    else:
        vae = VAE(**{**ARCH, "likelihood": a.likelihood}, iwae_k=a.iwae_k, seed=a.seed, dtype=a.dtype,
                  backend=a.backend, **design_kwargs(a))
    if a.output_bias == "data":
        vae.init_output_bias(train_ds.x)
    if vae.kind == "vae":
        prepare(vae, train_ds.x, a)
    budget = a.time_budget if a.time_budget and a.time_budget > 0 else None
    cfg = TrainConfig(epochs=a.epochs, batch_size=a.batch_size, lr=a.lr, binarize=True, time_budget=budget,
                      lr_schedule=a.lr_schedule, lr_min=a.lr_min, lr_decay=a.lr_decay, seed=a.seed,
                      eval_every=a.eval_every, keep_best=val is not None, budget_clock=a.budget_clock)
    t0, c0 = time.perf_counter(), time.process_time()
    history = fit(vae, train_ds.x, val_x=None if val is None else val.x, config=cfg, progress=not a.quiet)
    seconds = time.perf_counter() - t0
    cpu_seconds = time.process_time() - c0
    os.makedirs(a.out, exist_ok=True)
    info = {"epochs": len(history), "train_time_s": seconds, "train_cpu_s": cpu_seconds,
            "best_val_epoch": min(history, key=lambda e: e.get("val_loss", math.inf))["epoch"] if val else None,
            "load_avg_1min": os.getloadavg()[0], **{k: getattr(a, k) for k in TRAINING}}
    vae.save(os.path.join(a.out, "model.npz"), {"dataset": "mnist", "binarize": True, "seed": a.seed, **info})
    return vae, info


def test_images(a, seed=0):
    """The MNIST test set binarized once with a fixed seed (as ``minivae evaluate`` does), first ``a.n``."""
    _, _, test = load_data("mnist", binarized=True, seed=seed)
    return test.x if a.n is None else test.x[:a.n]


def _log_px(job):
    """log p(x) of one batch of test images; batch b draws eps from seed (seed, b)."""
    path, x, b, k, seed, backend = job
    vae = load(path, backend=backend)
    xd = vae.backend.asarray(x, dtype=vae.dtype)
    return vae.backend.to_numpy(vae.log_likelihood(xd, k=k, batch_size=len(x), seed=[seed, b]))


def log_px(path, a, progress=None):
    """log p(x) of every test image, a batch at a time, in ``a.workers`` processes (the same figures for any number).

    ``progress(done, total)`` counts the test images done. The workers ignore
    SIGINT: Ctrl-C in a terminal reaches the whole process group, and only
    this process should stop (with one line), ending the workers with it.
    """
    x, bs = test_images(a), a.eval_batch_size
    jobs = [(path, x[s:s + bs], s // bs, a.k, a.seed, a.backend) for s in range(0, len(x), bs)]
    if a.workers == 1 or len(jobs) == 1:
        return numpy.concatenate(list(_counted(map(_log_px, jobs), progress, len(x))))
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")        # one BLAS thread per worker process
    with _sigint_ignored():                    # the workers inherit SIGINT ignored from their start
        pool = multiprocessing.get_context("spawn").Pool(min(a.workers, len(jobs)))
    with pool:                                 # leaving it (Ctrl-C too) ends the workers
        return numpy.concatenate(list(_counted(pool.imap(_log_px, jobs), progress, len(x))))


def _counted(results, progress, total):
    """The arrays of ``results`` in order, reporting ``progress(images done, total)`` after each."""
    done = 0
    report(progress, 0, total)
    for ll in results:
        done += len(ll)
        report(progress, done, total)
        yield ll


@contextlib.contextmanager
def _sigint_ignored():
    """SIGINT ignored inside (in the main thread; elsewhere signals cannot be set and nothing changes)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)


def evaluate_nll(vae, path, a, progress=None):
    """Test -ELBO, recon, KL, active units and NLL (k samples) on the binarized test set.

    ``path`` is ``vae``'s checkpoint (the NLL workers load it); ``progress``:
    a :class:`minivae.train.Progress` (or None) for the NLL's stage.
    """
    x = test_images(a)
    xd = vae.backend.asarray(x, dtype=vae.dtype)
    res = _elbo(vae, xd)
    t0 = time.perf_counter()
    ll = log_px(path, a, stage(progress, f"NLL (k={a.k})"))
    return {"test_nll": float(-ll.mean()), "test_nll_sem": float(ll.std(ddof=1) / math.sqrt(len(ll))),
            "test_elbo": res["recon"] + res["kl"], "test_recon": res["recon"], "test_kl": res["kl"],
            "active_units": vae.active_units(xd), "latent_dim": vae.config.latent_dim,
            "latent_dim2": getattr(vae.config, "latent_dim2", None),
            "k": a.k, "n": int(x.shape[0]), "nll_time_s": time.perf_counter() - t0, "workers": a.workers,
            "iwae_k": vae.config.iwae_k, "log_px": ll}


def _elbo(vae, x):
    """One-sample recon and KL (beta = 1 is recon + KL), even for a model trained on the IWAE bound."""
    if vae.config.iwae_k > 1:
        kw = {**vae.config.to_dict(), "iwae_k": 1, **({"vr_alpha": None, "vr_max": False} if vae.kind == "vae" else {})}
        one = type(vae)(**kw, seed=vae.seed, backend=vae.backend)
        one.load_state(vae.state_arrays())
        vae = one
    return evaluate(vae, x)


def _units(res):
    """"a/M", or for two stochastic layers "a1/M1 (z1), a2/M2 (z2)"."""
    if res["latent_dim2"] is None:
        return f"{res['active_units']}/{res['latent_dim']}"
    (a1, a2), m1, m2 = res["active_units"], res["latent_dim"], res["latent_dim2"]
    return f"{a1}/{m1} (z1), {a2}/{m2} (z2)"


def main(argv=None):
    """``python -m minivae bench nll ARGV``'s exit status: the one command line's parser and errors."""
    from ..cli import main as cli_main
    return cli_main(["bench", "nll", *(sys.argv[1:] if argv is None else argv)])


def run_command(a):
    """Train (or load ``--eval-only``) and evaluate; print the table and the JSON line. Returns 0.

    Errors and Ctrl-C are the command line's (:mod:`minivae.cli.guard`): one line each.
    """
    if a.workers < 1:
        raise ConfigError(f"--workers must be >= 1, got {a.workers}")
    if a.eval_only:
        path = a.eval_only
        vae = load(a.eval_only, backend=a.backend)
        extra = load_checkpoint(a.eval_only)[2]
        info = {k: extra.get(k) for k in ("epochs", "train_time_s", "train_cpu_s", "best_val_epoch",
                                           "load_avg_1min", *TRAINING)}
    else:
        vae, info = train(a)
        path = os.path.join(a.out, "model.npz")
    res = evaluate_nll(vae, path, a, Progress(enabled=not a.quiet))
    ll = res.pop("log_px")                                # per test image, for `bench paired`
    res["eval_load_avg_1min"] = os.getloadavg()[0]
    res = {"bench": "nll", "objective": vae.config.objective,
           "design": vae.design_points(), **info, **res}
    epochs, secs = res.get("epochs"), res.get("train_time_s")
    res["epoch_time_s"] = secs / epochs if epochs and secs is not None else None
    fmt = lambda v: "?" if v is None else f"{v:.0f}"  # noqa: E731
    rows = [("objective", f"{res['objective']} (k={res['iwae_k']})"), ("epochs", res["epochs"]),
            ("design points", ", ".join(f"{k}={v}" for k, v in res["design"].items()) or "plain VAE"),
            ("training time (s wall / s CPU)", f"{fmt(res['train_time_s'])} / {fmt(res['train_cpu_s'])}"),
            ("seconds per epoch", "?" if res["epoch_time_s"] is None else f"{res['epoch_time_s']:.2f}"),
            (f"test NLL, k={a.k} (nats)", f"{res['test_nll']:.2f} +- {res['test_nll_sem']:.2f}"),
            ("test -ELBO (nats)", f"{res['test_elbo']:.2f}"), ("test KL (nats)", f"{res['test_kl']:.2f}"),
            ("active units", _units(res)), ("test images", res["n"])]
    w = max(len(r[0]) for r in rows)
    print("\n".join(f"{name:<{w}}  {value}" for name, value in rows))
    print(json.dumps(res))
    if not a.eval_only or "out" in given(a):              # --eval-only writes only to an --out it is given
        os.makedirs(a.out, exist_ok=True)
        with open(os.path.join(a.out, "results.json"), "w") as f:
            json.dump(res, f, indent=2)
        numpy.save(os.path.join(a.out, LOG_PX), ll)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
