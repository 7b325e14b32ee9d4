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
"""
from __future__ import annotations

from ..models.vae_config import FLOWS, LATENTS, MMD_KERNELS, POSTERIORS, PRIORS, VARIANCES


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
              prior=a.prior, prior_components=a.prior_components, decoder_skip=a.decoder_skip)
    kw.update({k: getattr(a, k) for k in DISCRETE_AND_LOSS if hasattr(a, k)})
    if getattr(a, "variance", None) is not None:
        kw["variance"] = a.variance
    return kw


def prepare(vae, train_x, a):
    """What a new run does to a model before training: the VampPrior's pseudo-inputs from training images."""
    if vae.config.prior == "vamp" and a.pseudo_inputs == "data":
        vae.init_pseudo_inputs(train_x)
