"""The command-line flags of the VAE's design points (HY-673 lecture 10), shared by ``train`` and ``bench nll``.

    --posterior diagonal|full       q(z|x): diagonal or full-covariance Gaussian
    --flow planar --flow-steps K    K planar flow steps after the Gaussian sample
    --flow iaf --iaf-hidden H       K inverse autoregressive steps instead, each a MADE H wide (Kingma et al. 2016)
    --prior standard|mog|vamp       p(z): N(0, I), a learned mixture, the VampPrior
    --prior-components K            the learned prior's components (mog 10, vamp 500 when omitted)
    --pseudo-inputs data|grey       where the VampPrior's pseudo-inputs start
    --variance fixed|pixel|network  a Gaussian decoder's variance (--learn-variance is "pixel")
    --latent categorical --categories K [--temperature T --temperature-min T --anneal-rate R --straight-through]
    --mmd-weight LAMBDA [--mmd-kernel imq|rbf]   InfoVAE / MMD-VAE (with --kl-weight, i.e. --beta)
    --vr-alpha A | --vr-max         the Rényi bound over --iwae-k K samples (Li & Turner 2016)
    --decoder-skip                  z enters every decoder layer (Dieng et al. 2019's skip decoder)
    --arch mlp|conv                 dense encoder and decoder, or convolutional ones (minivae.models.conv_nets)
    --layers 2 [--hidden-dims2 H.. --latent-dim2 M2]   two stochastic layers (Burda et al. 2015), alone
"""
from __future__ import annotations

from ..errors import ConfigError
from ..models.vae_config import ARCHS, FLOWS, LATENTS, MMD_KERNELS, POSTERIORS, PRIORS, VARIANCES
from .parser import given


def add_design_args(group, variance=True):
    """Add the design-point flags to an argparse group (``variance``: also --variance)."""
    group.add_argument("--posterior", choices=POSTERIORS, default="diagonal",
                       help="q(z|x): diagonal Gaussian, or full covariance (L ⊙ L_mask + diag(sigma)) eps + mu")
    group.add_argument("--flow", choices=FLOWS, default=None,
                       help="normalizing flow steps after the sample: planar, or inverse autoregressive (iaf)")
    group.add_argument("--flow-steps", type=int, default=10, metavar="K", help="number of flow steps (with --flow)")
    group.add_argument("--iaf-hidden", type=int, default=None, metavar="H",
                       help="width of each IAF step's MADE (with --flow iaf; default 4 x latent dim, at least "
                            "latent dim - 1)")
    group.add_argument("--prior", choices=PRIORS, default="standard",
                       help="p(z): N(0, I), a learned mixture of Gaussians (mog), or the VampPrior (vamp)")
    group.add_argument("--prior-components", type=int, default=None, metavar="K",
                       help="components of a learned prior (default: 10 for mog, 500 pseudo-inputs for vamp)")
    group.add_argument("--pseudo-inputs", choices=("data", "grey"), default="data",
                       help="VampPrior: start the pseudo-inputs at random training images (data) or near 0.5 (grey)")
    group.add_argument("--decoder-skip", action="store_true",
                       help="z enters every decoder layer, the output layer included (Dieng et al. 2019: a remedy "
                            "for posterior collapse); needs --hidden-dims")
    group.add_argument("--arch", choices=ARCHS, default="mlp",
                       help="encoder and decoder: dense layers (mlp), or two stride-2 convolutions before the "
                            "--hidden-dims layers and two transposed convolutions after the decoder's (conv)")
    if variance:
        group.add_argument("--variance", choices=VARIANCES, default=None,
                           help="Gaussian decoder variance: fixed (--obs-logvar), pixel (learned per pixel, as "
                                "--learn-variance) or network (the decoder outputs mean and log sigma^2)")


def add_latent_and_loss_args(group):
    """Discrete latents (Gumbel-softmax) and InfoVAE's MMD term."""
    group.add_argument("--latent", choices=LATENTS, default="gaussian",
                       help="z: Gaussian, or latent-dim categorical variables of --categories classes")
    group.add_argument("--categories", type=int, default=10, metavar="K", help="classes per categorical variable")
    group.add_argument("--temperature", type=float, default=1.0, metavar="TAU0", help="Gumbel-softmax tau at step 0")
    group.add_argument("--temperature-min", type=float, default=0.5, metavar="TAU_MIN", help="the temperature's floor")
    group.add_argument("--anneal-rate", type=float, default=3e-5, metavar="R",
                       help="tau = max(tau_min, tau0 exp(-R step)) (Jang et al.)")
    group.add_argument("--straight-through", action="store_true",
                       help="one-hot codes forward, the relaxed gradient backward (biased)")
    group.add_argument("--mmd-weight", type=float, default=0.0, metavar="LAMBDA",
                       help="InfoVAE / MMD-VAE: add LAMBDA MMD(q(z), N(0, I)) to the loss (the KL weight is --beta)")
    group.add_argument("--mmd-kernel", choices=MMD_KERNELS, default="imq", help="the MMD term's kernel")


def add_renyi_args(group):
    """The Rényi bound (:mod:`minivae.renyi`) over the --iwae-k samples: --vr-alpha A or --vr-max."""
    group.add_argument("--vr-alpha", type=float, default=None, metavar="A",
                       help="train on the Rényi bound of order A over the --iwae-k samples (A finite, not 1; "
                            "0 is the IWAE bound, A -> 1 the ELBO)")
    group.add_argument("--vr-max", action="store_true",
                       help="train on VR-max, the largest of the --iwae-k log-weights (the Rényi bound's A -> -inf)")


DISCRETE_AND_LOSS = ("latent", "categories", "temperature", "temperature_min", "anneal_rate", "straight_through",
                     "mmd_weight", "mmd_kernel", "vr_alpha", "vr_max")


def design_kwargs(a):
    """The VAE keyword arguments of the parsed design-point flags."""
    kw = dict(posterior=a.posterior, flow=a.flow, flow_steps=a.flow_steps, iaf_hidden=a.iaf_hidden,
              prior=a.prior, prior_components=a.prior_components, decoder_skip=a.decoder_skip,
              arch=a.arch)
    kw.update({k: getattr(a, k) for k in DISCRETE_AND_LOSS if hasattr(a, k)})
    if getattr(a, "variance", None) is not None:
        kw["variance"] = a.variance
    return kw


def prepare(vae, train_x, a):
    """What a new run does to a model before training: the VampPrior's pseudo-inputs from training images."""
    if vae.config.prior == "vamp" and a.pseudo_inputs == "data":
        vae.init_pseudo_inputs(train_x)


#: the options the two-layer model (``--layers 2``) takes; a command's other model flags are the one-layer VAE's
TWO_LAYER_OPTIONS = frozenset({"layers", "hidden_dims", "latent_dim", "hidden_dims2", "latent_dim2", "likelihood",
                               "obs_logvar", "activation", "beta", "iwae_k", "init", "output_bias"})
#: Burda et al.'s two-layer sizes, the defaults of ``--layers 2`` wherever the flag is not given
BURDA_TWO_LAYER = dict(hidden_dims=(200, 200), latent_dim=100, hidden_dims2=(100, 100), latent_dim2=50,
                       activation="tanh", init="auto")


def add_layers_args(group, sizes=True):
    """--layers 1|2 and the second stochastic layer's sizes (:class:`minivae.TwoLayerVAE`).

    ``sizes``: the command has --hidden-dims and --latent-dim (``train``), which the help then names.
    """
    burda = ("with their sizes where a flag is not given (--hidden-dims 200 200 --latent-dim 100 --hidden-dims2 "
             "100 100 --latent-dim2 50, tanh, init auto)" if sizes else "784-200-200-100 and 100-100-50 "
             "where --hidden-dims2 and --latent-dim2 are not given, tanh, init auto")
    group.add_argument("--layers", type=int, choices=(1, 2), default=1,
                       help="stochastic layers: 1, the VAE; 2, z1 and z2 (Burda et al. 2015: q(z1|x) q(z2|z1), "
                            f"p(z2) p(z1|z2) p(x|z1)), {burda}")
    group.add_argument("--hidden-dims2", type=int, nargs="*", default=None, metavar="H",
                       help="with --layers 2: q(z2|z1)'s hidden sizes (p(z1|z2) mirrors them); none given: 100 100")
    group.add_argument("--latent-dim2", type=int, default=None, metavar="M2",
                       help="with --layers 2: the size of z2; none given: 50")


def one_layer_flags(*groups):
    """The destinations of the flags in ``groups`` that only the one-layer VAE takes (``--layers 2`` refuses them)."""
    return frozenset(action.dest for g in groups for action in g._group_actions) - TWO_LAYER_OPTIONS


def two_layer_kwargs(a, one_layer_only):
    """The :class:`minivae.TwoLayerVAE` sizes of ``--layers 2`` (Burda's where not given), or None for ``--layers 1``.

    ConfigError (one line naming the flags) for a second layer's size without ``--layers 2``, and for
    ``--layers 2`` with any of ``one_layer_only`` given.
    """
    options = given(a)
    if a.layers != 2:
        stray = options & {"hidden_dims2", "latent_dim2"}
        if stray:
            raise ConfigError(f"{_flags(stray)} size the second stochastic layer: add --layers 2")
        return None
    refused = options & one_layer_only
    if refused:
        raise ConfigError(f"--layers 2 does not combine with {_flags(refused)}: the two-layer model has diagonal "
                          "Gaussian layers, an N(0, I) top prior and the ELBO or IWAE bound; leave them out")
    return {k: getattr(a, k) if k in options and hasattr(a, k) else v for k, v in BURDA_TWO_LAYER.items()}


def _flags(dests):
    return ", ".join("--" + d.replace("_", "-") for d in sorted(dests))
