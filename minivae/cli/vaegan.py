"""``python -m minivae vaegan``: train a VAE-GAN (Larsen et al. 2016), or VAE_Dis_l, and write its files.

The VAE-GAN (:class:`minivae.models.vaegan.VAEGAN`): the VAE's encoder and decoder
(default 784-400-20, as ``train``) and an MLP discriminator D (256-256 leaky
ReLU, as ``gan``); the reconstruction error is measured in D's hidden layer
``--feature-layer`` l, L_llike = 1/2 ||Dis_l(x) - Dis_l(x_tilde)||^2, and the
decoder also plays the GAN against D, weighing L_llike by ``--gamma``.

``--feature-loss GAN_CHECKPOINT`` trains VAE_Dis_l instead: a VAE whose
reconstruction is measured in the features of a trained GAN's discriminator,
frozen (no adversarial term; the discriminator's sizes come from the GAN).
The old spelling ``python -m minivae train --feature-loss GAN_CHECKPOINT``
runs this command (with a note of the new spelling). It writes to ``--out DIR``
(none: a new ``runs/vaegan-<time>``, with ``runs/latest`` pointing to it;
:func:`minivae.cli.common.run_folder`):

    model.npz             the checkpoint (kind "vaegan"), rewritten after every epoch
    metrics.json          the loop's layout (:mod:`minivae.train.run_record`), with "final" adding the test
                          pixel -ELBO (test_elbo = test_recon + test_kl, Bernoulli, nats per image), the
                          yardstick (FID, class entropy, IS) of --samples samples ("samples") and of the
                          reconstructions of the first --samples test images ("reconstructions"), and "figures"
    samples_epoch_001.png ...   Dec(z) of one fixed z after each epoch (z from its own generator,
                          default_rng([seed, GRID_SEED]): drawing it leaves the training stream alone)
    samples_by_epoch.png  the first row of those grids, one row per epoch

    reconstructions.png   test inputs above their reconstructions Dec(mu(x))
    samples.png           100 decoder means E[x | z] = Dec(z), z ~ N(0, I) (not draws x ~ p(x | z))
    losses.png            the three parts' losses, the pixel -ELBO (train and test) and D on x, x_tilde, x_p

``--resume RUN`` continues a stopped run (Ctrl-C, SIGTERM, a kill) exactly
where it stopped, as every training command does (:mod:`minivae.cli.resume`).
"""
from __future__ import annotations

import os
import sys

import numpy

from ..activations import ACTIVATIONS
from ..datasets import INPUT_DIM
from ..errors import ConfigError, MiniVAEError
from ..layers import INIT_SCHEMES
from ..models.vaegan import VAEGAN
from ..optim import OPTIMIZERS
from ..train import EpochRows, TrainConfig, evaluate, fit, update_metrics
from ..train.progress import Progress
from .common import (add_data_args, add_device_args, add_model_args, add_run_args, add_training_command,
                     check_at_least, run_folder, train_config_args)
from .grid import GRID, clear_grids, fixed_noise, grid_files
from .parser import given
from .resume import resume_run
from .training import run_data
from .sampling import NOT_MNIST, reconstruction_images, sample_images, yardstick

TRAINS = True
FROM_GAN = {"discriminator_dims", "discriminator_activation", "dtype"}    # VAE_Dis_l takes these from the GAN
EXAMPLES = """examples:
  python -m minivae vaegan --epochs 10 --out runs/vaegan
  python -m minivae vaegan --feature-loss runs/gan/model.npz --feature-layer 1 --out runs/dis_l"""


def add_parser(sub):
    p = add_training_command(sub, "vaegan", "VAE-GAN or VAE_Dis_l",
                             "Larsen et al. 2016; with --feature-loss a VAE_Dis_l", EXAMPLES)
    add_data_args(p, test_help="use only the first N test images (>= 2)")
    m = add_model_args(p)
    m.add_argument("--discriminator-dims", type=int, nargs="+", default=[256, 256], metavar="H",
                   help="the discriminator's hidden sizes")
    m.add_argument("--feature-layer", type=int, default=1, metavar="L",
                   help="the hidden layer of D (1..len(discriminator dims)) whose features L_llike compares "
                        "(1 measured best for these MLPs)")
    m.add_argument("--gamma", type=float, default=1.0, help="weight of L_llike in the decoder's loss (>= 0)")
    m.add_argument("--activation", choices=sorted(ACTIVATIONS), default="relu", help="the VAE's hidden nonlinearity")
    m.add_argument("--discriminator-activation", choices=sorted(ACTIVATIONS), default="leaky_relu",
                   help="the discriminator's hidden nonlinearity")
    m.add_argument("--feature-loss", default=None, metavar="GAN_CHECKPOINT",
                   help="VAE_Dis_l: measure the reconstruction in this trained GAN's discriminator, frozen "
                        "(its sizes, activation and dtype are the GAN's)")
    m.add_argument("--init", choices=INIT_SCHEMES, default="uniform", help="weight initialisation")
    add_device_args(p)
    t = p.add_argument_group("optimisation (each part has its own optimizer of this kind and lr)")
    t.add_argument("--lr", type=float, default=1e-3, help="every part's learning rate")
    t.add_argument("--optimizer", choices=sorted(OPTIMIZERS), default="adam", help="every part's optimizer")
    t.add_argument("--clip-norm", type=float, default=None, help="clip each part's gradient norm")
    t.add_argument("--samples", type=int, default=10000, metavar="N", help="samples and test reconstructions "
                   "of the final yardstick (FID against the MNIST test set, class entropy, Inception score)")
    add_run_args(p, batch_size=64)
    return p


def _check_options(a):
    check_at_least(samples=(a.samples, 2), seed=(a.seed, 0), train_size=(a.train_size, 1), test_size=(a.test_size, 2))


def build_model(a, given_now=()):
    """The VAE-GAN the options describe, or VAE_Dis_l from ``--feature-loss``'s GAN."""
    options = dict(hidden_dims=tuple(a.hidden_dims), latent_dim=a.latent_dim, gamma=a.gamma, activation=a.activation,
                   init=a.init, seed=a.seed, backend=a.backend)
    if a.feature_loss is None:
        return VAEGAN(input_dim=INPUT_DIM, discriminator_dims=tuple(a.discriminator_dims),
                      feature_layer=a.feature_layer, discriminator_activation=a.discriminator_activation,
                      dtype=a.dtype, **options)
    clash = sorted(FROM_GAN & set(given_now))
    if clash:
        raise ConfigError(f"--feature-loss {a.feature_loss}: the discriminator comes from the GAN; leave out "
                          + ", ".join("--" + c.replace("_", "-") for c in clash))
    try:
        return VAEGAN.from_gan(a.feature_loss, feature_layer=a.feature_layer, input_dim=INPUT_DIM, **options)
    except MiniVAEError as exc:
        raise type(exc)(f"--feature-loss {a.feature_loss}: {exc}") from exc


def _new_run(a):
    """(model, train, test, config, info); bad options fail before the data is read."""
    model = build_model(a, given(a))
    cfg = TrainConfig(**train_config_args(a), lr=a.lr, optimizer=a.optimizer, clip_norm=a.clip_norm)
    clear_grids(run_folder(a))                     # an unusable --out fails now; a new run's grids only
    train, test, info = run_data(a, model, cfg, feature_loss=a.feature_loss)
    return model, train, test, cfg, info


def final_figures(model, test, n, seed, dataset, progress=None):
    """{"test_elbo", "test_recon", "test_kl", "test_llike", "samples": yardstick, "reconstructions": yardstick}.

    Each yardstick records the classifier's SHA-256; ``progress``: a Progress for its stages (or None).
    """
    res = evaluate(model, model.backend.asarray(test.x, dtype=model.dtype))
    out = {"test_elbo": res["recon"] + res["kl"], "test_recon": res["recon"], "test_kl": res["kl"],
           "test_llike": res["llike"], "test_d_real": res["d_real"], "test_d_recon": res["d_recon"]}
    if dataset != "mnist":
        return {**out, "samples": {"note": NOT_MNIST}, "reconstructions": {"note": NOT_MNIST}}
    m = min(n, len(test.y))
    for name, images in (("samples", sample_images(model, n, seed, progress=progress)),
                         ("reconstructions", reconstruction_images(model, test.x[:m], progress=progress))):
        out[name] = yardstick(images, progress)
    return out


def run(a):
    """Train the run ``a`` describes; write its files; returns 0."""
    from ..figures import gan as figures_gan, vae as figures     # matplotlib loads only when a command draws
    _check_options(a)
    if a.resume:
        model, train, _, test, cfg, info, state = resume_run(a, "vaegan")
        a.seed, a.feature_loss = info["seed"], info["feature_loss"]
    else:
        (model, train, test, cfg, info), state = _new_run(a), None
    out = a.out
    rows = EpochRows(os.path.join(out, "samples_by_epoch.npz"), 0 if state is None else state.epoch)
    z = fixed_noise(a.seed, GRID, model.config.latent_dim, "normal", info["dtype"])

    def on_epoch_end(entry, m):
        if not a.no_figures:
            images = m.backend.to_numpy(m.decode(z))
            figures.image_grid(images, os.path.join(out, f"samples_epoch_{entry['epoch']:03d}.png"), 10,
                               f"Dec(z) after epoch {entry['epoch']} (the same z every epoch)")
            rows.add(entry["epoch"], images[:figures_gan.ROW])

    if not a.quiet:
        mode = f"VAE_Dis_l on {a.feature_loss}'s discriminator" if a.feature_loss else "VAE-GAN"
        print(f"{mode}, feature layer {model.feature_layer}, gamma {model.gamma:g}\ntraining on {len(train.y)} "
              f"{info['dataset']} images, {cfg.epochs} epochs of batch {cfg.batch_size}, lr {cfg.lr:g}, "
              f"writing to {out}" + (f" (resuming after epoch {state.epoch}, step {state.step})" if state else ""),
              file=sys.stderr)
    history = fit(model, train.x, test.x, config=cfg, progress=not a.quiet, on_epoch_end=on_epoch_end, out_dir=out,
                  extra=info, state=state)
    final = final_figures(model, test, a.samples, a.seed, info["dataset"], progress=Progress(enabled=not a.quiet))
    figures = None if a.no_figures else _figures(model, history, rows, test, out)
    f = update_metrics(out, final=final, figures=figures)["final"]
    scores = "; ".join(f"{name} FID {f[name]['fid']:.2f}, class entropy {f[name]['class_entropy']:.3f}, "
                       f"IS {f[name]['inception_score']:.2f} ({f[name]['n']})"
                       for name in ("samples", "reconstructions") if "fid" in f[name])
    print(f"test -ELBO {f['test_elbo']:.2f} nats (recon {f['test_recon']:.2f}, KL {f['test_kl']:.2f}); "
          f"{scores or 'no sample yardstick (not MNIST)'}; after {len(history)} epoch{'s' * (len(history) != 1)}, "
          f"{f['train_seconds']:.1f} s of training; wrote {out}")
    return 0


def _figures(model, history, rows, test, out):
    """The run's final figures; their file names."""
    from ..figures import gan as figures_gan, vae as figures
    from ..figures.compare import vaegan_curves
    to_np = model.backend.to_numpy
    idx = numpy.random.default_rng(0).choice(len(test.y), min(10, len(test.y)), replace=False)
    paths = [figures.reconstructions(test.x[idx], to_np(model.reconstruct(test.x[idx])),
                                     os.path.join(out, "reconstructions.png")),
             figures.samples(sample_images(model, 100, 0), os.path.join(out, "samples.png"),
                             title=figures.DECODER_MEANS),                  # means, not draws x ~ p(x | z)
             vaegan_curves(history, os.path.join(out, "losses.png"))]
    if rows.epochs:
        paths.append(figures_gan.samples_by_epoch(numpy.stack(rows.images), rows.epochs,
                                                  os.path.join(out, "samples_by_epoch.png")))
    return [os.path.basename(p) for p in paths] + grid_files(history, out)
