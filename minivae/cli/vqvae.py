"""``python -m minivae vqvae``: train a VQ-VAE (van den Oord et al. 2017) and write its files.

The VQ-VAE (:class:`minivae.models.vqvae.VQVAE`): the VAE's MLP encoder and decoder
(default 784-400, as ``train``), ``--latent-dim`` G code positions of
``--code-dim`` D each, a codebook of ``--codebook-size`` K vectors, the
commitment weight ``--commitment`` beta. After training, the empirical code
distribution of the training set becomes the prior of ``samples.png`` (the
paper fits an autoregressive PixelCNN over the codes instead). Writes to
``--out DIR`` (none: a new ``runs/vqvae-<time>``, with ``runs/latest``
pointing to it; :func:`minivae.cli.common.run_folder`):

    model.npz           the checkpoint (kind "vqvae"), rewritten after every epoch (the one before kept as
                        model.prev.npz), and at the end with the fitted prior and the run's state
    metrics.json        the loop's layout (:mod:`minivae.train.run_record`), with "final" adding the test
                        reconstruction NLL (recon, nats per image), squared error, codebook and commitment
                        losses, perplexity and dead codes (count, fraction) of the test codes, and "figures"
    reconstructions.png test inputs above their reconstructions
    samples.png         100 decodes of codes drawn from the empirical prior
    codebook_usage.png  how often each code is chosen on the test set

``--resume RUN`` continues a stopped run exactly, as every training command does
(:mod:`minivae.cli.resume`). The old spelling ``train --model vqvae`` runs this command.
"""
from __future__ import annotations

import os

import numpy

from ..activations import ACTIVATIONS
from ..datasets import INPUT_DIM
from ..layers import INIT_SCHEMES
from ..models.vae_config import LIKELIHOODS
from ..models.vqvae import VQVAE
from ..train import evaluate, update_metrics
from ..train.loop import write_run
from .common import add_data_args, add_device_args, add_model_args, add_run_args, add_training_command
from .training import fit_run, new_run

TRAINS = True
EXAMPLES = """examples:
  python -m minivae vqvae --epochs 10 --out runs/vqvae
  python -m minivae vqvae --resume runs/vqvae --epochs 20"""


def add_parser(sub):
    p = add_training_command(sub, "vqvae", "VQ-VAE", "van den Oord et al. 2017", EXAMPLES)
    add_data_args(p, binarize=True)
    m = add_model_args(p, latent_help="code positions per image", latent_metavar="G")
    m.add_argument("--code-dim", type=int, default=8, metavar="D", help="size of each code vector")
    m.add_argument("--codebook-size", type=int, default=64, metavar="K", help="codes in the codebook (>= 2)")
    m.add_argument("--commitment", type=float, default=0.25, metavar="BETA", help="commitment loss weight (>= 0)")
    m.add_argument("--likelihood", choices=LIKELIHOODS, default="bernoulli", help="p(x|z_q) of a pixel")
    m.add_argument("--activation", choices=sorted(ACTIVATIONS), default="relu", help="hidden layers' nonlinearity")
    m.add_argument("--init", choices=INIT_SCHEMES, default="uniform", help="weight initialisation")
    m.add_argument("--no-restart-dead", action="store_true",
                   help="never move unused codes to encoder outputs (the paper's plain VQ-VAE)")
    add_device_args(p)
    t = p.add_argument_group("optimisation")
    t.add_argument("--lr", type=float, default=1e-3, help="the learning rate (the codebook's is scaled up)")
    add_run_args(p)
    return p


def _new_run(a):
    model = VQVAE(input_dim=INPUT_DIM, hidden_dims=tuple(a.hidden_dims), latent_dim=a.latent_dim,
                  code_dim=a.code_dim, codebook_size=a.codebook_size, commitment=a.commitment,
                  likelihood=a.likelihood, activation=a.activation, init=a.init, restart_dead=not a.no_restart_dead,
                  seed=a.seed, dtype=a.dtype, backend=a.backend)
    return (model, *new_run(a, model, lr=a.lr))


def run(a):
    """Train (or resume) the VQ-VAE run ``a`` describes; write its files; returns 0."""
    model, train, test, cfg, info, state, history = fit_run(a, "vqvae", _new_run)
    xt = model.backend.asarray(test.x, dtype=model.dtype)
    res = evaluate(model, xt)
    model.fit_prior(model.backend.asarray(train.x, dtype=model.dtype))
    write_run(model, state, cfg, a.out, info)          # with the fitted prior, still resumable (--epochs more)
    stats = model.code_stats(xt)
    err = float(((model.backend.to_numpy(model.reconstruct(xt)) - test.x) ** 2).sum(axis=1).mean())
    final = {"test_recon": res["recon"], "test_squared_error": err, "test_codebook": res["codebook"],
             "test_commitment": res["commitment"], "perplexity": stats["perplexity"],
             "dead_codes": stats["dead_codes"], "dead_fraction": stats["dead_fraction"]}
    figures = None if a.no_figures else _figures(model, test, stats["usage"], a.out)
    seconds = update_metrics(a.out, final=final, figures=figures)["final"]["train_seconds"]
    print(f"test reconstruction {final['test_recon']:.2f} nats (squared error {err:.2f}), perplexity "
          f"{final['perplexity']:.1f} of {model.config.codebook_size} codes, {final['dead_codes']} dead, after "
          f"{len(history)} epochs, {seconds:.1f} s of training; wrote {a.out}")
    return 0


def _figures(model, test, usage, out):
    from ..figures import vae as figures           # matplotlib loads only when a run draws
    to_np = model.backend.to_numpy
    idx = numpy.random.default_rng(0).choice(len(test.y), min(10, len(test.y)), replace=False)
    paths = [figures.reconstructions(test.x[idx], to_np(model.reconstruct(test.x[idx])),
                                     os.path.join(out, "reconstructions.png")),
             figures.samples(to_np(model.sample(100)), os.path.join(out, "samples.png")),
             figures.codebook_usage(usage, os.path.join(out, "codebook_usage.png"),
                                    "How often each code is chosen on the test images")]
    return [os.path.basename(p) for p in paths]
