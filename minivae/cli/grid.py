"""The grid of samples after every epoch of ``gan`` and ``vaegan``: the same z each epoch, drawn apart.

The fixed z is drawn once, on the host, from its own generator
``numpy.random.default_rng([seed, GRID_SEED])``: the training stream (data
order, the model's z and alpha) is the one ``fit`` draws without any figures,
and every backend shows the same z.
"""
from __future__ import annotations

import os

import numpy

GRID = 100                  # images of each epoch's grid, 10 per row
GRID_SEED = 7919            # the fixed z's stream: default_rng([seed, GRID_SEED]), apart from fit's and the model's


def fixed_noise(seed, n, noise_dim, noise="uniform", dtype="float32"):
    """The z of every epoch's grid: (n, noise_dim) host draws from default_rng([seed, GRID_SEED])."""
    rng = numpy.random.default_rng([seed, GRID_SEED])
    if noise == "uniform":
        return (2 * rng.random((n, noise_dim), dtype=dtype) - 1).astype(dtype)
    return rng.standard_normal((n, noise_dim), dtype=dtype)


def clear_grids(out):
    """Remove an older run's per-epoch grids from the folder ``out`` (a new run draws its own)."""
    for name in os.listdir(out):
        if name.startswith("samples_epoch_") and name.endswith(".png"):
            os.remove(os.path.join(out, name))


def grid_files(history, out):
    """The per-epoch grids of ``history`` that are in ``out``."""
    grids = [f"samples_epoch_{h['epoch']:03d}.png" for h in history]
    return [g for g in grids if os.path.isfile(os.path.join(out, g))]
