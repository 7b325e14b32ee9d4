"""``python -m minivae train --model vqvae``: train a VQ-VAE (van den Oord et al. 2017) and write its files.

The VQ-VAE (:class:`minivae.models.vqvae.VQVAE`): the VAE's MLP encoder and decoder
(default 784-400, as ``train``), ``--latent-dim`` G code positions of
``--code-dim`` D each, a codebook of ``--codebook-size`` K vectors, the
commitment weight ``--commitment`` beta. After training, the empirical code
distribution of the training set becomes the prior of ``samples.png`` (the
paper fits an autoregressive PixelCNN over the codes instead). Writes to
``--out DIR``:

    model.npz           the checkpoint (kind "vqvae"), rewritten after every epoch
    metrics.json        {"config", "history", "final": test reconstruction NLL (recon, nats per image),
                         squared error, codebook and commitment losses, perplexity, dead codes (count,
                         fraction) of the test codes, epochs, wall_time_s; "figures"}
    reconstructions.png test inputs above their reconstructions
    samples.png         100 decodes of codes drawn from the empirical prior
    codebook_usage.png  how often each code is chosen on the test set
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy

from ..figures import vae as figures
from ..activations import ACTIVATIONS
from .common import add_data_args, make_out_dir
from ..models.checkpoint import write_json
from .gan import run
from ..models.vae_config import LIKELIHOODS
from ..datasets import INPUT_DIM, load_data
from ..layers import INIT_SCHEMES
from ..train import TrainConfig, evaluate, fit
from ..models.vqvae import VQVAE


def build_parser():
    p = argparse.ArgumentParser(prog="python -m minivae train --model vqvae", allow_abbrev=False,
                                description="train a VQ-VAE and write its checkpoint, metrics.json and figures")
    p.add_argument("--model", choices=("vqvae",), default="vqvae", help="(given to reach this command)")
    add_data_args(p, binarize=True)
    m = p.add_argument_group("model")
    m.add_argument("--hidden-dims", type=int, nargs="*", default=[400], metavar="H")
    m.add_argument("--latent-dim", type=int, default=20, metavar="G", help="code positions per image")
    m.add_argument("--code-dim", type=int, default=8, metavar="D", help="size of each code vector")
    m.add_argument("--codebook-size", type=int, default=64, metavar="K", help="codes in the codebook (>= 2)")
    m.add_argument("--commitment", type=float, default=0.25, metavar="BETA", help="commitment loss weight (>= 0)")
    m.add_argument("--likelihood", choices=LIKELIHOODS, default="bernoulli")
    m.add_argument("--activation", choices=sorted(ACTIVATIONS), default="relu")
    m.add_argument("--init", choices=INIT_SCHEMES, default="uniform")
    m.add_argument("--no-restart-dead", action="store_true",
                   help="never move unused codes to encoder outputs (the paper's plain VQ-VAE)")
    m.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    m.add_argument("--backend", choices=("numpy", "cupy"), default="numpy")
    m.add_argument("--seed", type=int, default=0)
    t = p.add_argument_group("training")
    t.add_argument("--epochs", type=int, default=10)
    t.add_argument("--batch-size", type=int, default=128)
    t.add_argument("--lr", type=float, default=1e-3)
    t.add_argument("--time-budget", type=float, default=None, metavar="SECONDS")
    t.add_argument("--out", default="runs/vqvae", metavar="DIR")
    t.add_argument("--no-figures", action="store_true")
    t.add_argument("--quiet", action="store_true")
    return p


def _new_run(a):
    model = VQVAE(input_dim=INPUT_DIM, hidden_dims=tuple(a.hidden_dims), latent_dim=a.latent_dim,
                  code_dim=a.code_dim, codebook_size=a.codebook_size, commitment=a.commitment,
                  likelihood=a.likelihood, activation=a.activation, init=a.init, restart_dead=not a.no_restart_dead,
                  seed=a.seed, dtype=a.dtype, backend=a.backend)
    cfg = TrainConfig(epochs=a.epochs, batch_size=a.batch_size, lr=a.lr, seed=a.seed, binarize=a.binarize,
                      time_budget=a.time_budget)
    make_out_dir(a.out)                            # an unwritable --out fails now, not after an epoch
    train, _, test = load_data(a.dataset, a.data_dir, a.binarize, a.train_size, 0, a.seed)
    test = test.first(a.test_size)
    info = {**vars(cfg), **model.architecture(), "dataset": a.dataset, "train_size": len(train.y),
            "test_size": len(test.y), "backend": a.backend}
    return model, train, test, cfg, info


def cmd_vqvae(a, given=()):
    t_start = time.perf_counter()
    model, train, test, cfg, info = _new_run(a)
    if not a.quiet:
        print(f"{model}\ntraining on {len(train.y)} {a.dataset} images, {cfg.epochs} epochs, writing to {a.out}",
              file=sys.stderr)
    history = fit(model, train.x, test.x, config=cfg, progress=not a.quiet, out_dir=a.out, extra=info)
    xt = model.backend.asarray(test.x, dtype=model.dtype)
    res = evaluate(model, xt)
    model.fit_prior(model.backend.asarray(train.x, dtype=model.dtype))
    model.save(os.path.join(a.out, "model.npz"), info)                     # with the fitted prior
    stats = model.code_stats(xt)
    err = float(((model.backend.to_numpy(model.reconstruct(xt)) - test.x) ** 2).sum(axis=1).mean())
    final = {"test_recon": res["recon"], "test_squared_error": err, "test_codebook": res["codebook"],
             "test_commitment": res["commitment"], "perplexity": stats["perplexity"],
             "dead_codes": stats["dead_codes"], "dead_fraction": stats["dead_fraction"], "epochs": len(history)}
    metrics = {"config": info, "history": history, "final": final}
    if not a.no_figures:
        metrics["figures"] = _figures(model, test, stats["usage"], a.out)
    final["wall_time_s"] = time.perf_counter() - t_start
    write_json(metrics, os.path.join(a.out, "metrics.json"))
    print(f"test reconstruction {final['test_recon']:.2f} nats (squared error {err:.2f}), perplexity "
          f"{final['perplexity']:.1f} of {model.config.codebook_size} codes, {final['dead_codes']} dead, after "
          f"{len(history)} epochs, {final['wall_time_s']:.1f} s; wrote {a.out}")
    return 0


def _figures(model, test, usage, out):
    to_np = model.backend.to_numpy
    idx = numpy.random.default_rng(0).choice(len(test.y), min(10, len(test.y)), replace=False)
    paths = [figures.reconstructions(test.x[idx], to_np(model.reconstruct(test.x[idx])),
                                     os.path.join(out, "reconstructions.png")),
             figures.samples(to_np(model.sample(100)), os.path.join(out, "samples.png")),
             figures.codebook_usage(usage, os.path.join(out, "codebook_usage.png"),
                                    "How often each code is chosen on the test images")]
    return [os.path.basename(p) for p in paths]


def main(argv=None):
    return run(build_parser(), sys.argv[1:] if argv is None else list(argv), cmd_vqvae)
