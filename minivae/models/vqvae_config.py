"""The VQ-VAE's options (:class:`minivae.VQVAE`), validated in one place."""
from __future__ import annotations

import dataclasses
import numbers

import numpy

from ..activations import ACTIVATIONS
from ..backend import check_dtype
from ..errors import ConfigError, finite_number, positive_int, positive_ints
from ..layers import INIT_SCHEMES
from .vae_config import LIKELIHOODS


@dataclasses.dataclass(frozen=True, kw_only=True)
class VQVAEConfig:
    """The VQ-VAE's options, validated (ConfigError naming the option); built by keyword only."""

    input_dim: int = 784                # D, pixels per image
    hidden_dims: tuple = (400,)         # the encoder's hidden sizes; the decoder's reversed
    latent_dim: int = 20                # G, code positions per image
    code_dim: int = 8                   # the size of each code vector e_k
    codebook_size: int = 64             # K codes to choose from (>= 2)
    commitment: float = 0.25            # beta, the commitment loss's weight
    likelihood: str = "bernoulli"       # p(x|z_q): "bernoulli" (logits) or "gaussian" (unit variance)
    activation: str = "relu"            # of every hidden layer
    init: str = "uniform"               # weight initialisation (layers.INIT_SCHEMES)
    restart_dead: bool = True           # move codes no row chose to encoder outputs
    restart_every: int = 20             # ... checked every this many steps
    codebook_lr_scale: float = 300.0    # the codebook's learning rate, times the model's
    dtype: str = "float32"              # of parameters and arithmetic

    def __post_init__(self):
        set_ = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731 (frozen dataclass)
        for name in ("input_dim", "latent_dim", "code_dim", "restart_every"):
            set_(name, positive_int(name, getattr(self, name)))
        k = self.codebook_size
        if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 2:
            raise ConfigError(f"codebook_size must be an integer >= 2 (K codes to choose from), got {k!r}")
        set_("codebook_size", int(k))
        set_("hidden_dims", positive_ints("hidden_dims", self.hidden_dims, "each hidden dim"))
        set_("commitment", finite_number("commitment (beta)", self.commitment, ">= 0", lambda v: v >= 0))
        set_("codebook_lr_scale", finite_number("codebook_lr_scale", self.codebook_lr_scale, "> 0", lambda v: v > 0))
        for name, allowed in (("likelihood", LIKELIHOODS), ("activation", tuple(ACTIVATIONS)), ("init", INIT_SCHEMES)):
            if getattr(self, name) not in allowed:
                raise ConfigError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")
        if not isinstance(self.restart_dead, (bool, numpy.bool_)):
            raise ConfigError(f"restart_dead must be True or False, got {self.restart_dead!r}")
        set_("restart_dead", bool(self.restart_dead))
        set_("dtype", check_dtype(self.dtype))

    def to_dict(self):
        return {**dataclasses.asdict(self), "hidden_dims": list(self.hidden_dims)}
