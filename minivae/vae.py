"""The variational autoencoder, forward and backward by hand, written once for every variant.

Encoder q(z|x) = N(mu, diag(sigma^2)) with sigma = exp(logvar / 2); prior
p(z) = N(0, I); decoder p(x|z) Bernoulli (logits) or Gaussian (means).
``loss`` returns the batch mean of the negative ELBO with a KL weight beta,

    L = 1/N sum_n [ -log p(x_n|z_n) + beta KL(q(z|x_n) || p(z)) ],  z_n = mu_n + sigma_n eps_n,

and ``backward`` fills ``grads`` for that same pass (same eps). With
``iwae_k = K > 1`` it is the negative K-sample importance-weighted bound
(Burda et al. 2015, :mod:`minivae.iwae`); with ``free_bits`` the KL of each
latent dimension has a floor (:func:`minivae.kl.free_bits_kl`); with
``num_classes`` encoder and decoder also read the one-hot label (CVAE).
Every variant is the one graph below, on :class:`minivae.layers.Dense`
layers and the backend's fused ops for the elementwise maths
(reparameterization + KL, the likelihood and its gradient), whose
references are the lecture functions of :mod:`minivae.reparam`,
:mod:`minivae.kl` and :mod:`minivae.likelihoods`.

Parameter names (one flat dict, shared by the optimizer and the gradient
checker): ``encoder.{i}.W/b`` for the hidden layers, ``mu.W/b`` and
``logvar.W/b`` for the two heads, ``decoder.{i}.W/b`` for every decoder layer
including the output layer, and ``decoder.logvar`` for a learned per-pixel
variance.
"""
from __future__ import annotations

import numpy

from . import diagnostics, iwae, observation
from .backend import get_backend
from .buffers import Buffers
from .config import VAEConfig
from .errors import ConfigError, MiniVAEError
from .inputs import as_eps, as_images, as_latents, onehot_labels, positive_int, repeat_rows, with_labels
from .kl import free_bits_kl, kl_divergence
from .layers import MLP, Dense, init_for, pack_parameters
from .model import Model
from .optim import make_optimizer
from .reparam import reparameterize, reparameterize_backward


class VAE(Model):
    """A VAE with MLP encoder and decoder. See the module docstring for the math.

    Parameters
    ----------
    input_dim, hidden_dims, latent_dim, likelihood, activation, beta, dtype,
    num_classes, free_bits, iwae_k, learn_variance, obs_logvar, init, min_obs_logvar
        See :class:`minivae.config.VAEConfig`. ``init`` is the weight
        initialisation: ``"uniform"`` (PyTorch's default), ``"he"``,
        ``"xavier"`` or ``"auto"`` (He for ReLU-like activations, else Xavier).
    seed : int
        Seeds both the weight initialisation and the model's own generator
        (``self.rng``) for eps, prior samples and binarisation.
    backend : str or Backend, optional
        ``"numpy"`` (default) or ``"cupy"``.
    """

    kind = "vae"
    step_values = ("beta",)             # the KL weight of the step, recorded at the epoch's end
    tuple_options = ("hidden_dims",)

    def __init__(self, input_dim=784, hidden_dims=(400,), latent_dim=20, likelihood="bernoulli",
                 activation="relu", beta=1.0, seed=0, dtype="float32", num_classes=None,
                 free_bits=0.0, iwae_k=1, learn_variance=False, obs_logvar=0.0, init="uniform",
                 min_obs_logvar=None, backend=None):
        self.config = c = VAEConfig(input_dim, hidden_dims, latent_dim, likelihood, activation, beta, dtype,
                                    num_classes, free_bits, iwae_k, learn_variance, obs_logvar, init, min_obs_logvar)
        if c.free_bits > 0 and c.iwae_k > 1:
            raise ConfigError("free_bits (a floor on the ELBO's KL) cannot be combined with iwae_k > 1: the IWAE "
                              "bound has no separate KL term; use one of them")
        self.seed = seed
        self.backend = get_backend(backend)
        self.xp, self.dtype = self.backend.xp, numpy.dtype(c.dtype)
        self.rng = self.backend.default_rng(seed)
        init_rng = numpy.random.default_rng(seed)  # same initial weights on every backend
        n_cls = c.num_classes or 0
        h_dim = c.hidden_dims[-1] if c.hidden_dims else c.input_dim + n_cls
        self.encoder = MLP([c.input_dim + n_cls, *c.hidden_dims], c.activation, init_rng, self.backend,
                           c.dtype, final_activation=c.activation, init=c.init)
        head_init = init_for("identity", c.init)
        self.mu_head = Dense(h_dim, c.latent_dim, init_rng, self.backend, c.dtype, head_init)
        self.logvar_head = Dense(h_dim, c.latent_dim, init_rng, self.backend, c.dtype, head_init)
        self.decoder = MLP([c.latent_dim + n_cls, *reversed(c.hidden_dims), c.input_dim],
                           c.activation, init_rng, self.backend, c.dtype, init=c.init)
        extra = []
        if c.learn_variance:
            start = c.obs_logvar if c.min_obs_logvar is None else max(c.obs_logvar, c.min_obs_logvar)
            extra.append(("decoder.logvar", numpy.full(c.input_dim, start, dtype=self.dtype)))
        parts = [("encoder", self.encoder), ("mu", self.mu_head), ("logvar", self.logvar_head),
                 ("decoder", self.decoder)]
        self.params, self.grads = pack_parameters(parts, extra, self.backend, c.dtype)
        self.beta = c.beta   # the KL weight; train_step scales it by the warm-up of each step
        self.buffers = Buffers(self.xp, self.dtype)
        self._cache = None

    # ---------------------------------------------------------- the objective
    def loss(self, x, y=None, eps=None, target=None, check=True, beta=None):
        """Forward pass: the batch-mean negative ELBO (or IWAE bound) in nats per example.

        x: (N, input_dim) in the model's dtype (converted if not); y: labels
        (N,) for a conditional model; eps: (N, latent_dim), or
        (iwae_k, N, latent_dim), drawn from ``self.rng`` when None; target:
        what the decoder must reconstruct, x itself unless denoising; beta:
        the KL weight of this pass (``self.beta`` when None).
        Returns ``{"loss", "recon", "kl"}`` as 0-d arrays (``float()`` reads them).
        """
        c, ops, buf = self.config, self.backend.ops, self.buffers
        beta = float(self.beta if beta is None else beta)     # a Python float keeps float32 float32
        x = as_images(self, x, check)
        target = x if target is None else as_images(self, target, check, like=x, name="target")
        n, k, dim = x.shape[0], c.iwae_k, c.latent_dim
        onehot = onehot_labels(self, y, n)
        eps = as_eps(self, eps, n, check)
        h = self.encoder.forward(with_labels(self, x, onehot, "x_in"))              # (N, H)
        mu = self.mu_head.forward(h)                                                # (N, M)
        logvar = self.logvar_head.forward(h)                                        # (N, M)
        if k == 1:
            z, kl = ops.reparam_kl_forward(mu, logvar, eps, z=buf("z", mu.shape), kl=buf("kl", (n,)))
        else:
            z, reparam_cache = reparameterize(mu, logvar, eps)                      # (K, N, M)
            kl = kl_divergence(mu, logvar)
        out = self.decoder.forward(with_labels(self, z.reshape(-1, dim), onehot, "z_in"))     # (K N, D)
        nll, dout, dobs_logvar = observation.nll_and_grad(self, repeat_rows(self, target, k), out,
                                                            1.0 / n if k == 1 else 1.0)        # (K N,)
        cache = dict(mu=mu, logvar=logvar, eps=eps, z=z, onehot=onehot, beta=beta, n=n, dout=dout,
                     dobs_logvar=dobs_logvar)
        if k > 1:
            cache["log_w"] = iwae.log_weights(-nll.reshape(k, n), z, logvar, eps, beta)      # (K, N)
            cache["reparam"] = reparam_cache
            loss = -iwae.bound(cache["log_w"]).mean()
        elif c.free_bits > 0:
            kl_term, active = free_bits_kl(mu, logvar, c.free_bits)
            cache["kl_weight"] = (beta / n) * active.astype(self.dtype)               # (M,): 0 below the floor
            loss = nll.mean() + beta * kl_term
        else:
            cache["kl_weight"] = self.dtype.type(beta / n)
            loss = (nll + beta * kl).mean()
        self._cache = cache
        return {"loss": loss, "recon": nll.mean(), "kl": kl.mean()}

    def backward(self):
        """Fill ``self.grads`` with dL/dparam for the last ``loss`` call (same eps)."""
        if self._cache is None:
            raise MiniVAEError("backward() needs a forward pass first: call vae.loss(x) before vae.backward()")
        c, xp, ops, buf, k = self.config, self.xp, self.backend.ops, self.buffers, self._cache
        mu, logvar, eps, n = k["mu"], k["logvar"], k["eps"], k["n"]
        dout = k["dout"]                                                            # from the loss's fused op
        if c.iwae_k > 1:
            dlog_w = -iwae.normalized_weights(k["log_w"]) / n                       # (K, N): dL/dlog w
            s = -dlog_w.reshape(-1, 1)                                              # dL/d(-log p(x|z)) per row
            dout_s = xp.multiply(dout, s, out=buf("dout_w", dout.shape))
            if c.learn_variance:
                self.grads["decoder.logvar"][...] = observation.weighted_logvar_grad(self, s, dout)
            dout = dout_s
        elif c.learn_variance:
            self.grads["decoder.logvar"][...] = k["dobs_logvar"]
        dz = self.decoder.backward(dout)                                            # (K N, M [+ C])
        if k["onehot"] is not None:                                                 # the labels get no gradient
            dz_z = buf("dz", (dz.shape[0], c.latent_dim))
            xp.copyto(dz_z, dz[:, :c.latent_dim])
            dz = dz_z
        if c.iwae_k == 1:
            dmu, dlogvar = ops.reparam_kl_backward(dz, mu, logvar, eps, k["kl_weight"], dmu=buf("dmu", mu.shape),
                                                   dlogvar=buf("dlogvar", mu.shape))
        else:
            dz, dlogvar_direct = iwae.prior_posterior_backward(dlog_w, dz.reshape(k["z"].shape), k["z"], k["beta"])
            dmu, dlogvar = reparameterize_backward(dz, k["reparam"])
            dlogvar = dlogvar + dlogvar_direct
        hidden = bool(c.hidden_dims)
        dh = self.mu_head.backward(dmu, need_dx=hidden)
        dh_logvar = self.logvar_head.backward(dlogvar, need_dx=hidden)
        if hidden:
            dh += dh_logvar                                                         # h feeds both heads
            self.encoder.backward(dh, need_dx=False)
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

        The KL weight of the step is beta times the batch's warm-up fraction.
        Returns the loss dict and the KL weight used (``beta``).
        """
        beta = self.beta * batch.warmup
        out = self.loss(batch.x, y=batch.y, target=batch.target, check=False, beta=beta)
        self.backward()
        optimizers["vae"].step(self.grads)
        self.apply_constraints()
        return {**out, "beta": beta}

    def eval_step(self, batch):
        """The objective on a held-out batch at the full KL weight: ``{"loss", "recon", "kl"}``."""
        return self.loss(batch.x, y=batch.y, target=batch.target, check=False)

    def check_data(self, x, y=None, name="x"):
        """Validate (and move to this backend) a dataset fit will train or evaluate on."""
        x = as_images(self, x, check=True, name=name)
        if self.config.conditional or y is not None:
            onehot_labels(self, y, x.shape[0])              # DataError / ConfigError for bad labels
        return x

    def apply_constraints(self):
        """After each optimizer step (``train_step`` calls it): a learned log-variance stays >=
        ``min_obs_logvar``. Without a floor, the variance of pixels that are always 0 (MNIST's
        border) shrinks by about lr per Adam step and their likelihood grows without bound; the
        loss and gradient are the unconstrained model's (projected gradient descent)."""
        observation.apply_floor(self)
        return self

    def init_output_bias(self, x, floor=1e-4):
        """Start the decoder at the data's per-pixel marginal: its output bias from training images x.

        Bernoulli: b_j = logit(clip(mean_n x_nj, floor, 1 - floor)), so that
        sigmoid(b_j) is pixel j's mean intensity; Gaussian: b_j = mean_n x_nj.
        With the small initial weights of the last layer, the first
        reconstructions are then the mean image rather than grey (a common
        trick, e.g. in Burda et al.'s code). Returns self.
        """
        mean_image = self.xp.asarray(as_images(self, x).mean(axis=0, dtype="float64"))
        self.decoder.layers[-1].params["b"][...] = observation.link(self, mean_image, floor)
        return self

    # -------------------------------------------------------------- inference
    def decoder_input(self, z, y=None):
        """What the decoder reads: z, or [z, onehot(y)] for a conditional VAE (N, latent_dim + C)."""
        z = self.backend.asarray(z, dtype=self.dtype)
        return with_labels(self, z, onehot_labels(self, y, z.shape[0]))

    def encode(self, x, y=None):
        """(mu, logvar) of q(z|x), each (N, latent_dim)."""
        x = as_images(self, x)
        h = self.encoder.predict(with_labels(self, x, onehot_labels(self, y, x.shape[0])))
        return self.mu_head.predict(h), self.logvar_head.predict(h)

    def decode(self, z, y=None):
        """The decoder's mean: pixel probabilities (Bernoulli) or means (Gaussian), (N, input_dim)."""
        return observation.mean(self, self.decoder.predict(self.decoder_input(as_latents(self, z), y)))

    def reconstruct(self, x, y=None):
        """decode(mu(x)): the reconstruction at the posterior mean."""
        return self.decode(self.encode(x, y)[0], y)

    def sample(self, n, y=None):
        """n images decoded from z ~ p(z) = N(0, I) (for label(s) y if conditional)."""
        n = positive_int("n", n)
        if y is not None and not self.config.conditional:
            raise ConfigError("sample(y=...) needs a conditional VAE (num_classes=C); this one is unconditional")
        z = self.rng.standard_normal((n, self.config.latent_dim), dtype=self.dtype)
        return self.decode(z, y)

    def interpolate(self, x_a, x_b, steps=10, y=None):
        """Decode z_t = (1 - t) mu(x_a) + t mu(x_b) for t = 0 .. 1 in ``steps`` steps: (steps, input_dim)."""
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 2:
            raise ConfigError(f"steps must be an integer >= 2, got {steps!r}")
        xs = as_images(self, self.xp.stack([self.backend.asarray(x_a, dtype=self.dtype).reshape(-1),
                                            self.backend.asarray(x_b, dtype=self.dtype).reshape(-1)]))
        mu = self.encode(xs, None if y is None else self.xp.asarray([y, y]))[0]
        t = self.xp.linspace(0, 1, steps, dtype=self.dtype)[:, None]
        return self.decode((1 - t) * mu[0] + t * mu[1], y)

    def kl_per_dim(self, x, y=None, batch_size=1000):
        """The data-averaged KL of each latent dimension: (latent_dim,), in nats."""
        return diagnostics.kl_per_dim(self, x, y, batch_size)

    def active_units(self, x, y=None, threshold=0.01, batch_size=1000):
        """Number of active latent units (Burda et al. 2015): Cov_x(E_q[z_u]) > threshold."""
        return diagnostics.active_units(self, x, y, threshold, batch_size)

    def log_likelihood(self, x, k=5000, batch_size=100, y=None, seed=None, chunk_elems=2**22):
        """Importance-sampled estimate of log p(x) per example, (N,) in nats (:func:`minivae.diagnostics.log_likelihood`)."""
        return diagnostics.log_likelihood(self, x, k, batch_size, y, seed, chunk_elems)

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
                f"backend={self.backend.name!r})")
