"""The command line: ``python -m minivae train``, ``evaluate`` and ``bench``.

``train`` writes to ``--out DIR``: ``model.npz`` (rewritten after every
epoch, so the last good one survives a crash), ``metrics.json`` and PNG
figures (reconstructions, prior samples, loss curves; with a 2-D latent the
latent scatter and the manifold grid; class rows for a conditional model;
the per-dimension KL and active units; clean/noisy/denoised images for a
denoising VAE). ``evaluate`` (:mod:`minivae.cli.evaluate`) adds the k-sample test NLL
and the sample quality of a VAE or a GAN; ``bench nll`` is
:mod:`minivae.bench.nll`.
"""
from __future__ import annotations

import argparse
import importlib
import math
import os
import sys
import time

import numpy

from ..figures import vae as figures
from ..models.checkpoint import write_json
from ..models.vae_config import LIKELIHOODS
from ..activations import ACTIVATIONS
from ..datasets import DATASETS, load_data
from .design import add_design_args, add_latent_and_loss_args, design_kwargs, prepare
from .resume import given_options, resume_run
from ..errors import MiniVAEError, TrainingInterrupted
from ..models.diagnostics import latent_diagnostics
from ..train import LR_SCHEDULES, TrainConfig, corrupt, fit
from .. import train as training   # (``evaluate`` is also this package's command module)
from ..layers import INIT_SCHEMES
from ..models.vae import VAE


#: the benchmarks that are commands of their own: ``bench NAME`` -> minivae.bench.MODULE
BENCH_COMMANDS = {"nll": "nll", "variants": "variants", "faults": "faults", "gpu-check": "gpu.check"}
#: the commands written in modules of their own: ``NAME ...`` -> minivae.MODULE.main(argv)
COMMANDS = {"gan": "gan", "classifier": "classifier", "evaluate": "evaluate", "vaegan": "vaegan",
            "compare": "compare"}



def add_train_args(p):
    data = p.add_argument_group("data")
    data.add_argument("--dataset", choices=DATASETS, default="mnist")
    data.add_argument("--data-dir", default=None, help="folder with the four IDX files (Fashion-MNIST)")
    data.add_argument("--binarize", action="store_true",
                      help="dynamic binarization: resample each pixel ~ Bernoulli(intensity) at every batch")
    data.add_argument("--train-size", type=int, default=None, help="use only the first N training images")
    data.add_argument("--test-size", type=int, default=None, help="use only the first N test images")
    data.add_argument("--val-size", type=int, default=0,
                      help="hold out the last N training images for validation (model selection)")
    model = p.add_argument_group("model")
    model.add_argument("--hidden-dims", type=int, nargs="*", default=[400], metavar="H",
                       help="encoder hidden sizes (decoder mirrors them); none for a linear VAE")
    model.add_argument("--latent-dim", type=int, default=20)
    model.add_argument("--likelihood", choices=LIKELIHOODS, default="bernoulli")
    model.add_argument("--learn-variance", action="store_true", help="Gaussian decoder with a learned per-pixel variance")
    model.add_argument("--obs-logvar", type=float, default=0.0,
                       help="Gaussian log-variance (log sigma^2): fixed, or the start of a learned one")
    model.add_argument("--min-logvar", type=float, default=None, metavar="FLOOR",
                       help="floor of the learned log-variance (--learn-variance), e.g. -6")
    model.add_argument("--activation", choices=sorted(ACTIVATIONS), default="relu")
    model.add_argument("--beta", "--kl-weight", dest="beta", type=float, default=1.0, help="KL weight (beta-VAE)")
    model.add_argument("--num-classes", type=int, default=None, help="conditional VAE on the labels")
    model.add_argument("--free-bits", type=float, default=0.0, metavar="LAMBDA", help="KL floor per latent dim (nats)")
    model.add_argument("--iwae-k", type=int, default=1, metavar="K", help="train on the K-sample IWAE bound")
    model.add_argument("--init", choices=INIT_SCHEMES, default="uniform",
                       help="weight initialisation: uniform (U(+-1/sqrt(fan_in)), PyTorch's default), he, xavier, "
                            "auto (he for ReLU-like activations, else xavier)")
    model.add_argument("--output-bias", choices=("zero", "data"), default="zero",
                       help="decoder output bias at the start: zero, or the data's per-pixel mean (its logit for "
                            "Bernoulli; VAE.init_output_bias)")
    add_design_args(p.add_argument_group("design points (HY-673 lecture 10): posterior, flow, prior, variance"))
    add_latent_and_loss_args(p.add_argument_group("discrete latents and InfoVAE's loss (HY-673 lecture 10)"))
    model.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    model.add_argument("--backend", choices=("numpy", "cupy"), default="numpy")
    model.add_argument("--seed", type=int, default=0)
    tr = p.add_argument_group("training")
    tr.add_argument("--epochs", type=int, default=10)
    tr.add_argument("--batch-size", type=int, default=128)
    tr.add_argument("--lr", type=float, default=1e-3)
    tr.add_argument("--lr-schedule", choices=LR_SCHEDULES, default="constant",
                    help="cosine: from --lr down to --lr-min over the run (epochs or time budget); "
                         "exponential: times --lr-decay per epoch, floored at --lr-min")
    tr.add_argument("--lr-min", type=float, default=0.0, help="the learning rate's floor")
    tr.add_argument("--lr-decay", type=float, default=1.0, help="per-epoch factor of the exponential schedule")
    tr.add_argument("--optimizer", choices=("adam", "sgd"), default="adam")
    tr.add_argument("--momentum", type=float, default=0.0, help="SGD momentum")
    tr.add_argument("--clip-norm", type=float, default=None, help="clip the global gradient norm")
    tr.add_argument("--warmup-epochs", type=float, default=0.0, help="KL warm-up: beta rises from 0 over E epochs")
    tr.add_argument("--denoise", type=float, default=0.0, metavar="SIGMA", help="Gaussian input noise std")
    tr.add_argument("--mask-noise", type=float, default=0.0, metavar="P", help="zero input pixels with probability P")
    tr.add_argument("--patience", type=int, default=None, help="early stopping on the validation loss")
    tr.add_argument("--keep-best", action="store_true",
                    help="end with the weights of the best validation loss (needs --val-size)")
    tr.add_argument("--time-budget", type=float, default=None, metavar="SECONDS",
                    help="stop before an epoch that would end past this many seconds")
    tr.add_argument("--budget-clock", choices=("wall", "cpu"), default="wall",
                    help="count --time-budget in wall-clock or this process's CPU seconds")
    tr.add_argument("--out", default="runs/latest", metavar="DIR")
    tr.add_argument("--checkpoint-every", type=int, default=None, metavar="STEPS",
                    help="also write the checkpoint every STEPS steps inside an epoch (a kill loses at most that many)")
    tr.add_argument("--resume", default=None, metavar="DIR",
                    help="continue the run saved in DIR where it stopped (Ctrl-C, SIGTERM, a kill); "
                         "--epochs N may extend it, other options must match the run's")
    tr.add_argument("--no-figures", action="store_true")
    tr.add_argument("--quiet", action="store_true")


def _model_kwargs(a):
    return dict(input_dim=784, hidden_dims=tuple(a.hidden_dims), latent_dim=a.latent_dim,
                likelihood=a.likelihood, activation=a.activation, beta=a.beta, seed=a.seed, dtype=a.dtype,
                num_classes=a.num_classes, free_bits=a.free_bits, iwae_k=a.iwae_k,
                learn_variance=a.learn_variance, obs_logvar=a.obs_logvar, init=a.init,
                min_obs_logvar=a.min_logvar, backend=a.backend, **design_kwargs(a))


def write_figures(vae, test, out_dir, history, noise=None):
    """All figures of a finished run into ``out_dir``; returns their paths.

    ``noise`` ({"denoise": sigma, "mask_noise": p}) adds the denoising figure
    (clean, corrupted and reconstructed test images).
    """
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
        paths.append(figures.class_rows(to_np(vae.sample(len(labels), y=labels)),
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


def cmd_train(a, given=()):
    t_start = time.perf_counter()
    if a.resume:
        vae, train, val, test, cfg, info, state = resume_run(a, set(given))
    else:
        vae, train, val, test, cfg, info = _new_run(a)
        state = None
    cond = vae.config.conditional
    if not a.quiet:
        print(f"{vae}\ntraining on {len(train.y)} {info['dataset']} images, {cfg.epochs} epochs, writing to {a.out}"
              + (f" (resuming after epoch {state.epoch}, step {state.step})" if state else ""), file=sys.stderr)
    history = fit(vae, train.x, test.x, train.y if cond else None, test.y if cond else None,
                  val_x=None if val is None else val.x, val_y=None if val is None or not cond else val.y,
                  config=cfg, progress=not a.quiet, out_dir=a.out, extra=info, state=state)
    final = training.evaluate(vae, vae.backend.asarray(test.x, dtype=vae.dtype), test.y if cond else None)
    c = vae.config
    diag = (latent_diagnostics(vae, test.x, test.y if cond else None) if c.latent == "gaussian"
            else {"active_units": None, "kl_per_dim": []})
    n_mi = min(2000, len(test.y))                    # I_q(x; z) <= log n_mi
    mi = (vae.mutual_information(test.x[:n_mi], test.y[:n_mi] if cond else None)
          if c.latent == "gaussian" and c.posterior == "diagonal" and not c.flow else None)
    metrics = {"config": info, "history": history,
               "final": {"test_loss": final["loss"], "test_recon": final["recon"], "test_kl": final["kl"],
                         "test_elbo": final["recon"] + final["kl"], "epochs": len(history),
                         "active_units": diag["active_units"], "mutual_information": mi,
                         "kl_per_dim": [round(float(v), 6) for v in diag["kl_per_dim"]]},
               "wall_time_s": None}
    if not a.no_figures:
        noise = {"denoise": cfg.denoise, "mask_noise": cfg.mask_noise}
        metrics["figures"] = [os.path.basename(p) for p in write_figures(vae, test, a.out, history, noise)]
    metrics["wall_time_s"] = time.perf_counter() - t_start
    write_json(metrics, os.path.join(a.out, "metrics.json"))
    print(f"test loss {final['loss']:.2f} nats (recon {final['recon']:.2f}, KL {final['kl']:.2f}), "
          f"active units {'n/a' if diag['active_units'] is None else diag['active_units']}/{vae.config.latent_dim}, "
          + ("" if mi is None else f"I(x; z) {mi:.2f} nats (of at most log {n_mi} = {math.log(n_mi):.2f}), ")
          + f"after {len(history)} epochs, "
          f"{metrics['wall_time_s']:.1f} s; wrote {a.out}")
    return 0


def _new_run(a):
    """The model, data, options and run record of a new ``train`` run."""
    vae = VAE(**_model_kwargs(a))                  # bad model options fail before the data is read
    train, val, test = load_data(a.dataset, a.data_dir, a.binarize, a.train_size, a.val_size, a.seed)
    test = test.first(a.test_size)
    if a.output_bias == "data":
        vae.init_output_bias(train.x)
    prepare(vae, train.x, a)
    cfg = TrainConfig(epochs=a.epochs, batch_size=a.batch_size, lr=a.lr, optimizer=a.optimizer,
                      momentum=a.momentum, clip_norm=a.clip_norm, binarize=a.binarize,
                      warmup_epochs=a.warmup_epochs, denoise=a.denoise, mask_noise=a.mask_noise,
                      time_budget=a.time_budget, patience=a.patience, seed=a.seed, lr_schedule=a.lr_schedule,
                      lr_min=a.lr_min, lr_decay=a.lr_decay, keep_best=a.keep_best, budget_clock=a.budget_clock,
                      checkpoint_every=a.checkpoint_every)
    os.makedirs(a.out, exist_ok=True)              # an unwritable --out fails now, not after an epoch
    info = {**vae.config.to_dict(), **vars(cfg), "dataset": a.dataset, "data_dir": a.data_dir, "seed": a.seed,
            "backend": a.backend, "output_bias": a.output_bias, "train_size": len(train.y),
            "val_size": 0 if val is None else len(val.y), "test_size": len(test.y)}
    return vae, train, val, test, cfg, info


def build_parser():
    p = argparse.ArgumentParser(prog="python -m minivae", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    p.train_parser = sub.add_parser("train", help="train a VAE and write checkpoint, metrics and figures")
    add_train_args(p.train_parser)
    p.train_parser.add_argument("--model", choices=("vae", "vqvae"), default="vae",
                                help="vqvae: train a VQ-VAE instead (`python -m minivae train --model vqvae --help`)")
    fl = p.train_parser.add_argument_group("VAE_Dis_l: with --feature-loss the run is `python -m minivae vaegan "
                                           "--feature-loss ...` (its options, not train's; see its --help)")
    fl.add_argument("--feature-loss", default=None, metavar="GAN_CHECKPOINT",
                    help="measure the reconstruction in this trained GAN's discriminator features, frozen")
    fl.add_argument("--feature-layer", type=int, default=None, metavar="L", help="that discriminator's hidden layer")
    sub.add_parser("evaluate", help="test -ELBO, NLL and active units of a VAE; sample quality of a VAE or GAN "
                   "(see `python -m minivae evaluate --help`)", add_help=False)
    sub.add_parser("bench", help="speed benchmarks (see `python -m minivae bench --help`)", add_help=False)
    sub.add_parser("gan", help="train a GAN (see `python -m minivae gan --help`)", add_help=False)
    sub.add_parser("classifier", help="train the MNIST classifier of the sample-quality yardstick", add_help=False)
    sub.add_parser("vaegan", help="train a VAE-GAN or VAE_Dis_l (see `python -m minivae vaegan --help`)",
                   add_help=False)
    sub.add_parser("compare", help="VAE, GAN and VAE-GAN checkpoints side by side", add_help=False)
    return p


def _model_flag(argv):
    """The value of ``--model`` in argv (None if absent)."""
    for i, t in enumerate(argv):
        if t.startswith("--model="):
            return t.split("=", 1)[1]
        if t == "--model" and i + 1 < len(argv):
            return argv[i + 1]
    return None


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] == "bench":                 # python -m minivae bench [nll|variants|faults|gpu-check] ...
        name = BENCH_COMMANDS.get(argv[1]) if len(argv) > 1 else None
        module = importlib.import_module(f"..bench.{name}" if name else "..bench", __package__)
        return module.main(argv[2:] if name else argv[1:])
    if argv[:1] == ["train"] and any(t == "--feature-loss" or t.startswith("--feature-loss=") for t in argv):
        return importlib.import_module(".vaegan", __package__).main(argv[1:])     # VAE_Dis_l
    if argv[:1] == ["train"] and _model_flag(argv) == "vqvae":
        return importlib.import_module(".vqvae", __package__).main(argv[1:])
    if argv and argv[0] in COMMANDS:
        return importlib.import_module(f".{COMMANDS[argv[0]]}", __package__).main(argv[1:])
    parser = build_parser()
    a = parser.parse_args(argv)
    if a.feature_layer is not None:
        parser.train_parser.error("--feature-layer L needs --feature-loss GAN_CHECKPOINT (VAE_Dis_l)")
    try:
        return cmd_train(a, given_options(parser.train_parser, argv))        # every other command is dispatched above
    except MiniVAEError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except TrainingInterrupted as exc:
        print(f"\n{exc}." + (f" Resume it with:\n    python -m minivae train --resume {exc.out_dir}"
                             if exc.out_dir else ""), file=sys.stderr)
        return exc.exit_code
