"""Figures of a VAE-GAN run and of ``compare``, written straight to PNG files (the helpers of :mod:`minivae.figures.vae`).

    vaegan_curves   a VAE-GAN's training: the three parts' losses (L_enc = L_prior + L_llike,
                    L_dec = gamma L_llike - L_GAN, L_dis = -L_GAN), the pixel -ELBO (train and test,
                    reported, not trained on) and the mean D of x, x_tilde = Dec(z ~ q(z|x)), x_p = Dec(z ~ p(z))
    comparison      one column per model: its samples above its reconstructions (inputs above them),
                    with the table's figures as the column's caption

``history`` is what :func:`minivae.train.fit` returns for a
:class:`minivae.models.vaegan.VAEGAN` (``train_loss`` = the encoder's loss,
``train_decoder``, ``train_discriminator``, ``train_llike``, ``train_prior``,
``train_recon``, ``train_d_real``, ``train_d_recon``, ``train_d_prior``,
``test_loss`` = the pixel -ELBO, ...; one dict per epoch).
"""
from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from ..errors import DataError, ShapeError
from .vae import _save, _show, _square, _tile

SHOW = 36           # images per panel of the comparison (6 x 6)
INPUTS = 6          # test inputs (and their reconstructions) per column


def _series(ax, history, key, label, style):
    pts = [(h["epoch"], h[key]) for h in history if h.get(key) is not None]
    if pts:
        ax.plot(*zip(*pts), style, markersize=3, label=label)


def vaegan_curves(history, path, title="VAE-GAN training"):
    """Three panels against epochs: the parts' losses, the pixel -ELBO, and D on real, reconstructed, prior images."""
    if not history:
        raise DataError("vaegan_curves: history is empty, expected one dict per epoch as fit returns it")
    for i, h in enumerate(history):
        missing = {"epoch", "train_loss", "train_decoder", "train_llike", "train_prior", "train_recon"} - set(h)
        if missing:
            raise DataError(f"vaegan_curves: history[{i}] lacks {sorted(missing)}, expected a VAE-GAN's history")
    fig = Figure(figsize=(11.0, 3.4), layout="tight")
    a1, a2, a3 = fig.subplots(1, 3)
    for key, label in (("train_loss", "L_enc = L_prior + L_llike"), ("train_decoder", "L_dec = gamma L_llike - L_GAN"),
                       ("train_discriminator", "L_dis = -L_GAN"), ("train_llike", "L_llike"),
                       ("train_prior", "L_prior (KL)"), ("test_llike", "L_llike (test)")):
        _series(a1, history, key, label, "s--" if key.startswith("test") else "o-")
    a1.set_yscale("symlog")
    a1.set_title("each part's loss (train, epoch means)", fontsize=9)
    pixel = [dict(epoch=h["epoch"], train_elbo=h["train_recon"] + h["train_prior"]) for h in history]
    _series(a2, pixel, "train_elbo", "train (recon + KL)", "o-")
    _series(a2, history, "test_loss", "test", "s--")
    a2.set_title("pixel -ELBO, nats per image (not trained on)", fontsize=9)
    for key, label in (("train_d_real", "D(x)"), ("train_d_recon", "D(x_tilde)"), ("train_d_prior", "D(x_p)")):
        _series(a3, history, key, label, "o-")
    a3.set_ylim(-0.02, 1.02)
    a3.set_title("mean D: real, reconstructed, prior samples", fontsize=9)
    for ax in (a1, a2, a3):
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend(frameon=False, fontsize=7)
    fig.suptitle(title, fontsize=10)
    return _save(fig, path)


def _caption(row):
    def f(key, fmt):
        v = row.get(key)
        return "n/a" if v is None else format(v, fmt)
    lines = [f"{row['kind'].upper()}, {row['params']:,} params",
             f"samples FID {f('sample_fid', '.1f')}, H {f('sample_class_entropy', '.2f')}",
             f"recon. FID {f('recon_fid', '.1f')}, H {f('recon_class_entropy', '.2f')}"]
    if row.get("test_elbo") is not None:
        lines.append(f"-ELBO {row['test_elbo']:.1f}" + (f", NLL {row['test_nll']:.1f}" if "test_nll" in row else ""))
    return "\n".join(lines)


def comparison(rows, images, names, path, show=SHOW):
    """Models side by side: per column ``names[i]``, samples on top, then inputs over reconstructions.

    ``rows``: the table's dicts (kind, params, sample_fid, ...); ``images``: per model
    {"samples": (N, 784), "inputs": (n, 784) or None, "reconstructions": (n, 784) or None}.
    """
    if not rows or len(rows) != len(images) or len(rows) != len(names):
        raise ShapeError(f"comparison: {len(rows)} rows, {len(images)} image sets and {len(names)} names, "
                         "expected the same number >= 1")
    side = int(np.sqrt(show))
    fig = Figure(figsize=(3.0 * len(rows), 6.4), layout="tight")
    axes = fig.subplots(2, len(rows), squeeze=False, gridspec_kw={"height_ratios": [side, 2.0]})
    for j, (row, im, name) in enumerate(zip(rows, images, names)):
        _show(axes[0, j], _tile(_square(im["samples"][:side * side], "samples"), side))
        axes[0, j].set_title(f"{name}\n{_caption(row)}", fontsize=8)
        ax = axes[1, j]
        if im.get("reconstructions") is None:
            ax.axis("off")
            ax.text(0.5, 0.5, "no encoder:\nno reconstructions", ha="center", va="center", fontsize=8)
            continue
        x, x_r = _square(im["inputs"][:INPUTS], "inputs"), _square(im["reconstructions"][:INPUTS], "reconstructions")
        _show(ax, _tile(np.concatenate([x, x_r]), len(x)))
        ax.set_title("test inputs (top), reconstructions", fontsize=8)
    fig.suptitle("Samples (top) and reconstructions of the same models", fontsize=10)
    return _save(fig, path)
