"""``python -m minivae gan``: train a GAN and write its checkpoint, metrics and figures.

Defaults: cs231n's architecture (z ~ U(-1, 1)^96, G 1024-1024 ReLU with a
tanh output, D 256-256 leaky ReLU) and, for the chosen ``--loss``, the
paper's optimizer, learning rate, batch size, n_critic, clip and penalty
(:data:`minivae.models.gan_config.PAPER_DEFAULTS`; an option left out takes it).
It writes to ``--out DIR``:

    model.npz             the checkpoint (weights, every option, the run's state), rewritten after every epoch
    metrics.json          {"config": every option, "history": one entry per epoch (fit's),
                           "final": the yardstick of --samples samples (fid, class_entropy,
                           inception_score, n: what `evaluate model.npz --samples N --seed SEED`
                           reports; MNIST only), epochs, wall_time_s; "figures": [...]}
    steps.json            the per-step curves: every metric of the training step, as means over windows
                          of --log-every steps (an epoch's last window may be shorter; windows never cross
                          an epoch), columns {"step": [...], "d_loss": [...], "g_loss": [...], ...}
    samples_epoch_001.png ...   G(z) of one fixed z after each epoch; samples_by_epoch.npz holds each
                          epoch's first ROW images, for samples_by_epoch.png (one row per epoch)
    losses.png, discriminator.png   L_D and L_G; D(x) against D(G(z)) (and WGAN's W estimate)

The fixed z is drawn once, on the host, from its own generator
``numpy.random.default_rng([seed, GRID_SEED])`` (:func:`fixed_noise`): the
training stream (data order, the model's z and alpha) is the one ``fit``
draws without any figures, and every backend shows the same z. The
per-step windows come from a thin wrapper around ``gan.train_step`` (one
host read per window). ``--resume DIR`` continues a stopped run exactly
(:func:`minivae.train.load_run`); its step windows since the last finished
epoch are lost (a gap in steps.json) when it stopped inside an epoch.
A bad option is ``error: --flag: ...`` and exit code 2; a stop by a signal
saves the run and exits with 128 + the signal's number.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import sys
import time

import numpy

from ..figures import gan as figures_gan
from ..activations import ACTIVATIONS
from ..adversarial import LOSSES
from .common import add_data_args, make_out_dir
from ..models.checkpoint import checkpoint_kind, load_checkpoint, write_json
from .evaluate import sample_figures
from .resume import given_options
from ..datasets import load_data
from ..errors import ConfigError, MiniVAEError, TrainingInterrupted
from ..models.gan import GAN
from ..models.gan_config import NOISES
from ..layers import INIT_SCHEMES
from ..optim import OPTIMIZERS
from ..train import TrainConfig, fit, load_run

GRID = 100                  # images of each epoch's grid, 10 per row
GRID_SEED = 7919            # the fixed z's stream: default_rng([seed, GRID_SEED]), apart from fit's and the model's
FREE = {"resume", "epochs", "quiet", "no_figures", "out", "samples"}      # may differ from a resumed run's
NOT_MNIST = "not computed: the yardstick's classifier (minivae.metrics) knows MNIST digits only"


def build_parser():
    p = argparse.ArgumentParser(prog="python -m minivae gan", allow_abbrev=False,
                                description="train a GAN (minimax, non-saturating, LSGAN, WGAN, WGAN-GP) and write "
                                            "its checkpoint, metrics.json and figures")
    add_data_args(p, "score both losses on the first N test images after each epoch (0: none; default all)")
    m = p.add_argument_group("model (an option left out: the paper's value for --loss)")
    m.add_argument("--loss", choices=LOSSES, default="ns")
    m.add_argument("--noise-dim", type=int, default=96)
    m.add_argument("--noise", choices=NOISES, default="uniform", help="z ~ U(-1, 1) or N(0, I)")
    m.add_argument("--generator-dims", type=int, nargs="*", default=[1024, 1024], metavar="H",
                   help="the generator's hidden sizes (none: a linear map, then tanh)")
    m.add_argument("--discriminator-dims", type=int, nargs="*", default=[256, 256], metavar="H")
    m.add_argument("--generator-activation", choices=sorted(ACTIVATIONS), default="relu")
    m.add_argument("--discriminator-activation", choices=sorted(ACTIVATIONS), default="leaky_relu")
    m.add_argument("--n-critic", type=int, default=None, help="critic steps per generator step (WGAN: 5, else 1)")
    m.add_argument("--clip", type=float, default=None, help="WGAN's weight clipping c (0.01)")
    m.add_argument("--gp-lambda", type=float, default=None, help="WGAN-GP's penalty weight lambda (10)")
    m.add_argument("--optimizer", choices=sorted(OPTIMIZERS), default=None, help="both players' (WGAN: rmsprop, "
                   "else adam with the paper's betas)")
    m.add_argument("--init", choices=INIT_SCHEMES, default="uniform")
    m.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    m.add_argument("--backend", choices=("numpy", "cupy"), default="numpy")
    m.add_argument("--seed", type=int, default=0)
    t = p.add_argument_group("training")
    t.add_argument("--epochs", type=int, default=10)
    t.add_argument("--batch-size", type=int, default=None, help="real images per critic step (the paper's)")
    t.add_argument("--lr", type=float, default=None, help="the generator's learning rate (the paper's)")
    t.add_argument("--d-lr", type=float, default=None, help="the discriminator's (default: --lr)")
    t.add_argument("--clip-norm", type=float, default=None, help="clip each player's gradient norm")
    t.add_argument("--time-budget", type=float, default=None, metavar="SECONDS",
                   help="stop before an epoch that would end past this many seconds")
    t.add_argument("--budget-clock", choices=("wall", "cpu"), default="wall")
    t.add_argument("--checkpoint-every", type=int, default=None, metavar="STEPS",
                   help="also write the checkpoint every STEPS steps inside an epoch")
    t.add_argument("--log-every", type=int, default=10, metavar="K", help="steps per window of steps.json")
    t.add_argument("--samples", type=int, default=10000, metavar="N", help="samples of the final yardstick "
                   "(FID against the MNIST test set, class entropy, Inception score)")
    t.add_argument("--out", default="runs/gan", metavar="DIR")
    t.add_argument("--resume", default=None, metavar="DIR", help="continue the run saved in DIR where it stopped; "
                   "--epochs N may extend it, other options must match the run's")
    t.add_argument("--no-figures", action="store_true")
    t.add_argument("--quiet", action="store_true")
    return p


def fixed_noise(seed, n, noise_dim, noise="uniform", dtype="float32"):
    """The z of every epoch's grid: (n, noise_dim) host draws from default_rng([seed, GRID_SEED])."""
    rng = numpy.random.default_rng([seed, GRID_SEED])
    if noise == "uniform":
        return (2 * rng.random((n, noise_dim), dtype=dtype) - 1).astype(dtype)
    return rng.standard_normal((n, noise_dim), dtype=dtype)



def _check_options(a):
    """The command line's own options (the model's and fit's are checked by GANConfig and TrainConfig)."""
    for name, value, low in (("--samples", a.samples, 2), ("--log-every", a.log_every, 1), ("--seed", a.seed, 0),
                             ("--train-size", a.train_size, 1), ("--test-size", a.test_size, 0)):
        if value is not None and value < low:
            raise ConfigError(f"{name} must be an integer >= {low}, got {value}"
                              + (" (FID needs a covariance)" if name == "--samples" else ""))


def _new_run(a):
    """(gan, train, test, config, info) of a new run; bad options fail before the data is read."""
    gan = GAN(noise_dim=a.noise_dim, generator_dims=tuple(a.generator_dims), loss=a.loss, noise=a.noise,
              discriminator_dims=tuple(a.discriminator_dims), generator_activation=a.generator_activation,
              discriminator_activation=a.discriminator_activation, n_critic=a.n_critic, clip=a.clip,
              gp_lambda=a.gp_lambda, optimizer=a.optimizer, d_lr=a.d_lr, init=a.init, seed=a.seed, dtype=a.dtype,
              backend=a.backend)
    paper = gan.train_defaults()
    cfg = TrainConfig(epochs=a.epochs, batch_size=paper["batch_size"] if a.batch_size is None else a.batch_size,
                      lr=paper["lr"] if a.lr is None else a.lr, optimizer=gan.config.optimizer, seed=a.seed,
                      clip_norm=a.clip_norm, time_budget=a.time_budget, budget_clock=a.budget_clock,
                      checkpoint_every=a.checkpoint_every)
    make_out_dir(a.out)                            # an unwritable --out fails now, not after an epoch
    for name in os.listdir(a.out):                 # a new run's grids only (not an older run's in the same folder)
        if name.startswith("samples_epoch_") and name.endswith(".png"):
            os.remove(os.path.join(a.out, name))
    train, _, test = load_data(a.dataset, a.data_dir, False, a.train_size, 0, a.seed)
    test = test.first(a.test_size)
    info = {**vars(cfg), **gan.architecture(), "dataset": a.dataset, "data_dir": a.data_dir,
            "train_size": len(train.y), "test_size": len(test.y), "backend": a.backend, "log_every": a.log_every}
    return gan, train, test, cfg, info


def resume_checkpoint(a, given, cls, command, free=FREE):
    """(model, train, test, config, info, state) of the ``cls`` run saved in ``a.resume``, checked against ``a``.

    Options given now must agree with the run's, except ``free`` ones
    (``--epochs`` extends it); ``a.out`` becomes the run's folder.
    """
    path = os.path.join(a.resume, "model.npz")
    if not os.path.isfile(path):
        raise ConfigError(f"--resume {a.resume}: no model.npz there (a run's folder, the --out of `{command}`)")
    if checkpoint_kind(path) != cls.kind:
        raise ConfigError(f"--resume {a.resume}: a {checkpoint_kind(path).upper()} run, not a {cls.__name__}'s "
                          f"(resume it with the command that made it)")
    info = load_checkpoint(path)[2]
    if "out" in given and os.path.abspath(a.out) != os.path.abspath(a.resume):
        raise ConfigError(f"--out {a.out}: a resumed run goes on in its own folder, --resume {a.resume}")
    conflicts = [f"--{d.replace('_', '-')} {getattr(a, d)} (the run has {info[d]})" for d in sorted(given - free)
                 if d in info and _plain(getattr(a, d)) != info[d]]
    if conflicts:
        raise ConfigError(f"--resume {a.resume}: these options contradict the saved run: {', '.join(conflicts)}; "
                          "leave them out (only --epochs may change, to extend the run)")
    if "epochs" in given:
        info["epochs"] = a.epochs
    cfg = TrainConfig(**{f.name: info[f.name] for f in dataclasses.fields(TrainConfig) if f.name in info})
    model = cls.load(path, backend=info["backend"])
    train, _, test = load_data(info["dataset"], info["data_dir"], False, info["train_size"], 0, info["seed"])
    test = test.first(info["test_size"])
    a.out = a.resume
    return model, train, test, cfg, info, load_run(model, cfg, path)


def _plain(v):
    return list(v) if isinstance(v, (list, tuple)) else v


def cmd_gan(a, given=()):
    """Train (or resume) the run ``a`` describes; write its files; returns 0."""
    t_start = time.perf_counter()
    _check_options(a)
    if a.resume:
        gan, train, test, cfg, info, state = resume_checkpoint(a, set(given), GAN, "gan")
    else:
        (gan, train, test, cfg, info), state = _new_run(a), None
    c, out = gan.config, a.out
    keys = ["d_loss", "g_loss", "d_real", "d_fake"] + ["wasserstein"] * c.wasserstein + ["gp"] * (c.loss == "wgan-gp")
    step, epoch = (0, 0) if state is None else (state.step, state.epoch)
    steps_file = os.path.join(out, "steps.json")
    saved = _load_json(steps_file) if state is not None and os.path.isfile(steps_file) else None
    log = figures_gan.StepLog(keys, info["log_every"], math.ceil(len(train.y) / cfg.batch_size), step, saved)
    rows = figures_gan.EpochRows(os.path.join(out, "samples_by_epoch.npz"), epoch)
    z = fixed_noise(info["seed"], GRID, c.noise_dim, c.noise, c.dtype)

    def on_epoch_end(entry, model):
        log.flush()
        write_json(log.record(), os.path.join(out, "steps.json"))
        if not a.no_figures:
            images = model.backend.to_numpy(model.generate(z))
            figures_gan.epoch_grid(images, os.path.join(out, f"samples_epoch_{entry['epoch']:03d}.png"),
                                   entry["epoch"])
            rows.add(entry["epoch"], images[:figures_gan.ROW])

    if not a.quiet:
        print(f"{gan}\ntraining on {len(train.y)} {info['dataset']} images, {cfg.epochs} epochs of batch "
              f"{cfg.batch_size}, lr {cfg.lr:g}, writing to {out}"
              + (f" (resuming after epoch {state.epoch}, step {state.step})" if state else ""), file=sys.stderr)
    gan.train_step = log.wrap(gan.train_step)       # an instance attribute: the class is untouched
    try:
        history = fit(gan, train.x, test.x if len(test.y) else None, config=cfg, progress=not a.quiet,
                      on_epoch_end=on_epoch_end, out_dir=out, extra=info, state=state)
    finally:
        del gan.train_step
    if info["dataset"] == "mnist":
        quality, _ = sample_figures(gan, a.samples, info["seed"])
    else:
        quality = {"fid": None, "class_entropy": None, "inception_score": None, "n": 0, "note": NOT_MNIST}
    metrics = {"config": {**vars(cfg), **info}, "history": history,
               "final": {**quality, "epochs": len(history), "wall_time_s": None}}
    if not a.no_figures:
        metrics["figures"] = _figures(gan, history, log.record(), rows, out)
    metrics["final"]["wall_time_s"] = time.perf_counter() - t_start
    write_json(metrics, os.path.join(out, "metrics.json"))
    q = metrics["final"]
    scores = (f"FID {q['fid']:.2f}, class entropy {q['class_entropy']:.3f} nats, IS {q['inception_score']:.2f} "
              f"({q['n']} samples)" if q["fid"] is not None else "no sample yardstick (not MNIST)")
    print(f"{scores}; after {len(history)} epoch{'s' * (len(history) != 1)}, {q['wall_time_s']:.1f} s; wrote {out}")
    return 0


def _load_json(path):
    with open(path) as f:
        return json.load(f)


def _figures(gan, history, steps, rows, out):
    """The run's final figures; their file names."""
    c = gan.config
    paths = [figures_gan.loss_curves(history, os.path.join(out, "losses.png"), steps, f"GAN losses ({c.loss})"),
             figures_gan.discriminator_curves(history, os.path.join(out, "discriminator.png"), steps,
                                              figures_gan.equilibrium(c.loss), c.wasserstein,
                                              "mean D (probability)" if c.loss in ("minimax", "ns")
                                              else "mean raw score")]
    if rows.epochs:
        paths.append(figures_gan.samples_by_epoch(numpy.stack(rows.images), rows.epochs,
                                                  os.path.join(out, "samples_by_epoch.png")))
    grids = [f"samples_epoch_{h['epoch']:03d}.png" for h in history]
    return [os.path.basename(p) for p in paths] + [g for g in grids if os.path.isfile(os.path.join(out, g))]


def _name_option(parser, message):
    """``message`` prefixed with the flag of the option it is about (``n_critic ...`` -> ``--n-critic: ...``)."""
    flags = {a.dest: a.option_strings[-1] for a in parser._actions if a.option_strings}
    text = message[len("each of "):] if message.startswith("each of ") else message
    for dest in sorted(flags, key=len, reverse=True):
        if text.startswith(dest) and text[len(dest):len(dest) + 1] in ("", " ", "(", ":"):
            return f"{flags[dest]}: {message}"
    return message


def run(parser, argv, command, resume=None):
    """Parse ``argv`` and run ``command(a, given)``: a MiniVAEError is ``error: --flag: ...`` and exit 2; a stop by
    a signal its exit code (with how to resume, for a command that can: ``resume``)."""
    try:
        a = parser.parse_args(argv)
    except SystemExit as exc:                       # --help (0), or argparse's "error: ..." (2), already printed
        return exc.code if isinstance(exc.code, int) else 2
    try:
        return command(a, given_options(parser, argv))
    except MiniVAEError as exc:
        print(f"error: {_name_option(parser, str(exc))}", file=sys.stderr)
        return 2
    except TrainingInterrupted as exc:
        print(f"\n{exc}." + (f" Resume it with:\n    python -m minivae {resume} --resume {exc.out_dir}"
                             if resume and exc.out_dir else ""), file=sys.stderr)
        return exc.exit_code


def main(argv=None):
    return run(build_parser(), sys.argv[1:] if argv is None else list(argv), cmd_gan, resume="gan")
