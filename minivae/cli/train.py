"""``python -m minivae train``: train a VAE and write its checkpoint, metrics and figures.

It writes to ``--out DIR`` (none: a new ``runs/train-<time>``, with
``runs/latest`` pointing to it; :func:`minivae.cli.common.run_folder`):
``model.npz`` (rewritten after every epoch, so the last good one survives a
crash; the one before kept as ``model.prev.npz``), ``metrics.json`` (the
loop's layout, :mod:`minivae.train.run_record`, with the test figures added
under ``final``) and PNG figures (reconstructions, prior samples, loss curves;
with a 2-D latent the latent scatter and the manifold grid; class rows for a
conditional model; the per-dimension KL and active units; clean/noisy/denoised
images for a denoising VAE). The design points of HY-673 lecture 10 are the
flags of :mod:`minivae.cli.design`. Old spellings: ``train --model vqvae`` runs
the ``vqvae`` command, ``train --feature-loss GAN`` the ``vaegan`` command.
"""
from __future__ import annotations

import math
import os
import sys

import numpy

from ..activations import ACTIVATIONS
from ..datasets import load_data
from ..errors import ConfigError, MiniVAEError
from ..layers import INIT_SCHEMES
from ..models.checkpoint import checkpoint_kind
from ..models.diagnostics import latent_diagnostics
from ..models.registry import checkpoint_file
from ..models.two_layer import TwoLayerVAE
from ..models.vae import VAE
from ..models.vae_config import LIKELIHOODS
from ..train import LR_SCHEDULES, TrainConfig, corrupt, fit, update_metrics
from ..train import evaluate as test_figures
from ..train.run_folder import resolve_run
from .common import (add_data_args, add_device_args, add_model_args, add_run_args, add_training_command, run_folder,
                     train_config_args)
from .design import (add_design_args, add_latent_and_loss_args, add_layers_args, add_renyi_args, design_kwargs,
                     one_layer_flags, prepare, two_layer_kwargs)
from .parser import given, respelling
from .resume import resume_run

TRAINS = True
EXAMPLES = """examples:
  python -m minivae train --epochs 10                  (a new runs/train-<time>; runs/latest points to it)
  python -m minivae train --latent-dim 2 --posterior full --prior vamp --out runs/vamp
  python -m minivae train --layers 2 --binarize --iwae-k 5 --out runs/two-layer"""


def add_parser(sub):
    p = add_training_command(sub, "train", "VAE", "any design point of HY-673 lecture 10", EXAMPLES)
    add_data_args(p, binarize=True, val_size=True)
    model = add_model_args(p, hidden_help="encoder hidden sizes (decoder mirrors them); none for a linear VAE",
                           latent_help="size of z (for --latent categorical: variables)")
    model.add_argument("--likelihood", choices=LIKELIHOODS, default="bernoulli", help="p(x|z) of a pixel")
    model.add_argument("--learn-variance", action="store_true", help="Gaussian decoder with a learned per-pixel variance")
    model.add_argument("--obs-logvar", type=float, default=0.0,
                       help="Gaussian log-variance (log sigma^2): fixed, or the start of a learned one")
    model.add_argument("--min-logvar", type=float, default=None, metavar="FLOOR",
                       help="floor of the learned log-variance (--learn-variance), e.g. -6")
    model.add_argument("--activation", choices=sorted(ACTIVATIONS), default="relu", help="hidden layers' nonlinearity")
    model.add_argument("--beta", "--kl-weight", dest="beta", type=float, default=1.0, help="KL weight (beta-VAE)")
    model.add_argument("--num-classes", type=int, default=None, help="conditional VAE on the labels")
    model.add_argument("--free-bits", type=float, default=0.0, metavar="LAMBDA", help="KL floor per latent dim (nats)")
    model.add_argument("--iwae-k", type=int, default=1, metavar="K", help="train on the K-sample IWAE bound")
    add_renyi_args(model)
    model.add_argument("--init", choices=INIT_SCHEMES, default="uniform",
                       help="weight initialisation: uniform (U(+-1/sqrt(fan_in)), PyTorch's default), he, xavier, "
                            "auto (he for ReLU-like activations, else xavier)")
    model.add_argument("--output-bias", choices=("zero", "data"), default="zero",
                       help="decoder output bias at the start: zero, or the data's per-pixel mean (its logit for "
                            "Bernoulli; VAE.init_output_bias)")
    add_layers_args(model)
    design = p.add_argument_group("design points (HY-673 lecture 10): posterior, flow, prior, variance")
    add_design_args(design)
    latent = p.add_argument_group("discrete latents and InfoVAE's loss (HY-673 lecture 10)")
    add_latent_and_loss_args(latent)
    p.set_defaults(one_layer_only=one_layer_flags(model, design, latent))
    add_device_args(p)
    tr = p.add_argument_group("optimisation")
    tr.add_argument("--lr", type=float, default=1e-3, help="the learning rate")
    tr.add_argument("--lr-schedule", choices=LR_SCHEDULES, default="constant",
                    help="cosine: from --lr down to --lr-min over the run (epochs or time budget); "
                         "exponential: times --lr-decay per epoch, floored at --lr-min")
    tr.add_argument("--lr-min", type=float, default=0.0, help="the learning rate's floor")
    tr.add_argument("--lr-decay", type=float, default=1.0, help="per-epoch factor of the exponential schedule")
    tr.add_argument("--optimizer", choices=("adam", "sgd"), default="adam", help="the optimizer")
    tr.add_argument("--momentum", type=float, default=0.0, help="SGD momentum")
    tr.add_argument("--clip-norm", type=float, default=None, help="clip the global gradient norm")
    tr.add_argument("--warmup-epochs", type=float, default=0.0, help="KL warm-up: beta rises from 0 over E epochs")
    tr.add_argument("--denoise", type=float, default=0.0, metavar="SIGMA", help="Gaussian input noise std")
    tr.add_argument("--mask-noise", type=float, default=0.0, metavar="P", help="zero input pixels with probability P")
    tr.add_argument("--patience", type=int, default=None, help="early stopping on the validation loss")
    tr.add_argument("--keep-best", action="store_true",
                    help="end with the weights of the best validation loss (needs --val-size)")
    add_run_args(p)
    old = p.add_argument_group("old spellings (each prints its new one)")
    old.add_argument("--model", choices=("vae", "vqvae"), default="vae", action=respelling({"vqvae": "vqvae"}, True),
                     help="vqvae: the vqvae command (python -m minivae vqvae --help)")
    old.add_argument("--feature-loss", default=None, metavar="GAN_CHECKPOINT",
                     action=respelling({None: "vaegan"}, False),
                     help="VAE_Dis_l: the vaegan command with --feature-loss (python -m minivae vaegan --help)")
    old.add_argument("--feature-layer", type=int, default=None, metavar="L",
                     help="with --feature-loss: that discriminator's hidden layer")
    return p


def write_figures(vae, test, out_dir, history, noise=None):
    """All figures of a finished run into ``out_dir``; returns their paths.

    ``noise`` ({"denoise": sigma, "mask_noise": p}) adds the denoising figure
    (clean, corrupted and reconstructed test images).
    """
    from ..figures import vae as figures           # matplotlib loads only when a run draws
    paths = []
    rng = numpy.random.default_rng(0)
    idx = rng.choice(len(test.y), 10, replace=False)
    y = test.y[idx] if vae.config.conditional else None
    to_np = vae.backend.to_numpy
    paths.append(figures.reconstructions(test.x[idx], to_np(vae.reconstruct(test.x[idx], y)),
                                         os.path.join(out_dir, "reconstructions.png")))
    if vae.config.conditional:
        c = vae.config.num_classes
        labels = numpy.repeat(numpy.arange(c), 10)
        paths.append(figures.samples_per_class(to_np(vae.sample(len(labels), y=labels)),
                                               os.path.join(out_dir, "samples_per_class.png"), 10))
    else:
        paths.append(figures.samples(to_np(vae.sample(100)), os.path.join(out_dir, "samples.png")))
    paths.append(figures.loss_curves(history, os.path.join(out_dir, "loss_curves.png")))
    if noise is not None and (noise.get("denoise") or noise.get("mask_noise")):
        clean = test.x[idx]
        noisy = corrupt(clean.copy(), numpy.random.default_rng(1), noise.get("denoise", 0.0),
                        noise.get("mask_noise", 0.0))
        out = to_np(vae.reconstruct(noisy, y))
        paths.append(figures.class_rows(numpy.concatenate([clean, noisy, out]), os.path.join(out_dir, "denoising.png"),
                                        10, ["clean", "noisy input", "denoised"], "Denoising VAE"))
    if vae.config.latent == "categorical":                # no (mu, logvar): the Gaussian diagnostics do not apply
        return paths
    n = min(5000, len(test.y))
    ys = test.y[:n] if vae.config.conditional else None
    diag = latent_diagnostics(vae, test.x[:n], ys)
    mu = to_np(vae.encode(test.x[:n], ys)[0]) if vae.config.latent_dim == 2 else None
    paths.append(figures.kl_per_dim_bar(diag["kl_per_dim"], diag["active"], os.path.join(out_dir, "kl_per_dim.png")))
    paths.append(figures.latent_diagnostics(diag["kl_per_dim"], diag["activity"],
                                            os.path.join(out_dir, "latent_diagnostics.png")))
    if vae.config.latent_dim == 2:
        paths.append(figures.latent_scatter(mu, test.y[:n], os.path.join(out_dir, "latent.png")))
        if not vae.config.conditional:
            paths.append(figures.manifold_grid(lambda z: to_np(vae.decode(z)), os.path.join(out_dir, "manifold.png")))
    return paths


def run(a):
    """Train (or resume) the VAE run ``a`` describes; write its files; returns 0."""
    if a.feature_layer is not None:
        raise ConfigError("--feature-layer L needs --feature-loss GAN_CHECKPOINT (VAE_Dis_l, the vaegan command)")
    if a.resume and "layers" not in given(a) and _saved_kind(a.resume) == "vae2":
        a.layers = 2                               # a two-layer run: the one-layer flags are refused as for a new one
    two_layer = two_layer_kwargs(a, a.one_layer_only)
    if two_layer:
        return _run_two_layer(a, two_layer)
    if a.resume:
        vae, train, val, test, cfg, info, state = resume_run(a, "vae")
    else:
        vae, train, val, test, cfg, info = _new_run(a, VAE(**_model_kwargs(a)))
        state = None
    cond = vae.config.conditional
    if not a.quiet:
        print(f"{vae}\ntraining on {len(train.y)} {info['dataset']} images, {cfg.epochs} epochs, writing to {a.out}"
              + (f" (resuming after epoch {state.epoch}, step {state.step})" if state else ""), file=sys.stderr)
    history = fit(vae, train.x, test.x, train.y if cond else None, test.y if cond else None,
                  val_x=None if val is None else val.x, val_y=None if val is None or not cond else val.y,
                  config=cfg, progress=not a.quiet, out_dir=a.out, extra=info, state=state)
    final = test_figures(vae, vae.backend.asarray(test.x, dtype=vae.dtype), test.y if cond else None)
    c = vae.config
    diag = (latent_diagnostics(vae, test.x, test.y if cond else None) if c.latent == "gaussian"
            else {"active_units": None, "kl_per_dim": []})
    n_mi = min(2000, len(test.y))                    # I_q(x; z) <= log n_mi
    mi = (vae.mutual_information(test.x[:n_mi], test.y[:n_mi] if cond else None)
          if c.latent == "gaussian" and c.posterior == "diagonal" and not c.flow else None)
    figures = None
    if not a.no_figures:
        noise = {"denoise": cfg.denoise, "mask_noise": cfg.mask_noise}
        figures = write_figures(vae, test, a.out, history, noise)
    record = update_metrics(a.out, final={
        "test_loss": final["loss"], "test_recon": final["recon"], "test_kl": final["kl"],
        "test_elbo": final["recon"] + final["kl"], "active_units": diag["active_units"], "mutual_information": mi,
        "kl_per_dim": [round(float(v), 6) for v in diag["kl_per_dim"]]}, figures=figures)
    print(f"test loss {final['loss']:.2f} nats (recon {final['recon']:.2f}, KL {final['kl']:.2f}), "
          f"active units {'n/a' if diag['active_units'] is None else diag['active_units']}/{vae.config.latent_dim}, "
          + ("" if mi is None else f"I(x; z) {mi:.2f} nats (of at most log {n_mi} = {math.log(n_mi):.2f}), ")
          + f"after {len(history)} epochs, {record['final']['train_seconds']:.1f} s of training; wrote {a.out}")
    return 0


def _model_kwargs(a):
    return dict(input_dim=784, hidden_dims=tuple(a.hidden_dims), latent_dim=a.latent_dim,
                likelihood=a.likelihood, activation=a.activation, beta=a.beta, seed=a.seed, dtype=a.dtype,
                num_classes=a.num_classes, free_bits=a.free_bits, iwae_k=a.iwae_k,
                learn_variance=a.learn_variance, obs_logvar=a.obs_logvar, init=a.init,
                min_obs_logvar=a.min_logvar, backend=a.backend, **design_kwargs(a))


def _new_run(a, vae):
    """The data, options and run record of a new ``train`` run of ``vae`` (built first: bad model options fail
    before the data is read)."""
    cfg = TrainConfig(**train_config_args(a), lr=a.lr, optimizer=a.optimizer, momentum=a.momentum,
                      clip_norm=a.clip_norm, binarize=a.binarize, warmup_epochs=a.warmup_epochs, denoise=a.denoise,
                      mask_noise=a.mask_noise, patience=a.patience, lr_schedule=a.lr_schedule, lr_min=a.lr_min,
                      lr_decay=a.lr_decay, keep_best=a.keep_best)
    run_folder(a)                                  # an unusable --out fails now, not after an epoch
    train, val, test = load_data(a.dataset, a.data_dir, a.binarize, a.train_size, a.val_size, a.seed)
    test = test.first(a.test_size)
    if a.output_bias == "data":
        vae.init_output_bias(train.x)
    if vae.kind == "vae":
        prepare(vae, train.x, a)
    info = {**vae.config.to_dict(), "layers": 2 if vae.kind == "vae2" else 1, **vars(cfg), "dataset": a.dataset,
            "data_dir": a.data_dir, "seed": a.seed,
            "backend": a.backend, "output_bias": a.output_bias, "train_size": len(train.y),
            "val_size": 0 if val is None else len(val.y), "test_size": len(test.y)}
    return vae, train, val, test, cfg, info


def _saved_kind(resume):
    """The kind of the run ``--resume`` names ("vae" where it cannot be read: resuming then says why)."""
    try:
        return checkpoint_kind(checkpoint_file(resolve_run(resume)))
    except (MiniVAEError, OSError):
        return "vae"


def _run_two_layer(a, sizes):
    """Train (or resume) a ``--layers 2`` run (:class:`minivae.TwoLayerVAE`); its figures and report. Returns 0."""
    if a.resume:
        model, train, val, test, cfg, info, state = resume_run(a, "vae2")
    else:
        model = TwoLayerVAE(**sizes, likelihood=a.likelihood, obs_logvar=a.obs_logvar, beta=a.beta, iwae_k=a.iwae_k,
                            seed=a.seed, dtype=a.dtype, backend=a.backend)
        _, train, val, test, cfg, info = _new_run(a, model)
        state = None
    if not a.quiet:
        print(f"{model}\ntraining on {len(train.y)} {info['dataset']} images, {cfg.epochs} epochs, writing to {a.out}"
              + (f" (resuming after epoch {state.epoch}, step {state.step})" if state else ""), file=sys.stderr)
    history = fit(model, train.x, test.x, val_x=None if val is None else val.x, config=cfg, progress=not a.quiet,
                  out_dir=a.out, extra=info, state=state)
    final = test_figures(model, model.backend.asarray(test.x, dtype=model.dtype))
    active = model.active_units(test.x[:5000])
    figures = None
    if not a.no_figures:
        from ..figures import vae as draw                   # matplotlib loads only when a run draws
        idx = numpy.random.default_rng(0).choice(len(test.y), 10, replace=False)
        to_np = model.backend.to_numpy
        figures = [draw.reconstructions(test.x[idx], to_np(model.reconstruct(test.x[idx])),
                                        os.path.join(a.out, "reconstructions.png")),
                   draw.samples(to_np(model.sample(100)), os.path.join(a.out, "samples.png")),
                   draw.loss_curves(history, os.path.join(a.out, "loss_curves.png"))]
    record = update_metrics(a.out, final={
        "test_loss": final["loss"], "test_recon": final["recon"], "test_kl": final["kl"],
        "test_elbo": final["recon"] + final["kl"], "active_units": list(active)}, figures=figures)
    c = model.config
    print(f"test loss {final['loss']:.2f} nats (recon {final['recon']:.2f}, KL {final['kl']:.2f}), active units "
          f"{active[0]}/{c.latent_dim} (z1), {active[1]}/{c.latent_dim2} (z2), after {len(history)} epochs, "
          f"{record['final']['train_seconds']:.1f} s of training; wrote {a.out}")
    return 0
