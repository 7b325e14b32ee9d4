"""The two-stochastic-layer VAE's options (:class:`minivae.TwoLayerVAE`), validated in one place.

The defaults are Burda, Grosse & Salakhutdinov's (2015) second architecture:
x (784) -> 200-200 tanh -> z1 (100) -> 100-100 tanh -> z2 (50), the
generative side mirrored (z2 -> 100-100 -> z1, z1 -> 200-200 -> x).
"""
from __future__ import annotations

import dataclasses

from ..activations import ACTIVATIONS
from ..backend import check_dtype
from ..errors import ConfigError, finite_number, positive_int, positive_ints
from ..layers import INIT_SCHEMES
from .observation import LIKELIHOODS


@dataclasses.dataclass(frozen=True, kw_only=True)
class TwoLayerVAEConfig:
    """The two-layer VAE's options, validated (ConfigError naming the option); built by keyword only."""

    input_dim: int = 784                # D, pixels per image
    hidden_dims: tuple = (200, 200)     # q(z1|x)'s hidden sizes; p(x|z1)'s reversed
    latent_dim: int = 100               # M1, the size of z1
    hidden_dims2: tuple = (100, 100)    # q(z2|z1)'s hidden sizes; p(z1|z2)'s reversed
    latent_dim2: int = 50               # M2, the size of z2
    likelihood: str = "bernoulli"       # p(x|z1): "bernoulli" (logits) or "gaussian" (means, fixed variance)
    obs_logvar: float = 0.0             # log sigma^2 of a Gaussian p(x|z1)
    activation: str = "tanh"            # of every hidden layer
    beta: float = 1.0                   # the weight of log p(z1, z2) - log q(z1, z2|x) (1: the true bound)
    iwae_k: int = 1                     # K importance samples (> 1: the IWAE bound)
    init: str = "auto"                  # weight initialisation (layers.INIT_SCHEMES; auto: Xavier for tanh)
    dtype: str = "float32"              # of parameters and arithmetic

    def __post_init__(self):
        set_ = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731 (frozen dataclass)
        for name in ("input_dim", "latent_dim", "latent_dim2"):
            set_(name, positive_int(name, getattr(self, name)))
        for name in ("hidden_dims", "hidden_dims2"):
            set_(name, positive_ints(name, getattr(self, name), f"each of {name}"))
        for name, allowed in (("likelihood", LIKELIHOODS), ("activation", tuple(sorted(ACTIVATIONS))),
                              ("init", INIT_SCHEMES)):
            if getattr(self, name) not in allowed:
                raise ConfigError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")
        set_("obs_logvar", finite_number("obs_logvar (log sigma^2 of the Gaussian decoder)", self.obs_logvar))
        set_("beta", finite_number("beta", self.beta, ">= 0", lambda v: v >= 0))
        set_("iwae_k", positive_int("iwae_k (number of importance samples k)", self.iwae_k))
        set_("dtype", check_dtype(self.dtype))

    @property
    def objective(self):
        """The bound trained: "vae" (the ELBO) or "iwae" (over iwae_k samples)."""
        return "vae" if self.iwae_k == 1 else "iwae"

    def to_dict(self):
        return {**dataclasses.asdict(self), "hidden_dims": list(self.hidden_dims),
                "hidden_dims2": list(self.hidden_dims2)}
