"""``python -m minivae ae``: train a plain deterministic autoencoder and write its files.

The autoencoder (:class:`minivae.Autoencoder`): the VAE's MLP encoder and
decoder (default 784-400-20, mirrored) with a point code z = Enc(x), no
sampling, no KL; the loss is the reconstruction alone, Bernoulli
cross-entropy or, with ``--likelihood gaussian``, the squared error (a unit
Gaussian's NLL, nats). Writes to ``--out DIR`` (none: a new
``runs/ae-<time>``, with ``runs/latest`` pointing to it;
:func:`minivae.cli.common.run_folder`):

    model.npz           the checkpoint (kind "ae"), rewritten after every epoch (the one before kept as
                        model.prev.npz)
    metrics.json        the loop's layout (:mod:`minivae.train.run_record`), with "final" adding the test
                        reconstruction (recon, nats per image) and squared error, and "figures"
    reconstructions.png test inputs above their reconstructions
    samples.png         100 decodes of z ~ N(0, I): the VAE's prior, which this model never trained for
    interpolation.png   decodes on the segment between two test digits' codes, for a few pairs; with
                        ``--compare-vae RUN`` each autoencoder row has the VAE's row below it

``--resume RUN`` continues a stopped run exactly, as every training command does
(:mod:`minivae.cli.resume`).
"""
from __future__ import annotations

import os

import numpy

from ..activations import ACTIVATIONS
from ..datasets import INPUT_DIM
from ..errors import ConfigError
from ..layers import INIT_SCHEMES
from ..models.autoencoder import Autoencoder
from ..models.observation import LIKELIHOODS
from ..models.registry import load, model_class
from ..train import evaluate, update_metrics
from ..train.run_folder import resolve_run
from .common import add_data_args, add_device_args, add_model_args, add_run_args, add_training_command
from .training import fit_run, new_run

TRAINS = True
EXAMPLES = """examples:
  python -m minivae ae --epochs 10 --out runs/ae
  python -m minivae ae --epochs 10 --out runs/ae --compare-vae runs/vae
  python -m minivae ae --resume runs/ae --epochs 20"""
#: test digit pairs of the interpolation figure (their classes differ), and the points on each segment
PAIRS, STEPS = 4, 10


def add_parser(sub):
    p = add_training_command(sub, "ae", "plain autoencoder", "deterministic codes, no KL", EXAMPLES)
    add_data_args(p, binarize=True)
    m = add_model_args(p, latent_help="size of the code z", latent_metavar="M")
    m.add_argument("--likelihood", choices=LIKELIHOODS, default="bernoulli",
                   help="reconstruction loss: bernoulli (cross-entropy with logits) or gaussian (squared error)")
    m.add_argument("--activation", choices=sorted(ACTIVATIONS), default="relu", help="hidden layers' nonlinearity")
    m.add_argument("--init", choices=INIT_SCHEMES, default="uniform", help="weight initialisation")
    add_device_args(p)
    t = p.add_argument_group("optimisation")
    t.add_argument("--lr", type=float, default=1e-3, help="the learning rate")
    f = p.add_argument_group("figures")
    f.add_argument("--compare-vae", default=None, metavar="RUN",
                   help="a VAE run (its folder or model.npz) whose interpolations are drawn beside the autoencoder's")
    add_run_args(p)
    return p


def _new_run(a):
    model = Autoencoder(input_dim=INPUT_DIM, hidden_dims=tuple(a.hidden_dims), latent_dim=a.latent_dim,
                        likelihood=a.likelihood, activation=a.activation, init=a.init, seed=a.seed, dtype=a.dtype,
                        backend=a.backend)
    return (model, *new_run(a, model, lr=a.lr))


def _vae(run):
    """The VAE of the run ``--compare-vae`` names, loaded before training; None without one."""
    if run is None:
        return None
    path = os.fspath(resolve_run(run))
    if not os.path.exists(path):
        raise ConfigError(f"--compare-vae {run}: no such run (a VAE run's folder or its model.npz)")
    kind = model_class(path).kind
    vae = load(path) if kind == "vae" else None
    if vae is None or vae.config.latent != "gaussian" or vae.config.num_classes or vae.config.input_dim != INPUT_DIM:
        raise ConfigError(f"--compare-vae {run}: a {kind!r} run; expected an unconditional VAE of Gaussian latents "
                          f"on {INPUT_DIM}-pixel images (a `python -m minivae train` run)")
    return vae


def run(a):
    """Train (or resume) the autoencoder run ``a`` describes; write its files; returns 0."""
    vae = None if a.no_figures else _vae(a.compare_vae)
    model, _, test, _, _, _, history = fit_run(a, "ae", _new_run)
    xt = model.backend.asarray(test.x, dtype=model.dtype)
    err = float(((model.backend.to_numpy(model.reconstruct(xt)) - test.x) ** 2).sum(axis=1).mean())
    final = {"test_recon": evaluate(model, xt)["recon"], "test_squared_error": err}
    figures = None if a.no_figures else _figures(model, test, vae, a.out)
    seconds = update_metrics(a.out, final=final, figures=figures)["final"]["train_seconds"]
    print(f"test reconstruction {final['test_recon']:.2f} nats (squared error {err:.2f}) after {len(history)} "
          f"epochs, {seconds:.1f} s of training; wrote {a.out}")
    return 0


def pairs(y, n=PAIRS):
    """Indices (a, b) of n test-digit pairs of different classes: the first image of class i and of class i + 1."""
    first = {int(c): int(numpy.flatnonzero(y == c)[0]) for c in numpy.unique(y)}
    classes = sorted(first)
    return [(first[classes[i]], first[classes[(i + 1) % len(classes)]]) for i in range(min(n, len(classes)))]


def _figures(model, test, vae, out):
    from ..figures import interpolation, vae as figures           # matplotlib loads only when a run draws
    to_np = model.backend.to_numpy
    idx = numpy.random.default_rng(0).choice(len(test.y), min(10, len(test.y)), replace=False)
    rows, labels = [], []
    for i, j in pairs(test.y):
        rows.append(to_np(model.interpolate(test.x[i], test.x[j], STEPS)))
        labels.append(f"AE {test.y[i]}-{test.y[j]}")
        if vae is not None:
            rows.append(vae.backend.to_numpy(vae.interpolate(test.x[i], test.x[j], STEPS)))
            labels.append(f"VAE {test.y[i]}-{test.y[j]}")
    paths = [figures.reconstructions(test.x[idx], to_np(model.reconstruct(test.x[idx])),
                                     os.path.join(out, "reconstructions.png")),
             figures.samples(to_np(model.sample(100)), os.path.join(out, "samples.png"),
                             title="Decoder outputs for z ~ N(0, I)"),
             interpolation.interpolations(rows, labels, os.path.join(out, "interpolation.png"))]
    return [os.path.basename(p) for p in paths]
