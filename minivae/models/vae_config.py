"""The VAE's architecture and objective options, validated in one place."""
from __future__ import annotations

import dataclasses
import math
import numbers

from ..activations import ACTIVATIONS
from ..backend import check_dtype
from ..errors import ConfigError, check_mlp_sizes, finite_number, positive_int
from ..layers import INIT_SCHEMES
from .observation import LIKELIHOODS, OBSERVATION_FIELDS, VARIANCES, observation_options  # noqa: F401

#: q(z|x): a diagonal or a full-covariance Gaussian (:mod:`minivae.models.posteriors`)
POSTERIORS = ("diagonal", "full")
#: normalizing flows after the Gaussian sample (:mod:`minivae.planar`, :mod:`minivae.iaf`)
FLOWS = ("planar", "iaf")
#: p(z): N(0, I), a learned mixture of Gaussians, the VampPrior (:mod:`minivae.models.priors`)
PRIORS = ("standard", "mog", "vamp")
#: the components of a learned prior when ``prior_components`` is None (Tomczak & Welling use 500 pseudo-inputs)
DEFAULT_COMPONENTS = {"standard": 0, "mog": 10, "vamp": 500}
#: z: a Gaussian vector, or M categorical variables of K classes relaxed by Gumbel-softmax (:mod:`minivae.gumbel`)
LATENTS = ("gaussian", "categorical")
#: the encoder and decoder: dense layers, or convolutions (:mod:`minivae.models.conv_nets`, 28 x 28 images)
ARCHS = ("mlp", "conv")
#: the kernels of the MMD term (:mod:`minivae.mmd`)
MMD_KERNELS = ("imq", "rbf")


@dataclasses.dataclass(frozen=True, kw_only=True)
class VAEConfig:
    """Everything that defines a VAE's architecture and objective; built by keyword only.

    hidden_dims are the encoder's hidden sizes; the decoder mirrors them in
    reverse. ``()`` gives a linear-Gaussian VAE (heads straight on x, a single
    dense decoder layer), the 1-1-1 linear VAE of COMP 432.

    Gaussian decoder (``variance``): ``obs_logvar`` is log sigma^2, fixed
    ("fixed"), or the start of a learned per-pixel log-variance ("pixel";
    ``learn_variance=True`` says the same); "network" makes the decoder
    output (mean, log sigma^2) per pixel (HY-673's concrete VAE).
    ``min_obs_logvar`` (None: no floor) keeps a learned log-variance above a
    floor (:meth:`minivae.VAE.apply_constraints`; a soft floor for "network").

    The design points of HY-673 lecture 10: ``posterior`` "diagonal" or
    "full" q(z|x), ``flow`` "planar" or "iaf" with ``flow_steps`` K steps after
    the sample (an IAF's MADEs ``iaf_hidden`` wide; None: 4 latent_dim),
    ``prior`` "standard" N(0, I), "mog" or "vamp" with ``prior_components``
    (None: 10 for mog, 500 for vamp).

    Discrete latents: ``latent="categorical"`` makes z ``latent_dim`` (M)
    categorical variables of ``categories`` (K) classes, relaxed with the
    temperature tau = max(temperature_min, temperature exp(-anneal_rate t))
    at step t, one-hot forward with ``straight_through``. The loss:
    ``mmd_weight`` lambda adds lambda MMD(q(z), p(z)) (InfoVAE / MMD-VAE, with
    ``mmd_kernel``), beside the KL weight ``beta``.

    The Rényi bound (Li & Turner 2016, :mod:`minivae.renyi`) over the
    ``iwae_k`` samples: ``vr_alpha`` alpha (finite, not 1; 0 is the IWAE
    bound) or ``vr_max`` (alpha -> -inf); both need iwae_k >= 2.

    ``decoder_skip``: z (with the label of a CVAE) enters every decoder layer,
    h_l = act(h_{l-1} W_l + z U_l + b_l) (:mod:`minivae.models.skip_decoder`);
    it needs hidden layers (a linear VAE's decoder is one layer on z already).

    ``arch="conv"``: two stride-2 convolutions before the dense layers of
    hidden_dims, two transposed convolutions after the decoder's
    (:mod:`minivae.models.conv_nets`); for 784-pixel images, a Bernoulli or
    fixed-variance Gaussian decoder, no labels and no skip decoder.
    """

    input_dim: int = 784                    # D, pixels per image
    hidden_dims: tuple = (400,)             # the encoder's hidden sizes; the decoder's reversed; () linear
    latent_dim: int = 20                    # M, the size of z (categorical: M variables)
    likelihood: str = "bernoulli"           # p(x|z): "bernoulli" (logits) or "gaussian" (means)
    activation: str = "relu"                # of every hidden layer
    beta: float = 1.0                       # the KL weight (beta-VAE; 1 is the ELBO)
    dtype: str = "float32"                  # of parameters and arithmetic
    num_classes: int | None = None          # C for a conditional VAE (one-hot labels in); None unconditional
    free_bits: float = 0.0                  # lambda, a floor on each dimension's KL in nats (0: none)
    iwae_k: int = 1                         # K importance samples (> 1: the IWAE bound)
    learn_variance: bool = False            # the old spelling of variance="pixel"
    obs_logvar: float = 0.0                 # log sigma^2 of a Gaussian decoder (the start, when learned)
    init: str = "uniform"                   # weight initialisation (layers.INIT_SCHEMES)
    min_obs_logvar: float | None = None     # a floor on a learned log sigma^2 (None: none)
    posterior: str = "diagonal"             # q(z|x): "diagonal" or "full" covariance
    flow: str | None = None                 # "planar" flow steps after the sample, or None
    flow_steps: int = 10                    # K, the flow's steps
    iaf_hidden: int | None = None           # H, the width of each IAF step's MADE (None: 4 latent_dim)
    prior: str = "standard"                 # p(z): "standard" N(0, I), "mog" or "vamp"
    prior_components: int | None = None     # a learned prior's components (None: 10 mog, 500 vamp)
    variance: str = "fixed"                 # a Gaussian decoder's variance: "fixed", "pixel" or "network"
    latent: str = "gaussian"                # z: "gaussian" or "categorical" (Gumbel-softmax)
    categories: int = 10                    # K classes per categorical variable
    temperature: float = 1.0                # tau_0, the Gumbel-softmax temperature at step 0
    temperature_min: float = 0.5            # tau_min, its floor
    anneal_rate: float = 3e-5               # r in tau = max(tau_min, tau_0 exp(-r t))
    straight_through: bool = False          # one-hot codes forward, relaxed gradient backward
    mmd_weight: float = 0.0                 # lambda of the MMD(q(z), p(z)) term (InfoVAE; 0: none)
    mmd_kernel: str = "imq"                 # the MMD's kernel: "imq" or "rbf"
    vr_alpha: float | None = None           # alpha of the Rényi bound over the iwae_k samples (None: IWAE's, 0)
    vr_max: bool = False                    # VR-max: the largest of the iwae_k log-weights (alpha -> -inf)
    decoder_skip: bool = False              # z enters every decoder layer (Dieng et al. 2019's skip decoder)
    arch: str = "mlp"                       # encoder and decoder: "mlp" (dense) or "conv" (convolutions)

    def __post_init__(self):
        set_ = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731 (frozen dataclass)
        check_mlp_sizes(self)
        if self.activation not in ACTIVATIONS:
            raise ConfigError(f"activation must be one of {sorted(ACTIVATIONS)}, got {self.activation!r}")
        set_("beta", finite_number("beta", self.beta, ">= 0", lambda v: v >= 0))
        set_("dtype", check_dtype(self.dtype))
        if self.num_classes is not None:
            set_("num_classes", positive_int("num_classes", self.num_classes))
        set_("free_bits", finite_number("free_bits (lambda, nats per latent dimension)", self.free_bits, ">= 0",
                                        lambda v: v >= 0))
        set_("iwae_k", positive_int("iwae_k (number of importance samples k)", self.iwae_k))
        if self.free_bits > 0 and self.iwae_k > 1:
            raise ConfigError("free_bits (a floor on the ELBO's KL) cannot be combined with iwae_k > 1: the IWAE "
                              "bound has no separate KL term; use one of them")
        for key, value in observation_options(**{k: getattr(self, k) for k in OBSERVATION_FIELDS}).items():
            set_(key, value)                                    # p(x|z)'s own fields, validated by it
        if self.init not in INIT_SCHEMES:
            raise ConfigError(f"init must be one of {INIT_SCHEMES}, got {self.init!r}")

        self._check_design_points(set_)
        self._check_discrete_and_loss(set_)
        self._check_renyi(set_)
        if not isinstance(self.decoder_skip, bool):
            raise ConfigError(f"decoder_skip must be True or False, got {self.decoder_skip!r}")
        if self.decoder_skip and not self.hidden_dims:
            raise ConfigError("decoder_skip passes z to every decoder layer after the first: it needs hidden_dims "
                              "(a linear VAE's decoder is a single layer on z)")
        self._check_arch()

    def _check_arch(self):
        if self.arch not in ARCHS:
            raise ConfigError(f"arch must be one of {ARCHS}, got {self.arch!r}")
        if self.arch == "mlp":
            return
        clash = {k: getattr(self, k) for k, plain in (("input_dim", 784), ("num_classes", None),
                                                      ("decoder_skip", False), ("variance", "fixed"))
                 if getattr(self, k) != plain}
        if clash:
            raise ConfigError(f"arch='conv' takes 28 x 28 images (input_dim=784) without labels, a skip decoder or "
                              f"a learned variance; got {clash}")

    def _check_design_points(self, set_):
        if self.posterior not in POSTERIORS:
            raise ConfigError(f"posterior must be one of {POSTERIORS}, got {self.posterior!r}")
        if self.flow is not None and self.flow not in FLOWS:
            raise ConfigError(f"flow must be None or one of {FLOWS}, got {self.flow!r}")
        set_("flow_steps", positive_int("flow_steps (K, the number of flow steps)", self.flow_steps))
        self._check_iaf(set_)
        if self.flow is not None and self.posterior != "diagonal":
            raise ConfigError("a flow starts from the diagonal Gaussian sample: use posterior='diagonal' with "
                              f"flow={self.flow!r}")
        if self.prior not in PRIORS:
            raise ConfigError(f"prior must be one of {PRIORS}, got {self.prior!r}")
        if self.prior == "standard":
            if self.prior_components not in (None, 0):
                raise ConfigError("prior_components is the number of components of a learned prior: it needs "
                                  f"prior='mog' or 'vamp', got prior='standard' with {self.prior_components!r}")
            set_("prior_components", 0)
        else:
            k = DEFAULT_COMPONENTS[self.prior] if self.prior_components is None else self.prior_components
            set_("prior_components", positive_int("prior_components (K, the prior's mixture components)", k))
        if self.prior == "vamp" and self.num_classes is not None:
            raise ConfigError("the VampPrior's pseudo-inputs carry no label: prior='vamp' cannot be combined with "
                              "num_classes (a conditional VAE)")
        if self.free_bits > 0 and not (self.closed_form_kl and self.posterior == "diagonal"):
            raise ConfigError("free_bits is a floor on each dimension's closed-form KL to N(0, I): it needs "
                              "posterior='diagonal', no flow and prior='standard' "
                              f"(got posterior={self.posterior!r}, flow={self.flow!r}, prior={self.prior!r})")

    def _check_iaf(self, set_):
        if self.flow != "iaf":
            if self.iaf_hidden is not None:
                raise ConfigError(f"iaf_hidden is the width of an IAF's MADE: it needs flow='iaf', "
                                  f"got flow={self.flow!r}")
            return
        h = positive_int("iaf_hidden (H, the MADE's width)",
                         4 * self.latent_dim if self.iaf_hidden is None else self.iaf_hidden)
        if h < max(self.latent_dim - 1, 1):
            raise ConfigError(f"iaf_hidden (H, the MADE's width) must be at least latent_dim - 1 = "
                              f"{self.latent_dim - 1} so that its masks give output i every earlier z_j; got {h}")
        set_("iaf_hidden", h)

    def _check_discrete_and_loss(self, set_):
        if self.latent not in LATENTS:
            raise ConfigError(f"latent must be one of {LATENTS}, got {self.latent!r}")
        cat = self.latent == "categorical"
        if isinstance(self.categories, bool) or not isinstance(self.categories, numbers.Integral) \
                or self.categories < 2:
            raise ConfigError(f"categories (K, classes per categorical variable) must be an integer >= 2, "
                              f"got {self.categories!r}")
        set_("categories", int(self.categories))
        for key, what in (("temperature", "the Gumbel-softmax temperature tau at step 0"),
                          ("temperature_min", "the temperature's floor tau_min")):
            set_(key, finite_number(f"{key} ({what})", getattr(self, key), "> 0", lambda v: v > 0))
        set_("anneal_rate", finite_number("anneal_rate (r in tau = max(tau_min, tau0 exp(-r t)))", self.anneal_rate,
                                          ">= 0", lambda v: v >= 0))
        if self.straight_through and not cat:
            raise ConfigError("straight_through is the one-hot forward of categorical latents: it needs "
                              "latent='categorical'")
        if cat:
            clash = {k: getattr(self, k) for k, plain in (("posterior", "diagonal"), ("flow", None),
                                                          ("prior", "standard"), ("iwae_k", 1), ("free_bits", 0.0))
                     if getattr(self, k) != plain}
            if clash:
                raise ConfigError(f"latent='categorical' has its own posterior (softmax logits) and prior (uniform); "
                                  f"these options assume a Gaussian posterior or prior: {clash}")
        set_("mmd_weight", finite_number("mmd_weight (lambda of the MMD term)", self.mmd_weight, ">= 0",
                                         lambda v: v >= 0))
        if self.mmd_kernel not in MMD_KERNELS:
            raise ConfigError(f"mmd_kernel must be one of {MMD_KERNELS}, got {self.mmd_kernel!r}")
        if self.mmd_weight > 0 and (cat or self.iwae_k > 1):
            raise ConfigError("mmd_weight compares a batch of Gaussian samples z with N(0, I): it needs "
                              f"latent='gaussian' and iwae_k=1 (got latent={self.latent!r}, iwae_k={self.iwae_k})")

    def _check_renyi(self, set_):
        if self.vr_alpha is not None:
            set_("vr_alpha", finite_number("vr_alpha (alpha, the order of the Rényi bound)", self.vr_alpha,
                                           "other than 1 (1 is the ELBO's limit)", lambda v: v != 1))
        if not isinstance(self.vr_max, bool):
            raise ConfigError(f"vr_max must be True or False, got {self.vr_max!r}")
        if self.vr_max and self.vr_alpha is not None:
            raise ConfigError("vr_max is the Rényi bound's alpha -> -inf: give vr_alpha or vr_max, not both")
        if (self.vr_max or self.vr_alpha is not None) and self.iwae_k < 2:
            raise ConfigError(f"{'vr_max' if self.vr_max else 'vr_alpha'} is a bound over importance samples: "
                              f"it needs iwae_k >= 2, got iwae_k={self.iwae_k}")

    @property
    def renyi_alpha(self):
        """The Rényi bound's alpha (-inf for VR-max), or None for the IWAE bound (alpha = 0) or the ELBO."""
        return -math.inf if self.vr_max else self.vr_alpha

    @property
    def objective(self):
        """The bound trained: "vae" (the ELBO), "iwae", "renyi (alpha=A)" or "vr-max", over iwae_k samples."""
        if self.iwae_k == 1:
            return "vae"
        return "iwae" if self.renyi_alpha is None else "vr-max" if self.vr_max else f"renyi (alpha={self.vr_alpha})"

    @property
    def code_size(self):
        """The decoder's input width: latent_dim, or latent_dim * categories one-hot entries."""
        return self.latent_dim * (self.categories if self.latent == "categorical" else 1)

    @property
    def closed_form_kl(self):
        """Whether the KL term is in closed form (a Gaussian q, no flow, the N(0, I) prior), else Monte Carlo."""
        return self.flow is None and self.prior == "standard"

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
