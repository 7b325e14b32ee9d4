"""The VAE-GAN's options (:class:`minivae.VAEGAN`), validated in one place."""
from __future__ import annotations

import dataclasses
import numbers

from ..activations import ACTIVATIONS
from ..backend import check_dtype
from ..errors import ConfigError, check_mlp_sizes, finite_number, positive_ints
from ..layers import INIT_SCHEMES


@dataclasses.dataclass(frozen=True, kw_only=True)
class VAEGANConfig:
    """Everything that defines a VAE-GAN (Larsen et al. 2016); built by keyword only.

    The encoder and decoder are a Bernoulli :class:`minivae.VAE`'s; the
    discriminator is an MLP whose hidden layer ``feature_layer`` gives the
    features Dis_l that L_llike compares.
    """

    input_dim: int = 784                          # D, pixels per image
    hidden_dims: tuple = (400,)                   # the encoder's hidden sizes; the decoder's reversed
    latent_dim: int = 20                          # M, the size of z
    discriminator_dims: tuple = (256, 256)        # D's hidden sizes (at least one)
    feature_layer: int | None = 1                 # l in 1..len(discriminator_dims) (None: the last)
    gamma: float = 1.0                            # the weight of L_llike in the decoder's loss
    activation: str = "relu"                      # of the encoder's and decoder's hidden layers
    discriminator_activation: str = "leaky_relu"  # of D's hidden layers
    adversarial: bool = True                      # False: D frozen (VAE_Dis_l), the decoder learns L_llike alone
    init: str = "uniform"                         # weight initialisation (layers.INIT_SCHEMES)
    dtype: str = "float32"                        # of parameters and arithmetic

    def __post_init__(self):
        set_ = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731 (frozen dataclass)
        check_mlp_sizes(self)
        set_("discriminator_dims", positive_ints("discriminator_dims", self.discriminator_dims, nonempty=True))
        n = len(self.discriminator_dims)
        l = n if self.feature_layer is None else self.feature_layer
        if isinstance(l, bool) or not isinstance(l, numbers.Integral) or not 1 <= l <= n:
            raise ConfigError(f"feature_layer must be an integer in 1..{n} (a hidden layer of the "
                              f"discriminator {list(self.discriminator_dims)}), got {self.feature_layer!r}")
        set_("feature_layer", int(l))
        set_("gamma", finite_number("gamma (the weight of L_llike in the decoder's loss)", self.gamma, ">= 0",
                                    lambda v: v >= 0))
        for name in ("activation", "discriminator_activation"):
            if getattr(self, name) not in ACTIVATIONS:
                raise ConfigError(f"{name} must be one of {sorted(ACTIVATIONS)}, got {getattr(self, name)!r}")
        set_("adversarial", bool(self.adversarial))
        if self.init not in INIT_SCHEMES:
            raise ConfigError(f"init must be one of {INIT_SCHEMES}, got {self.init!r}")
        set_("dtype", check_dtype(self.dtype))

    def to_dict(self):
        return {**dataclasses.asdict(self), "hidden_dims": list(self.hidden_dims),
                "discriminator_dims": list(self.discriminator_dims)}
