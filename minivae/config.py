"""The VAE's architecture and objective options, validated in one place."""
from __future__ import annotations

import dataclasses
import math
import numbers

from .activations import ACTIVATIONS
from .backend import check_dtype
from .errors import ConfigError, finite_number
from .layers import INIT_SCHEMES

LIKELIHOODS = ("bernoulli", "gaussian")


def _positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ConfigError(f"{name} must be an integer >= 1, got {value!r}")
    return int(value)


@dataclasses.dataclass(frozen=True)
class VAEConfig:
    """Everything that defines a VAE's architecture and objective.

    hidden_dims are the encoder's hidden sizes; the decoder mirrors them in
    reverse. ``()`` gives a linear-Gaussian VAE (heads straight on x, a single
    dense decoder layer), the 1-1-1 linear VAE of COMP 432.

    Gaussian decoder: ``obs_logvar`` is log sigma^2, fixed, or the start of
    a learned per-pixel log-variance (``learn_variance``) that
    ``min_obs_logvar`` (None: no floor) keeps from falling below a floor
    (:meth:`minivae.VAE.apply_constraints`).
    """

    input_dim: int = 784
    hidden_dims: tuple = (400,)
    latent_dim: int = 20
    likelihood: str = "bernoulli"
    activation: str = "relu"
    beta: float = 1.0
    dtype: str = "float32"
    num_classes: int | None = None
    free_bits: float = 0.0
    iwae_k: int = 1
    learn_variance: bool = False
    obs_logvar: float = 0.0
    init: str = "uniform"
    min_obs_logvar: float | None = None

    def __post_init__(self):
        set_ = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731 (frozen dataclass)
        set_("input_dim", _positive_int("input_dim", self.input_dim))
        set_("latent_dim", _positive_int("latent_dim", self.latent_dim))
        if isinstance(self.hidden_dims, numbers.Integral):
            set_("hidden_dims", (self.hidden_dims,))
        try:
            dims = tuple(self.hidden_dims)
        except TypeError:
            raise ConfigError(f"hidden_dims must be a sequence of ints, got {self.hidden_dims!r}") from None
        set_("hidden_dims", tuple(_positive_int("each hidden dim", d) for d in dims))
        if self.likelihood not in LIKELIHOODS:
            raise ConfigError(f"likelihood must be one of {LIKELIHOODS}, got {self.likelihood!r}")
        if self.activation not in ACTIVATIONS:
            raise ConfigError(f"activation must be one of {sorted(ACTIVATIONS)}, got {self.activation!r}")
        set_("beta", finite_number("beta", self.beta, ">= 0", lambda v: v >= 0))
        set_("dtype", check_dtype(self.dtype))
        if self.num_classes is not None:
            set_("num_classes", _positive_int("num_classes", self.num_classes))
        set_("free_bits", finite_number("free_bits (lambda, nats per latent dimension)", self.free_bits, ">= 0",
                                        lambda v: v >= 0))
        set_("iwae_k", _positive_int("iwae_k (number of importance samples k)", self.iwae_k))
        if self.learn_variance and self.likelihood != "gaussian":
            raise ConfigError("learn_variance=True needs likelihood='gaussian'")
        set_("obs_logvar", finite_number("obs_logvar (log sigma^2 of the Gaussian decoder)", self.obs_logvar))
        if self.min_obs_logvar is not None:
            if not self.learn_variance:
                raise ConfigError("min_obs_logvar is a floor on the learned variance: it needs learn_variance=True")
            if not (isinstance(self.min_obs_logvar, numbers.Real) and math.isfinite(self.min_obs_logvar)):
                raise ConfigError(f"min_obs_logvar must be a finite number (log sigma^2) or None, "
                                  f"got {self.min_obs_logvar!r}")
            set_("min_obs_logvar", float(self.min_obs_logvar))
        if self.init not in INIT_SCHEMES:
            raise ConfigError(f"init must be one of {INIT_SCHEMES}, got {self.init!r}")

    @property
    def conditional(self):
        return self.num_classes is not None

    def to_dict(self):
        d = dataclasses.asdict(self)
        d["hidden_dims"] = list(self.hidden_dims)
        return d

    @classmethod
    def from_dict(cls, d):
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ConfigError(f"unknown VAE options {sorted(unknown)}; known: {sorted(known)}")
        return cls(**d)
