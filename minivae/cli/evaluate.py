"""``python -m minivae evaluate CHECKPOINT``: the test figures of a VAE, the sample quality of any generator.

For a VAE checkpoint: test -ELBO, KL, active units and the k-sample NLL
estimate; with ``--samples N`` also the yardstick of N prior samples (FID,
class entropy, Inception score: :mod:`minivae.metrics`). For a GAN
checkpoint (:func:`minivae.models.checkpoint.checkpoint_kind` is ``"gan"``): the
yardstick of ``--samples N`` samples only. Samples are drawn 1000 at a time.
"""
from __future__ import annotations

import argparse
import sys
import time

import numpy

from ..figures import vae as figures
from ..models.checkpoint import checkpoint_kind, load_checkpoint, write_json
from ..datasets import DATASETS, load_data
from ..models.diagnostics import latent_diagnostics
from ..errors import ConfigError, MiniVAEError
from ..train import evaluate
from ..models.vae import VAE

SAMPLE_BATCH = 1000



def build_parser():
    ev = argparse.ArgumentParser(prog="python -m minivae evaluate",
                                 description="test -ELBO, KL, active units and the importance-sampled NLL of a VAE; "
                                             "the sample quality (FID, class entropy, IS) of a VAE or a GAN")
    ev.add_argument("checkpoint")
    ev.add_argument("--k", type=int, default=5000, help="importance samples per test image for the NLL estimate")
    ev.add_argument("--batch-size", type=int, default=100)
    ev.add_argument("--n", type=int, default=None, help="only the first N test images")
    ev.add_argument("--dataset", choices=DATASETS, default=None)
    ev.add_argument("--data-dir", default=None)
    ev.add_argument("--binarize", action=argparse.BooleanOptionalAction, default=None,
                    help="binarize the test set (default: as the model was trained)")
    ev.add_argument("--backend", choices=("numpy", "cupy"), default="numpy")
    ev.add_argument("--seed", type=int, default=0)
    ev.add_argument("--samples", type=int, default=None, metavar="N",
                    help="also score N samples of the model with the yardstick (FID against the MNIST test set, "
                         "class entropy, Inception score; a Gaussian decoder's means clipped to [0, 1]); a GAN is "
                         "scored on samples only")
    ev.add_argument("--json", default=None, metavar="FILE",
                    help='write {"kind", "test_elbo", "test_nll", "test_kl", "test_recon", "active_units", "k", "n", '
                         '..., "sample_quality": {"fid", "class_entropy", "inception_score", "n"}} (a GAN: kind and '
                         'sample_quality)')
    ev.add_argument("--figure", default=None, metavar="PNG", help="write the per-dimension KL / active-units figure")
    return ev


def draw_samples(sample, n, batch=SAMPLE_BATCH):
    """n images from ``sample(m)`` (m <= batch images each call) as one host array (n, D), clipped to [0, 1].

    Clipping matters only for a Gaussian decoder, whose means may leave [0, 1].
    """
    parts = [numpy.asarray(sample(min(batch, n - s)), dtype=numpy.float32) for s in range(0, n, batch)]
    return numpy.clip(numpy.concatenate(parts), 0, 1)


def sample_figures(model, n, seed, conditional_classes=None):
    """The yardstick of n samples of ``model`` (its generator reseeded with ``seed``): a dict, and the time."""
    from ..metrics import sample_quality                   # the classifier loads only when asked for
    if isinstance(n, bool) or n < 2:
        raise ConfigError(f"--samples must be an integer >= 2 (FID needs a covariance), got {n}")
    t0 = time.perf_counter()
    model.rng = model.backend.default_rng(seed)
    to_host = model.backend.to_numpy
    if conditional_classes:                               # a conditional VAE: every class equally often
        def sample(m):
            return to_host(model.sample(m, y=numpy.arange(m) % conditional_classes))
    else:
        def sample(m):
            return to_host(model.sample(m))
    q = sample_quality(draw_samples(sample, n))
    return q, time.perf_counter() - t0


def _print_samples(q):
    print(f"samples: FID {q['fid']:.3f}  class entropy {q['class_entropy']:.4f} nats (ln 10 = 2.3026)  "
          f"IS {q['inception_score']:.3f}  ({q['n']} samples, FID against the 10000 MNIST test images)")


def evaluate_gan(a):
    """The yardstick of ``--samples`` samples of a GAN checkpoint."""
    from ..models.gan import GAN
    if a.samples is None:
        raise ConfigError("a GAN checkpoint is scored on its samples only: pass --samples N (e.g. 10000)")
    if a.figure:
        raise ConfigError("--figure draws a VAE's per-dimension KL; a GAN checkpoint has no latent figure")
    gan = GAN.load(a.checkpoint, backend=a.backend)
    q, seconds = sample_figures(gan, a.samples, a.seed)
    _print_samples(q)
    return {"kind": "gan", "sample_quality": q, "samples_time_s": seconds}


def evaluate_vae(a, kind="vae"):
    """Test -ELBO, KL, active units and the k-sample NLL estimate of a VAE checkpoint (and its samples' figures).

    A VAE-GAN checkpoint (``kind="vaegan"``) is scored the same way, through
    its encoder and decoder (its inner :class:`minivae.VAE`), under the pixel
    (Bernoulli) likelihood it is not trained on.

    ``test_elbo`` is the negative ELBO with beta = 1 (recon + KL, nats per
    example, whatever beta, free bits or IWAE bound the model was trained
    with), so test_elbo >= test_nll up to Monte Carlo error.
    """
    _, _, extra = load_checkpoint(a.checkpoint)
    if kind == "vaegan":
        from ..models.vaegan import VAEGAN
        vae = VAEGAN.load(a.checkpoint, backend=a.backend).vae
    else:
        vae = VAE.load(a.checkpoint, backend=a.backend)
    binarized = extra.get("binarize", False) if a.binarize is None else a.binarize
    _, _, test = load_data(a.dataset or extra.get("dataset", "mnist"), a.data_dir, binarized,
                           seed=extra.get("seed", 0))
    x, y = test.x, (test.y if vae.config.conditional else None)
    if a.n is not None:
        x, y = x[:a.n], None if y is None else y[:a.n]
    xd = vae.backend.asarray(x, dtype=vae.dtype)
    res = evaluate(vae, xd, y)
    gaussian = vae.config.latent == "gaussian"            # categorical codes have no (mu, logvar) diagnostics
    diag = latent_diagnostics(vae, xd, y) if gaussian else {"active_units": None}
    t0 = time.perf_counter()
    ll = vae.backend.to_numpy(vae.log_likelihood(xd, k=a.k, batch_size=a.batch_size, y=y, seed=a.seed))
    out = {"test_elbo": res["recon"] + res["kl"], "test_nll": float(-ll.mean()), "test_kl": res["kl"],
           "test_recon": res["recon"], "active_units": diag["active_units"], "latent_dim": vae.config.latent_dim,
           "k": a.k, "n": int(x.shape[0]), "nll_time_s": time.perf_counter() - t0, "kind": kind}
    print(f"test -ELBO {out['test_elbo']:.3f}  NLL (k={a.k}) {out['test_nll']:.3f}  recon {out['test_recon']:.3f}  "
          f"KL {out['test_kl']:.3f}  active units {out['active_units']}/{vae.config.latent_dim}  "
          f"({out['n']} test images, nats per image)")
    if a.samples is not None:
        out["sample_quality"], out["samples_time_s"] = sample_figures(vae, a.samples, a.seed, vae.config.num_classes)
        _print_samples(out["sample_quality"])
    if a.figure and gaussian:
        figures.latent_diagnostics(diag["kl_per_dim"], diag["activity"], a.figure)
    return out


def cmd_evaluate(a):
    """Evaluate the checkpoint ``a.checkpoint`` as its kind says; write ``--json``. Returns 0."""
    if isinstance(a.k, bool) or a.k < 1:
        raise ConfigError(f"--k (importance samples per test image) must be an integer >= 1, got {a.k}")
    if a.n is not None and a.n < 1:
        raise ConfigError(f"--n must be >= 1, got {a.n}")
    if a.samples is not None and a.samples < 2:
        raise ConfigError(f"--samples must be an integer >= 2 (FID needs a covariance), got {a.samples}")
    kind = checkpoint_kind(a.checkpoint)
    if kind == "gan":
        out = evaluate_gan(a)
    elif kind in ("vae", "vaegan"):
        out = evaluate_vae(a, kind)
    else:
        raise ConfigError(f"{a.checkpoint}: a {kind!r} checkpoint; evaluate scores VAE, VAE-GAN and GAN checkpoints")
    if a.json:
        write_json(out, a.json)
    return 0


def main(argv=None):
    a = build_parser().parse_args(sys.argv[1:] if argv is None else list(argv))
    try:
        return cmd_evaluate(a)
    except MiniVAEError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
