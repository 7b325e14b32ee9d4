"""The figures of a run: a VAE's, a GAN's (and a VAE-GAN's), and the comparison of several runs.

The image grids every model draws are here as ``minivae.figures.image_grid``, ``samples``,
``reconstructions`` and ``class_rows`` (the lessons use them).
"""
from .vae import class_rows, image_grid, kl_per_dim_bar, reconstructions, samples  # noqa: F401
