"""The GAN's architecture, loss and training-game options, validated in one place, with each paper's defaults."""
from __future__ import annotations

import dataclasses

from ..activations import ACTIVATIONS
from ..adversarial import LOSSES, check_loss
from ..backend import check_dtype
from ..errors import ConfigError, finite_number, positive_int, positive_ints
from ..layers import INIT_SCHEMES
from ..optim import OPTIMIZERS

NOISES = ("uniform", "normal")

#: per loss: (optimizer, learning rate, Adam's betas, critic steps per generator step, batch size)
#: cs231n's GAN assignment (minimax, ns, lsgan); Arjovsky et al. 2017 (wgan); Gulrajani et al. 2017 (wgan-gp)
PAPER_DEFAULTS = {
    "minimax": ("adam", 1e-3, (0.5, 0.999), 1, 128),
    "ns": ("adam", 1e-3, (0.5, 0.999), 1, 128),
    "lsgan": ("adam", 1e-3, (0.5, 0.999), 1, 128),
    "wgan": ("rmsprop", 5e-5, None, 5, 64),
    "wgan-gp": ("adam", 1e-4, (0.5, 0.9), 5, 64),
}
WGAN_CLIP = 0.01           # Arjovsky et al.'s c
GP_LAMBDA = 10.0           # Gulrajani et al.'s lambda


@dataclasses.dataclass(frozen=True, kw_only=True)
class GANConfig:
    """Everything that defines a GAN: its two networks, its loss and the game's rules; built by keyword only.

    The generator maps z (noise_dim; ``noise`` uniform in [-1, 1] or standard
    normal) through ``generator_dims`` to data_dim values in [-1, 1] (tanh);
    the discriminator maps data_dim values through ``discriminator_dims`` to
    one raw score. ``n_critic``: discriminator (critic) steps per generator
    step (None: the paper's, 5 for WGAN and WGAN-GP, else 1). ``clip``:
    WGAN's weight clipping c (None: 0.01 for ``wgan``; only ``wgan`` clips).
    ``gp_lambda``: WGAN-GP's penalty weight (None: 10 for ``wgan-gp``; only
    ``wgan-gp`` has the penalty). ``optimizer``: both players' (None: the
    paper's; see :data:`PAPER_DEFAULTS`), ``d_lr``: the discriminator's
    learning rate when it differs from the generator's.
    """

    data_dim: int = 784                          # D, pixels per image
    noise_dim: int = 96                          # the size of z
    generator_dims: tuple = (1024, 1024)         # G's hidden sizes
    discriminator_dims: tuple = (256, 256)       # D's hidden sizes
    loss: str = "ns"                             # minimax, ns, lsgan, wgan or wgan-gp (adversarial.LOSSES)
    generator_activation: str = "relu"           # of G's hidden layers (its output is tanh)
    discriminator_activation: str = "leaky_relu"  # of D's hidden layers (its output is a raw score)
    noise: str = "uniform"                       # z ~ U(-1, 1) ("uniform") or N(0, I) ("normal")
    n_critic: int | None = None                  # critic steps per generator step (None: the paper's)
    clip: float | None = None                    # WGAN's weight bound c (None: 0.01 for wgan)
    gp_lambda: float | None = None               # WGAN-GP's penalty weight (None: 10 for wgan-gp)
    optimizer: str | None = None                 # both players' (None: the paper's)
    d_lr: float | None = None                    # the discriminator's learning rate, if not the generator's
    init: str = "uniform"                        # weight initialisation (layers.INIT_SCHEMES)
    dtype: str = "float32"                       # of parameters and arithmetic

    def __post_init__(self):
        set_ = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731 (frozen dataclass)
        set_("data_dim", positive_int("data_dim", self.data_dim))
        set_("noise_dim", positive_int("noise_dim", self.noise_dim))
        set_("generator_dims", positive_ints("generator_dims", self.generator_dims))
        set_("discriminator_dims", positive_ints("discriminator_dims", self.discriminator_dims))
        check_loss(self.loss)
        for name in ("generator_activation", "discriminator_activation"):
            if getattr(self, name) not in ACTIVATIONS:
                raise ConfigError(f"{name} must be one of {sorted(ACTIVATIONS)}, got {getattr(self, name)!r}")
        if self.noise not in NOISES:
            raise ConfigError(f"noise must be one of {NOISES}, got {self.noise!r}")
        opt, _, _, k, _ = PAPER_DEFAULTS[self.loss]
        set_("n_critic", positive_int("n_critic (critic steps per generator step)",
                                       k if self.n_critic is None else self.n_critic))
        if self.clip is not None and self.loss != "wgan":
            raise ConfigError(f"clip (weight clipping) is the WGAN's Lipschitz constraint; loss {self.loss!r} "
                              "does not clip (use loss='wgan', or the gradient penalty of 'wgan-gp')")
        if self.loss == "wgan":
            set_("clip", finite_number("clip (WGAN's weight bound c)", WGAN_CLIP if self.clip is None else self.clip,
                                       "> 0", lambda v: v > 0))
        if self.gp_lambda is not None and self.loss != "wgan-gp":
            raise ConfigError(f"gp_lambda weights WGAN-GP's gradient penalty; loss {self.loss!r} has none "
                              "(use loss='wgan-gp')")
        if self.loss == "wgan-gp":
            set_("gp_lambda", finite_number("gp_lambda (the gradient penalty's weight)",
                                            GP_LAMBDA if self.gp_lambda is None else self.gp_lambda,
                                            ">= 0", lambda v: v >= 0))
        set_("optimizer", opt if self.optimizer is None else self.optimizer)
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(f"optimizer must be one of {sorted(OPTIMIZERS)} (or None: the paper's), "
                              f"got {self.optimizer!r}")
        if self.d_lr is not None:
            set_("d_lr", finite_number("d_lr (the discriminator's learning rate)", self.d_lr, "> 0", lambda v: v > 0))
        if self.init not in INIT_SCHEMES:
            raise ConfigError(f"init must be one of {INIT_SCHEMES}, got {self.init!r}")
        set_("dtype", check_dtype(self.dtype))

    @property
    def wasserstein(self):
        """True for the critics of WGAN and WGAN-GP (a raw score, no sigmoid)."""
        return self.loss in ("wgan", "wgan-gp")

    def train_defaults(self):
        """The paper's ``lr`` and ``batch_size`` for this loss (TrainConfig options)."""
        _, lr, _, _, batch = PAPER_DEFAULTS[self.loss]
        return {"lr": lr, "batch_size": batch}

    def optimizer_options(self):
        """Keyword arguments of both players' optimizers beyond lr: Adam's betas, for the losses that use Adam."""
        betas = PAPER_DEFAULTS[self.loss][2]
        return {"beta1": betas[0], "beta2": betas[1]} if self.optimizer == "adam" and betas else {}

    def to_dict(self):
        d = dataclasses.asdict(self)
        d["generator_dims"], d["discriminator_dims"] = list(self.generator_dims), list(self.discriminator_dims)
        return d


__all__ = ["GANConfig", "LOSSES", "NOISES", "PAPER_DEFAULTS"]
