"""The plain autoencoder's options (:class:`minivae.Autoencoder`), validated in one place."""
from __future__ import annotations

import dataclasses

from ..activations import ACTIVATIONS
from ..backend import check_dtype
from ..errors import ConfigError, check_mlp_sizes
from ..layers import INIT_SCHEMES
from .observation import LIKELIHOODS


@dataclasses.dataclass(frozen=True, kw_only=True)
class AutoencoderConfig:
    """The autoencoder's options, validated (ConfigError naming the option); built by keyword only."""

    input_dim: int = 784                # D, pixels per image
    hidden_dims: tuple = (400,)         # the encoder's hidden sizes; the decoder's reversed (the VAE's)
    latent_dim: int = 20                # M, the size of the code z = Enc(x)
    likelihood: str = "bernoulli"       # reconstruction: "bernoulli" (logits) or "gaussian" (squared error)
    activation: str = "relu"            # of every hidden layer
    init: str = "uniform"               # weight initialisation (layers.INIT_SCHEMES)
    dtype: str = "float32"              # of parameters and arithmetic

    def __post_init__(self):
        set_ = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731 (frozen dataclass)
        check_mlp_sizes(self)
        for name, allowed in (("likelihood", LIKELIHOODS), ("activation", tuple(ACTIVATIONS)), ("init", INIT_SCHEMES)):
            if getattr(self, name) not in allowed:
                raise ConfigError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")
        set_("dtype", check_dtype(self.dtype))

    def to_dict(self):
        return {**dataclasses.asdict(self), "hidden_dims": list(self.hidden_dims)}
