"""``python -m minivae gan``: train a GAN and write its checkpoint, metrics and figures.

Defaults: cs231n's architecture (z ~ U(-1, 1)^96, G 1024-1024 ReLU with a
tanh output, D 256-256 leaky ReLU) and, for the chosen ``--loss``, the
paper's optimizer, learning rate, batch size, n_critic, clip and penalty
(:data:`minivae.models.gan_config.PAPER_DEFAULTS`; an option left out takes it).
It writes to ``--out DIR`` (none: a new ``runs/gan-<time>``, with
``runs/latest`` pointing to it; :func:`minivae.cli.common.run_folder`):

    model.npz             the checkpoint (weights, every option, the run's state), rewritten after every epoch
    metrics.json          the loop's layout (:mod:`minivae.train.run_record`), with "final" adding the
                          yardstick of --samples samples (fid, class_entropy, inception_score, n: what
                          `evaluate model.npz --samples N --seed SEED` reports; MNIST only) and "figures"
    steps.json            the per-step curves: every metric of the training step, as means over windows
                          of --log-every steps (an epoch's last window may be shorter; windows never cross
                          an epoch), columns {"step": [...], "d_loss": [...], "g_loss": [...], ...}
    samples_epoch_001.png ...   G(z) of one fixed z after each epoch; samples_by_epoch.npz holds each
                          epoch's first ROW images, for samples_by_epoch.png (one row per epoch)
    losses.png, discriminator.png   L_D and L_G; D(x) against D(G(z)) (and WGAN's W estimate)

The fixed z of the grids: :mod:`minivae.cli.grid`. The per-step windows
come from a :class:`minivae.train.StepLog` passed to ``fit`` as a callback
(one host read per window; the model is not patched). ``--resume DIR`` continues a stopped run exactly
(:mod:`minivae.cli.resume`); its step windows since the last finished
epoch are lost (a gap in steps.json) when it stopped inside an epoch.
A bad option is ``error: --flag: ...`` and exit code 2; a stop by a signal
saves the run and exits with 128 + the signal's number (:mod:`minivae.cli.guard`).
"""
from __future__ import annotations

import math
import os
import sys

import numpy

from ..activations import ACTIVATIONS
from ..adversarial import LOSSES
from ..layers import INIT_SCHEMES
from ..models.gan import GAN
from ..models.gan_config import NOISES
from ..optim import OPTIMIZERS
from ..train import EpochRows, StepLog, TrainConfig, fit, update_metrics
from ..train.progress import Progress
from .common import (add_data_args, add_device_args, add_run_args, add_training_command, check_at_least, run_folder,
                     train_config_args)
from .grid import GRID, clear_grids, fixed_noise, grid_files
from .resume import resume_run
from .training import run_data
from .sampling import NOT_MNIST, sample_images, yardstick

TRAINS = True
EXAMPLES = """examples:
  python -m minivae gan --loss ns --epochs 10 --out runs/gan
  python -m minivae gan --resume runs/gan --epochs 20"""


def add_parser(sub):
    p = add_training_command(sub, "gan", "GAN", "minimax, non-saturating, LSGAN, WGAN, WGAN-GP", EXAMPLES)
    add_data_args(p, test_help="score both losses on the first N test images after each epoch (0: none; none: all)")
    m = p.add_argument_group("model (an option left out: the paper's value for --loss)")
    m.add_argument("--loss", choices=LOSSES, default="ns", help="the game: minimax, non-saturating, LSGAN, WGAN(-GP)")
    m.add_argument("--noise-dim", type=int, default=96, help="size of z")
    m.add_argument("--noise", choices=NOISES, default="uniform", help="z ~ U(-1, 1) or N(0, I)")
    m.add_argument("--generator-dims", type=int, nargs="*", default=[1024, 1024], metavar="H",
                   help="the generator's hidden sizes (none: a linear map, then tanh)")
    m.add_argument("--discriminator-dims", type=int, nargs="*", default=[256, 256], metavar="H",
                   help="the discriminator's hidden sizes")
    m.add_argument("--generator-activation", choices=sorted(ACTIVATIONS), default="relu",
                   help="the generator's hidden nonlinearity")
    m.add_argument("--discriminator-activation", choices=sorted(ACTIVATIONS), default="leaky_relu",
                   help="the discriminator's hidden nonlinearity")
    m.add_argument("--n-critic", type=int, default=None, help="critic steps per generator step (WGAN: 5, else 1)")
    m.add_argument("--clip", type=float, default=None, help="WGAN's weight clipping c (0.01)")
    m.add_argument("--gp-lambda", type=float, default=None, help="WGAN-GP's penalty weight lambda (10)")
    m.add_argument("--optimizer", choices=sorted(OPTIMIZERS), default=None, help="both players' (WGAN: rmsprop, "
                   "else adam with the paper's betas)")
    m.add_argument("--init", choices=INIT_SCHEMES, default="uniform", help="weight initialisation")
    add_device_args(p)
    t = p.add_argument_group("optimisation")
    t.add_argument("--lr", type=float, default=None, help="the generator's learning rate (none: the paper's)")
    t.add_argument("--d-lr", type=float, default=None, help="the discriminator's (none: --lr)")
    t.add_argument("--clip-norm", type=float, default=None, help="clip each player's gradient norm")
    t.add_argument("--log-every", type=int, default=10, metavar="K", help="steps per window of steps.json")
    t.add_argument("--samples", type=int, default=10000, metavar="N", help="samples of the final yardstick "
                   "(FID against the MNIST test set, class entropy, Inception score)")
    add_run_args(p, batch_size=None, batch_help="real images per critic step (none: the paper's)")
    return p


def _check_options(a):
    """The command line's own options (the model's and fit's are checked by GANConfig and TrainConfig)."""
    check_at_least(samples=(a.samples, 2), log_every=(a.log_every, 1), seed=(a.seed, 0), train_size=(a.train_size, 1),
                   test_size=(a.test_size, 0))


def _new_run(a):
    """(gan, train, test, config, info) of a new run; bad options fail before the data is read."""
    gan = GAN(noise_dim=a.noise_dim, generator_dims=tuple(a.generator_dims), loss=a.loss, noise=a.noise,
              discriminator_dims=tuple(a.discriminator_dims), generator_activation=a.generator_activation,
              discriminator_activation=a.discriminator_activation, n_critic=a.n_critic, clip=a.clip,
              gp_lambda=a.gp_lambda, optimizer=a.optimizer, d_lr=a.d_lr, init=a.init, seed=a.seed, dtype=a.dtype,
              backend=a.backend)
    paper = gan.train_defaults()
    cfg = TrainConfig(**{**train_config_args(a), "batch_size": paper["batch_size"] if a.batch_size is None
                         else a.batch_size}, lr=paper["lr"] if a.lr is None else a.lr,
                      optimizer=gan.config.optimizer, clip_norm=a.clip_norm)
    clear_grids(run_folder(a))                     # an unusable --out fails now; a new run's grids only
    train, test, info = run_data(a, gan, cfg, log_every=a.log_every)
    return gan, train, test, cfg, info


def run(a):
    """Train (or resume) the run ``a`` describes; write its files; returns 0."""
    from ..figures import gan as figures_gan       # matplotlib loads only when a command draws
    _check_options(a)
    if a.resume:
        gan, train, _, test, cfg, info, state = resume_run(a, "gan")
    else:
        (gan, train, test, cfg, info), state = _new_run(a), None
    c, out = gan.config, a.out
    keys = ["d_loss", "g_loss", "d_real", "d_fake"] + ["wasserstein"] * c.wasserstein + ["gp"] * (c.loss == "wgan-gp")
    step, epoch = (0, 0) if state is None else (state.step, state.epoch)
    log = StepLog.resume(os.path.join(out, "steps.json"), keys, info["log_every"],
                         math.ceil(len(train.y) / cfg.batch_size), step)
    rows = EpochRows(os.path.join(out, "samples_by_epoch.npz"), epoch)
    z = fixed_noise(info["seed"], GRID, c.noise_dim, c.noise, c.dtype)

    def on_epoch_end(entry, model):                # after the step log has written steps.json
        if not a.no_figures:
            images = model.backend.to_numpy(model.generate(z))
            figures_gan.epoch_grid(images, os.path.join(out, f"samples_epoch_{entry['epoch']:03d}.png"),
                                   entry["epoch"])
            rows.add(entry["epoch"], images[:figures_gan.ROW])

    if not a.quiet:
        print(f"{gan}\ntraining on {len(train.y)} {info['dataset']} images, {cfg.epochs} epochs of batch "
              f"{cfg.batch_size}, lr {cfg.lr:g}, writing to {out}"
              + (f" (resuming after epoch {state.epoch}, step {state.step})" if state else ""), file=sys.stderr)
    history = fit(gan, train.x, test.x if len(test.y) else None, config=cfg, progress=not a.quiet,
                  callbacks=[log], on_epoch_end=on_epoch_end, out_dir=out, extra=info, state=state)
    if info["dataset"] == "mnist":
        bar = Progress(enabled=not a.quiet)
        quality = yardstick(sample_images(gan, a.samples, info["seed"], progress=bar), bar)
    else:
        quality = {"fid": None, "class_entropy": None, "inception_score": None, "n": 0, "note": NOT_MNIST}
    figures = None if a.no_figures else _figures(gan, history, log.record(), rows, out)
    q = update_metrics(out, final=quality, figures=figures)["final"]
    scores = (f"FID {q['fid']:.2f}, class entropy {q['class_entropy']:.3f} nats, IS {q['inception_score']:.2f} "
              f"({q['n']} samples)" if q["fid"] is not None else "no sample yardstick (not MNIST)")
    print(f"{scores}; after {len(history)} epoch{'s' * (len(history) != 1)}, {q['train_seconds']:.1f} s of "
          f"training; wrote {out}")
    return 0


def _figures(gan, history, steps, rows, out):
    """The run's final figures; their file names."""
    from ..figures import gan as figures_gan
    c = gan.config
    paths = [figures_gan.loss_curves(history, os.path.join(out, "losses.png"), steps, f"GAN losses ({c.loss})"),
             figures_gan.discriminator_curves(history, os.path.join(out, "discriminator.png"), steps,
                                              figures_gan.equilibrium(c.loss), c.wasserstein,
                                              "mean D (probability)" if c.loss in ("minimax", "ns")
                                              else "mean raw score")]
    if rows.epochs:
        paths.append(figures_gan.samples_by_epoch(numpy.stack(rows.images), rows.epochs,
                                                  os.path.join(out, "samples_by_epoch.png")))
    return [os.path.basename(p) for p in paths] + grid_files(history, out)
