"""One table from a checkpoint's kind to its model class, and :func:`load`, which returns the saved model.

    >>> model = minivae.load("runs/latest")          # a run's folder, or its model.npz: a VAE, GAN, VAE-GAN, VQ-VAE or autoencoder
                                                     # (or a two-layer VAE)
"""
from __future__ import annotations

import os

from ..errors import CheckpointError
from .autoencoder import Autoencoder
from .checkpoint import checkpoint_kind
from .gan import GAN
from .two_layer import TwoLayerVAE
from .vae import VAE
from .vaegan import VAEGAN
from .vqvae import VQVAE

#: a checkpoint's kind (``checkpoint_kind``, the class attribute ``kind``) -> the model class that loads it
MODELS = {"vae": VAE, "gan": GAN, "vaegan": VAEGAN, "vqvae": VQVAE, "ae": Autoencoder, "vae2": TwoLayerVAE}


def checkpoint_file(path):
    """``path`` itself, or ``path/model.npz`` where ``path`` is a run's folder."""
    path = os.fspath(path)
    return os.path.join(path, "model.npz") if os.path.isdir(path) else path


def model_class(path):
    """The class of the model saved at ``path`` (a file or a run's folder); CheckpointError for any other file."""
    kind = checkpoint_kind(checkpoint_file(path))
    if kind not in MODELS:
        raise CheckpointError(f"{os.fspath(path)}: a {kind!r} checkpoint, not a generative model's "
                              f"(one of {', '.join(MODELS)})")
    return MODELS[kind]


def load(path, backend=None):
    """The model saved at ``path`` (a checkpoint, or a run's folder holding ``model.npz``), of its own class."""
    return model_class(path).load(checkpoint_file(path), backend=backend)
