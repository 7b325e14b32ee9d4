"""``python -m minivae evaluate CHECKPOINT``: the test figures of any model, the sample quality of any generator.

A VAE (and a VAE-GAN, through its encoder and decoder, under the pixel
likelihood; and a two-layer VAE, with the active units of each layer): test
-ELBO, KL, active units and the k-sample NLL estimate. A
VQ-VAE: the test reconstruction NLL -log p(x | z_q(x)), the codebook and
commitment losses, the perplexity of its codes. A plain autoencoder: its
test reconstruction loss. A GAN: nothing but its samples. With
``--samples N``, every kind also gets the yardstick of N samples (FID, class
entropy, Inception score: :mod:`minivae.metrics`; a VQ-VAE's are drawn from
its code prior, an autoencoder's decoded from N(0, I)), drawn by
:func:`minivae.cli.sampling.sample_images`, as ``compare`` draws them; the
JSON records the SHA-256 of the classifier that scored them. The NLL and
the yardstick show their progress on stderr (a bar with the time left in a
terminal, a line per stage in a log; nothing with ``--quiet``).
"""
from __future__ import annotations

import argparse
import os
import time

from ..datasets import DATASETS, load_data
from ..errors import ConfigError
from ..models.checkpoint import load_checkpoint, write_json
from ..models.registry import checkpoint_file, load
from ..train import Progress, evaluate
from ..train.run_folder import resolve_run
from .common import BACKENDS, check_at_least, out_file
from .sampling import describe, sample_images, yardstick

JSON_KEYS = ('{"kind", "test_elbo", "test_nll", "test_kl", "test_recon", "active_units", "k", "n", ..., '
             '"sample_quality": {"fid", "class_entropy", "inception_score", "n", "classifier_sha256"}}')
EXAMPLES = """examples:
  python -m minivae evaluate runs/latest --k 5000 --json runs/latest/nll.json
  python -m minivae evaluate runs/gan/model.npz --samples 10000"""


#: the kinds without a per-dimension KL, as a sentence names them
_NO_KL_FIGURE = {"gan": "a GAN", "vqvae": "a VQ-VAE", "ae": "an autoencoder", "vae2": "a two-layer VAE"}


def add_parser(sub):
    p = sub.add_parser("evaluate", help="test -ELBO, NLL and active units of a VAE; sample quality of any model",
                       description=__doc__.split("\n\n")[0].replace("``", ""), epilog=EXAMPLES)
    p.add_argument("checkpoint", help="a model.npz, or a run's folder holding one")
    nll = p.add_argument_group("the k-sample NLL (a VAE, VAE-GAN; a VQ-VAE's reconstruction NLL)")
    nll.add_argument("--k", type=int, default=5000, help="importance samples per test image of the NLL estimate")
    nll.add_argument("--batch-size", type=int, default=100, help="test images per batch of the NLL estimate")
    nll.add_argument("--n", type=int, default=None, help="only the first N test images (none: all)")
    data = p.add_argument_group("test data")
    data.add_argument("--dataset", choices=DATASETS, default=None, help="the test images (none: the model's)")
    data.add_argument("--data-dir", default=None, help="folder with the four IDX files (Fashion-MNIST)")
    data.add_argument("--binarize", action=argparse.BooleanOptionalAction, default=None,
                      help="binarize the test set (none: as the model was trained)")
    device = p.add_argument_group("device")
    device.add_argument("--backend", choices=BACKENDS, default="numpy", help="numpy (CPU) or cupy (an NVIDIA GPU)")
    device.add_argument("--seed", type=int, default=0, help="the NLL's and the samples' generator")
    out = p.add_argument_group("samples and outputs")
    out.add_argument("--samples", type=int, default=None, metavar="N",
                     help="also score N samples with the yardstick (FID against the MNIST test set, class entropy, "
                          "Inception score; a Gaussian decoder's means clipped to [0, 1]); a GAN has only this")
    out.add_argument("--json", default=None, metavar="FILE", help=f"write the figures as JSON: {JSON_KEYS}")
    out.add_argument("--figure", default=None, metavar="PNG",
                     help="write the per-dimension KL / active-units figure (a Gaussian VAE)")
    out.add_argument("--quiet", action="store_true", help="no progress on stderr")
    return p


def run(a):
    """Evaluate the checkpoint ``a.checkpoint`` as its kind says; write ``--json``. Returns 0."""
    check_at_least(k=(a.k, 1), n=(a.n, 1), samples=(a.samples, 2), batch_size=(a.batch_size, 1))
    a.checkpoint = os.fspath(resolve_run(a.checkpoint))            # runs/latest, a symlink or a text file
    for flag, path in (("--json", a.json), ("--figure", a.figure)):
        if path is not None:
            out_file(path, flag)
    model = load(a.checkpoint, backend=a.backend)
    if a.figure and model.kind in _NO_KL_FIGURE:
        raise ConfigError(f"--figure draws a VAE's per-dimension KL; {_NO_KL_FIGURE[model.kind]} checkpoint has no KL "
                          "per dimension")
    progress = Progress(enabled=not a.quiet)
    if model.kind == "gan":
        if a.samples is None:
            raise ConfigError("a GAN checkpoint is scored on its samples only: pass --samples N (e.g. 10000)")
        out = {"kind": "gan"}
    else:
        out = _test_figures(model, a, progress)
    if a.samples is not None:
        t0 = time.perf_counter()
        out["sample_quality"] = yardstick(sample_images(model, a.samples, a.seed, progress=progress), progress)
        out["samples_time_s"] = time.perf_counter() - t0
        print(f"samples: {describe(out['sample_quality'])}")
    if a.json:
        write_json(out, a.json)
    return 0


def _test_data(model, a):
    """The test images (and labels of a conditional model) the options and the checkpoint ask for."""
    extra = load_checkpoint(checkpoint_file(a.checkpoint))[2]
    binarized = extra.get("binarize", False) if a.binarize is None else a.binarize
    _, _, test = load_data(a.dataset or extra.get("dataset", "mnist"), a.data_dir or extra.get("data_dir"),
                           binarized, seed=extra.get("seed", 0))
    conditional = getattr(model.config, "num_classes", None)
    x, y = test.x, (test.y if conditional else None)
    if a.n is not None:
        x, y = x[:a.n], None if y is None else y[:a.n]
    return x, y


def _test_figures(model, a, progress):
    x, y = _test_data(model, a)
    if model.kind == "vqvae":
        return _vqvae_figures(model, x, a)
    if model.kind == "ae":
        return _ae_figures(model, x)
    vae = model.vae if model.kind == "vaegan" else model
    return _vae_figures(vae, x, y, a, model.kind, progress)


def _vqvae_figures(model, x, a):
    """The test reconstruction NLL -log p(x | z_q(x)) (nats per image), the VQ losses and the codes' perplexity."""
    xd = model.backend.asarray(x, dtype=model.dtype)
    res = evaluate(model, xd)
    stats = model.code_stats(xd)
    out = {"kind": "vqvae", "test_recon": res["recon"], "test_codebook": res["codebook"],
           "test_commitment": res["commitment"], "perplexity": stats["perplexity"], "dead_codes": stats["dead_codes"],
           "n": int(x.shape[0])}
    print(f"test reconstruction NLL {out['test_recon']:.3f}  perplexity {out['perplexity']:.1f} of "
          f"{model.config.codebook_size} codes, {out['dead_codes']} dead  ({out['n']} test images, nats per image)")
    return out


def _ae_figures(model, x):
    """A plain autoencoder's test reconstruction loss -log p(x | Enc(x)) (nats per image): it has no KL, no NLL."""
    res = evaluate(model, model.backend.asarray(x, dtype=model.dtype))
    out = {"kind": "ae", "test_recon": res["recon"], "n": int(x.shape[0])}
    print(f"test reconstruction {out['test_recon']:.3f}  ({out['n']} test images, nats per image)")
    return out


def _vae_figures(vae, x, y, a, kind, progress):
    """Test -ELBO, KL, active units and the k-sample NLL estimate of a VAE (a VAE-GAN's inner one).

    ``test_elbo`` is the negative ELBO with beta = 1 (recon + KL, nats per
    example, whatever beta, free bits or IWAE bound the model was trained
    with), so test_elbo >= test_nll up to Monte Carlo error.
    """
    from ..models.diagnostics import latent_diagnostics
    xd = vae.backend.asarray(x, dtype=vae.dtype)
    res = evaluate(vae, xd, y)
    two = kind == "vae2"                                  # two stochastic layers: active units of each
    gaussian = not two and vae.config.latent == "gaussian"   # categorical codes have no (mu, logvar) diagnostics
    diag = latent_diagnostics(vae, xd, y) if gaussian else {"active_units": list(vae.active_units(xd)) if two else None}
    t0 = time.perf_counter()
    bar = progress.stage(f"NLL (k={a.k})")
    bar(0, x.shape[0])                                    # the bar shows before the first batch is done
    ll = vae.backend.to_numpy(vae.log_likelihood(xd, k=a.k, batch_size=a.batch_size, y=y, seed=a.seed, progress=bar))
    out = {"test_elbo": res["recon"] + res["kl"], "test_nll": float(-ll.mean()), "test_kl": res["kl"],
           "test_recon": res["recon"], "active_units": diag["active_units"], "latent_dim": vae.config.latent_dim,
           "k": a.k, "n": int(x.shape[0]), "nll_time_s": time.perf_counter() - t0, "kind": kind}
    units = f"{out['active_units']}/{vae.config.latent_dim}"
    if two:
        out["latent_dim2"] = vae.config.latent_dim2
        (a1, a2), m1, m2 = diag["active_units"], vae.config.latent_dim, out["latent_dim2"]
        units = f"{a1}/{m1} (z1), {a2}/{m2} (z2)"
    print(f"test -ELBO {out['test_elbo']:.3f}  NLL (k={a.k}) {out['test_nll']:.3f}  recon {out['test_recon']:.3f}  "
          f"KL {out['test_kl']:.3f}  active units {units}  "
          f"({out['n']} test images, nats per image)")
    if a.figure and gaussian:
        from ..figures import vae as figures
        figures.latent_diagnostics(diag["kl_per_dim"], diag["activity"], a.figure)
    return out
