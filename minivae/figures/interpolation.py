"""The latent interpolation figure: decoded points on the segment between two images' codes, one row a model.

CSCI 1470's contrast: a plain autoencoder's codes leave "empty pockets"
between the training images, so the decoded midpoints of its segment can be
no digit at all, while a VAE's KL term fills the space between codes.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from ..errors import ShapeError
from .vae import CELL, _save, _show, _square, _tile


def interpolations(rows, labels, path, title="Decoded z_t = (1 - t) z_a + t z_b, t = 0 .. 1") -> Path:
    """One row per entry of ``rows`` (each (steps, D) images: the decodes from t = 0 to 1), named by ``labels``."""
    rows = [_square(r, f"rows[{i}]") for i, r in enumerate(rows)]
    if not rows or len(labels) != len(rows) or any(r.shape != rows[0].shape for r in rows):
        raise ShapeError(f"interpolations: {len(rows)} rows of shapes {[r.shape for r in rows]} and {len(labels)} "
                         "labels; expected one label per row and rows of equal shapes")
    steps, s = rows[0].shape[0], rows[0].shape[1] + 1
    fig = Figure(figsize=(steps * CELL + 1.2, len(rows) * CELL + 0.35), layout="tight")
    ax = fig.add_subplot()
    _show(ax, _tile(np.concatenate(rows), steps))
    ax.set_yticks([0.5 + s * (i + 0.5) for i in range(len(rows))], labels, fontsize=8)
    ax.tick_params(length=0)
    ax.set_title(title, fontsize=10)
    return _save(fig, path)
