"""minivae: variational autoencoders and GANs in NumPy, every backward pass by hand."""
from . import cpu, gpu  # noqa: F401  (register the "numpy" and "cupy" backends)
from .backend import Backend, get_backend, use_backend
from .config import VAEConfig
from .gan import GAN
from .gan_config import GANConfig
from .gradcheck import numerical_gradient, numerical_gradient_array, rel_error
from .optim import SGD, Adam, RMSProp
from .vae import VAE
from .vaegan import VAEGAN
from .vqvae import VQVAE

__version__ = "0.1.0"
__all__ = ["VAE", "VAEConfig", "VAEGAN", "VQVAE", "GAN", "GANConfig", "Adam", "SGD", "RMSProp", "Backend", "get_backend", "use_backend",
           "numerical_gradient", "numerical_gradient_array", "rel_error", "gradcheck"]

from . import gradcheck  # noqa: E402  (minivae.gradcheck is part of the API)
