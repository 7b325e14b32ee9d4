"""The variational autoencoder, forward and backward by hand, written once for every variant.

Encoder q(z|x) = N(mu, diag(sigma^2)) with sigma = exp(logvar / 2) (or a
full covariance, or a planar flow after the sample: :mod:`minivae.models.posteriors`);
prior p(z) = N(0, I) (or a learned mixture, or the VampPrior:
:mod:`minivae.models.priors`); decoder p(x|z) Bernoulli (logits) or Gaussian (means,
and with ``variance="network"`` log-variances too).
``loss`` returns the batch mean of the negative ELBO with a KL weight beta,

    L = 1/N sum_n [ -log p(x_n|z_n) + beta KL(q(z|x_n) || p(z)) ],  z_n = mu_n + sigma_n eps_n,

and ``backward`` fills ``grads`` for that same pass (same eps). With
``iwae_k = K > 1`` it is the negative K-sample importance-weighted bound
(Burda et al. 2015, :mod:`minivae.iwae`), or with ``vr_alpha`` / ``vr_max`` the
Rényi bound over those samples (:mod:`minivae.renyi`); with ``free_bits`` the KL of each
latent dimension has a floor (:func:`minivae.kl.free_bits_kl`); with
``num_classes`` encoder and decoder also read the one-hot label (CVAE).
Where the KL has no closed form it is the Monte Carlo estimate
log q(z|x) - log p(z) at the sample (:mod:`minivae.models.latent`).
Every variant is the one graph below, on :class:`minivae.layers.Dense`
layers and the backend's fused ops for the elementwise maths
(reparameterization + KL, the likelihood and its gradient), whose
references are the lecture functions of :mod:`minivae.reparam`,
:mod:`minivae.kl` and :mod:`minivae.likelihoods`.

Parameter names (one flat dict, shared by the optimizer and the gradient
checker): ``encoder.{i}.W/b`` for the hidden layers, ``mu.W/b`` and
``logvar.W/b`` for the two heads (``L.W/b``, ``flow.W/b`` for a full
covariance or a planar flow; ``flow.{t}.*`` an IAF's MADEs), ``prior.*`` for a learned prior,
``decoder.{i}.W/b`` for every decoder layer including the output layer
(and ``decoder.{i}.U``, z's weights into layer i >= 1 of a skip decoder,
``decoder_skip``: :mod:`minivae.models.skip_decoder`), and
``decoder.logvar`` for a learned per-pixel variance; ``arch="conv"`` names its
layers ``encoder.conv0.W`` .. ``decoder.deconv1.W`` (:mod:`minivae.models.conv_nets`).
"""
from __future__ import annotations

import numpy

from .. import iwae, renyi
from ..backend import get_backend
from ..backend.buffers import Buffers
from .vae_config import VAEConfig
from ..errors import ConfigError, MiniVAEError
from ..gumbel import temperature
from ..kl import free_bits_kl
from .labels import Labels
from .latent import Latent
from .observation import make_observation
from ..layers import MLP, pack_parameters
from ..mmd import mmd, mmd_backward
from .base import Model
from .conv_nets import ConvDecoder, ConvEncoder
from .skip_decoder import SkipMLP
from .vae_inference import VAEInference
from ..optim import make_optimizer


class VAE(VAEInference, Model):
    """A VAE with MLP (or, ``arch="conv"``, convolutional) encoder and decoder. See the module docstring for the math.

    Its parts: ``encoder``, ``latent`` (q(z|x) and p(z)), ``decoder``,
    ``observation`` (p(x|z)) and ``labels`` (for a CVAE). Options: every
    field of :class:`minivae.models.vae_config.VAEConfig`, by the same name
    (``init``: ``"uniform"``, PyTorch's default, ``"he"``, ``"xavier"`` or
    ``"auto"``). ``seed`` seeds the weights and the model's own generator
    ``self.rng`` (eps, prior samples, binarisation); ``backend``:
    ``"numpy"`` (default) or ``"cupy"``.
    """

    kind = "vae"
    step_values = ("beta", "temperature")    # the KL weight and Gumbel-softmax tau of the step, at the epoch's end
    tuple_options = ("hidden_dims",)

    def __init__(self, input_dim=784, hidden_dims=(400,), latent_dim=20, likelihood="bernoulli",
                 activation="relu", beta=1.0, seed=0, dtype="float32", num_classes=None,
                 free_bits=0.0, iwae_k=1, learn_variance=False, obs_logvar=0.0, init="uniform",
                 min_obs_logvar=None, posterior="diagonal", flow=None, flow_steps=10, iaf_hidden=None,
                 prior="standard", prior_components=None, variance="fixed", latent="gaussian", categories=10,
                 temperature=1.0, temperature_min=0.5, anneal_rate=3e-5, straight_through=False, mmd_weight=0.0,
                 mmd_kernel="imq", vr_alpha=None, vr_max=False, decoder_skip=False, arch="mlp", backend=None):
        self.config = c = VAEConfig(
            input_dim=input_dim, hidden_dims=hidden_dims, latent_dim=latent_dim, likelihood=likelihood,
            activation=activation, beta=beta, dtype=dtype, num_classes=num_classes, free_bits=free_bits,
            iwae_k=iwae_k, learn_variance=learn_variance, obs_logvar=obs_logvar, init=init,
            min_obs_logvar=min_obs_logvar, posterior=posterior, flow=flow, flow_steps=flow_steps,
            iaf_hidden=iaf_hidden, prior=prior, prior_components=prior_components, variance=variance, latent=latent,
            categories=categories,
            temperature=temperature, temperature_min=temperature_min, anneal_rate=anneal_rate,
            straight_through=straight_through, mmd_weight=mmd_weight, mmd_kernel=mmd_kernel, vr_alpha=vr_alpha,
            vr_max=vr_max, decoder_skip=decoder_skip, arch=arch)
        self.seed = seed
        self.backend = get_backend(backend)
        self.xp, self.dtype = self.backend.xp, numpy.dtype(c.dtype)
        self.rng = self.backend.default_rng(seed)
        init_rng = numpy.random.default_rng(seed)  # same initial weights on every backend
        n_cls = c.num_classes or 0
        h_dim = c.hidden_dims[-1] if c.hidden_dims else c.input_dim + n_cls
        if c.arch == "conv":                                                        # conv_nets's sizes
            self.encoder = ConvEncoder(c.hidden_dims, c.activation, init_rng, self.backend, c.dtype, c.init)
            h_dim = self.encoder.out_dim
        else:
            self.encoder = MLP([c.input_dim + n_cls, *c.hidden_dims], c.activation, init_rng, self.backend,
                               c.dtype, final_activation=c.activation, init=c.init)
        self.latent = Latent(c, h_dim, init_rng, self.backend, c.dtype)
        self.observation = make_observation(c, self.backend, self.dtype)             # p(x|z)
        decoder_sizes = [c.code_size + n_cls, *reversed(c.hidden_dims), c.input_dim * self.observation.outputs]
        self.decoder = ConvDecoder(c.code_size, c.hidden_dims, c.activation, init_rng, self.backend, c.dtype,
                                   c.init) if c.arch == "conv" else \
            (SkipMLP if c.decoder_skip else MLP)(decoder_sizes, c.activation, init_rng, self.backend, c.dtype,
                                                 init=c.init)
        parts = [("encoder", self.encoder), *self.latent.parts(), ("decoder", self.decoder)]
        if self.observation.params:                                                 # decoder.logvar
            parts.append(("decoder", self.observation))
        self.params, self.grads = pack_parameters(parts, (), self.backend, c.dtype)
        heads = self.latent.posterior.heads
        self.mu_head, self.logvar_head = heads.get("mu"), heads.get("logvar")     # None for categorical latents
        self.beta = c.beta   # the KL weight; train_step scales it by the warm-up of each step
        self.labels = Labels(c.num_classes, self.backend, self.dtype)                # y, for a CVAE
        self.buffers = Buffers(self.xp, self.dtype)
        self._cache = None

    # ---------------------------------------------------------- the objective
    def loss(self, x, y=None, eps=None, target=None, check=True, beta=None, z_prior=None):
        """Forward pass: the batch-mean negative ELBO (or IWAE bound) in nats per example.

        x: (N, input_dim) in the model's dtype (converted if not); y: labels
        (N,) for a conditional model; eps: (N, latent_dim), or
        (iwae_k, N, latent_dim), drawn from ``self.rng`` when None; target:
        what the decoder must reconstruct, x itself unless denoising; beta:
        the KL weight of this pass (``self.beta`` when None); z_prior: the
        (N, latent_dim) draws from p(z) of the MMD term (``mmd_weight``).
        Returns ``{"loss", "recon", "kl"}`` (and ``"mmd"``) as 0-d arrays (``float()`` reads them).
        """
        c, buf = self.config, self.buffers
        beta = float(self.beta if beta is None else beta)     # a Python float keeps float32 float32
        x = self.as_images(x, check)
        target = x if target is None else self.as_images(target, check, like=x, name="target")
        n, k, dim = x.shape[0], c.iwae_k, c.code_size
        onehot = self.labels.onehot(y, n)
        eps = self.latent.noise(eps, n, self.rng, check)
        h = self.encoder.forward(self.encoder_input(x, onehot, "x_enc"))                    # (N [+ C pseudo-inputs], H)
        z, kl = self.latent.forward(h, eps, buf)                                   # (N, M) or (K, N, M); kl (N,) or (K, N)
        out = self.decoder.forward(self.labels.append(z.reshape(-1, dim), onehot, buf, "z_in"))     # (K N, D)
        nll, dout = self.observation.nll_and_grad(_repeat_rows(target, k, buf), out, 1.0 / n if k == 1 else 1.0,
                                                  buf)                                  # (K N,), dL/dout
        cache = dict(z_shape=z.shape, onehot=onehot, beta=beta, n=n, dout=dout)
        if k > 1:
            cache["log_w"] = -nll.reshape(k, n) - beta * kl                           # (K, N) log importance weights
            alpha = c.renyi_alpha                                                     # None: IWAE (alpha = 0)
            loss = -(iwae.bound(cache["log_w"]) if alpha is None else renyi.bound(cache["log_w"], alpha)).mean()
        elif c.free_bits > 0:
            s = self.latent.last_stats
            kl_term, active = free_bits_kl(s["mu"], s["logvar"], c.free_bits)
            cache["kl_weight"] = (beta / n) * active.astype(self.dtype)               # (M,): 0 below the floor
            loss = nll.mean() + beta * kl_term
        else:
            cache["kl_weight"] = self.dtype.type(beta / n)
            loss = (nll + beta * kl).mean()
        self._cache = cache
        out = {"loss": loss, "recon": nll.mean(), "kl": kl.mean()}
        if c.mmd_weight > 0:                                                        # InfoVAE / MMD-VAE
            z_prior = self.latent.prior_draws(z_prior, n, self.rng, check)
            out["mmd"], cache["mmd"] = mmd(z, z_prior, c.mmd_kernel)
            out["loss"] = loss + c.mmd_weight * out["mmd"]
        return out

    def backward(self):
        """Fill ``self.grads`` with dL/dparam for the last ``loss`` call (same eps)."""
        if self._cache is None:
            raise MiniVAEError("backward() needs a forward pass first: call vae.loss(x) before vae.backward()")
        c, xp, buf, k = self.config, self.xp, self.buffers, self._cache
        n, dout = k["n"], k["dout"]                                                 # from the loss's fused op
        if c.iwae_k > 1:
            alpha = c.renyi_alpha                                                   # (K, N); dL/dlog w = -w / N
            w = iwae.normalized_weights(k["log_w"]) if alpha is None else renyi.normalized_weights(k["log_w"], alpha)
            s = (w / n).reshape(-1, 1)                                              # dL/d(-log p(x|z)) per row
            dout_s = xp.multiply(dout, s, out=buf("dout_w", dout.shape))
            self.observation.backward(s)                                            # a learned variance's
            dout, dkl = dout_s, (k["beta"] / n) * w                                 # log w = log p(x|z) - beta kl
        else:
            self.observation.backward()
            dkl = k["kl_weight"]
        dz = self.decoder.backward(dout)                                            # (K N, M [+ C])
        if k["onehot"] is not None:                                                 # the labels get no gradient
            dz_z = buf("dz", (dz.shape[0], c.code_size))
            xp.copyto(dz_z, dz[:, :c.code_size])
            dz = dz_z
        dz = dz.reshape(k["z_shape"])
        if c.mmd_weight > 0:
            dz = dz + mmd_backward(c.mmd_weight, k["mmd"])
        hidden, pseudo = bool(self.encoder.layers), self.latent.pseudo
        dh = self.latent.backward(dz, dkl, buf, need_dx=hidden or bool(pseudo))
        if hidden:
            dh = self.encoder.backward(dh, need_dx=bool(pseudo))
        if pseudo:                                                                  # the VampPrior's pseudo-inputs
            self.grads["prior.pseudo_inputs"][...] = dh[n:]
        return self.grads

    def loss_and_grads(self, x, y=None, eps=None, target=None):
        """``loss`` then ``backward``: (the loss dict, the grads dict)."""
        out = self.loss(x, y=y, eps=eps, target=target)
        return out, self.backward()

    # ------------------------------------------------------------- training
    def configure_optimizers(self, config):
        """The optimizers of ``train_step``: ``{"vae": Adam or SGD over every parameter}`` (TrainConfig's)."""
        return {"vae": make_optimizer(config.optimizer, self.params, **config.optimizer_options())}

    def train_step(self, batch, optimizers):
        """One step of the objective on a :class:`minivae.train.Batch`: loss, backward, update, constraints.

        The KL weight of the step is beta times the batch's warm-up fraction;
        categorical latents anneal their temperature with the optimizer's step
        count t (so a resumed run continues the schedule exactly).
        Returns the loss dict and the KL weight used (``beta``) (and ``temperature``).
        """
        beta, c, extra = self.beta * batch.warmup, self.config, {}
        if c.latent == "categorical":
            tau = temperature(optimizers["vae"].t, c.temperature, c.temperature_min, c.anneal_rate)
            self.latent.posterior.tau = extra["temperature"] = tau
        out = self.loss(batch.x, y=batch.y, target=batch.target, check=False, beta=beta)
        self.backward()
        optimizers["vae"].step(self.grads)
        self.apply_constraints()
        return {**out, "beta": beta, **extra}

    def eval_step(self, batch):
        """The objective on a held-out batch at the full KL weight: ``{"loss", "recon", "kl"}``.

        Categorical latents are scored as the discrete model: one-hot codes
        (the Gumbel-max sample) in the forward, so the figure is the ELBO that
        bounds its log p(x), whatever the temperature reached in training.
        """
        post = self.latent.posterior
        relaxed = getattr(post, "straight_through", None)
        if relaxed is None:
            return self.loss(batch.x, y=batch.y, target=batch.target, check=False)
        post.straight_through = True
        try:
            return self.loss(batch.x, y=batch.y, target=batch.target, check=False)
        finally:
            post.straight_through = relaxed

    def check_data(self, x, y=None, name="x"):
        """Validate (and move to this backend) a dataset fit will train or evaluate on."""
        x = self.as_images(x, check=True, name=name)
        if self.config.conditional or y is not None:
            self.labels.onehot(y, x.shape[0])              # DataError / ConfigError for bad labels
        return x

    def apply_constraints(self):
        """After each optimizer step (``train_step`` calls it): a learned log-variance stays >=
        ``min_obs_logvar``. Without a floor, the variance of pixels that are always 0 (MNIST's
        border) shrinks by about lr per Adam step and their likelihood grows without bound; the
        loss and gradient are the unconstrained model's (projected gradient descent)."""
        self.observation.apply_constraints()
        return self

    def init_output_bias(self, x, floor=1e-4):
        """Start the decoder at the data's per-pixel marginal: output bias b = link(mean_n x_n) (the means' half
        for ``variance="network"``; a Bernoulli's logit of the clipped mean), so that with the small initial
        weights the first reconstructions are the mean image, not grey (as in Burda et al.'s code)."""
        if self.config.arch == "conv":
            raise ConfigError("init_output_bias (--output-bias data) sets one bias per pixel; arch='conv' "
                              "has one per channel: use --output-bias zero")
        mean_image = self.xp.asarray(self.as_images(x).mean(axis=0, dtype="float64"))
        self.decoder.layers[-1].params["b"][:self.config.input_dim] = self.observation.link(mean_image, floor)
        return self

    def init_pseudo_inputs(self, x):
        """Start the VampPrior's pseudo-inputs at C distinct training images of x, chosen by ``self.rng``."""
        if not self.latent.pseudo:
            raise ConfigError(f"init_pseudo_inputs needs prior='vamp'; this VAE has prior={self.config.prior!r}")
        self.latent.prior.init_from_data(self.as_images(x), self.rng)
        return self

    # ------------------------------------------------------------ checkpoints
    def architecture(self):
        """The record a checkpoint rebuilds this VAE from: its config and seed."""
        return {**self.config.to_dict(), "seed": self.seed}

    def shape_hint(self, name, saved, expected):
        if name in ("encoder.0.W", "decoder.0.W") and saved[1:] == expected[1:]:
            return (f" (its input has {saved[0] - expected[0]:+d} features: a conditional model takes "
                    f"num_classes one-hot inputs more; this one has num_classes={self.config.num_classes})")
        return ""

    def __repr__(self):
        c = self.config
        return (f"VAE(input_dim={c.input_dim}, hidden_dims={c.hidden_dims}, latent_dim={c.latent_dim}, "
                f"likelihood={c.likelihood!r}, activation={c.activation!r}, beta={c.beta}, dtype={c.dtype!r}, "
                + "".join(f"{k}={v!r}, " for k, v in self.design_points().items())
                + f"backend={self.backend.name!r})")

    def design_points(self):
        """The options that differ from the plain VAE's posterior, prior and variance (for repr and reports)."""
        c, d = self.config, {}
        for key, plain in (("posterior", "diagonal"), ("flow", None), ("prior", "standard"), ("variance", "fixed"),
                           ("decoder_skip", False), ("arch", "mlp")):
            if getattr(c, key) != plain:
                d[key] = getattr(c, key)
        if c.flow:
            d["flow_steps"] = c.flow_steps
        if c.flow == "iaf":
            d["iaf_hidden"] = c.iaf_hidden
        if c.prior != "standard":
            d["prior_components"] = c.prior_components
        return d


def _repeat_rows(target, k, buf):
    """The target once per importance sample, (K N, D), in a kept buffer (target itself for K = 1)."""
    if k == 1:
        return target
    out = buf("target_k", (k * target.shape[0], target.shape[1]))
    out.reshape(k, *target.shape)[...] = target
    return out
