"""minivae: variational autoencoders and GANs in NumPy, every backward pass by hand."""
from .backend import numpy_backend as cpu, cupy_backend as gpu  # noqa: F401  (register the "numpy" and "cupy" backends)
from .backend import Backend, get_backend, use_backend
from .models.vae_config import VAEConfig
from .models.gan import GAN
from .models.gan_config import GANConfig
from .gradcheck import numerical_gradient, numerical_gradient_array, rel_error
from .optim import SGD, Adam, RMSProp
from .models.vae import VAE
from .models.vaegan import VAEGAN
from .models.vqvae import VQVAE
from .models.autoencoder import Autoencoder
from .models.two_layer import TwoLayerVAE
from .models.registry import load

from .version import __version__  # noqa: E402,F401
__all__ = ["VAE", "VAEConfig", "VAEGAN", "VQVAE", "Autoencoder", "TwoLayerVAE", "GAN", "GANConfig", "Adam", "SGD", "RMSProp", "Backend", "get_backend", "use_backend",
           "numerical_gradient", "numerical_gradient_array", "rel_error", "gradcheck", "load"]

from . import gradcheck  # noqa: E402  (minivae.gradcheck is part of the API)
