"""The VAE-GAN of Larsen et al. (2016), "Autoencoding beyond pixels using a learned similarity metric", by hand.

A VAE (encoder q(z|x), decoder Dec(z) = sigmoid(logits), :class:`minivae.VAE`'s
layers) whose reconstruction is measured in the features of a discriminator
D, trained as a GAN against it. With Dis_l(x) the l-th hidden layer of D
(images scaled to [-1, 1] as for :class:`minivae.GAN`), x_tilde = Dec(z),
z ~ q(z|x), and x_p = Dec(z_p), z_p ~ N(0, I), batch means throughout:

    L_prior  = KL(q(z|x) || N(0, I))                                 (closed form)
    L_llike  = -log N(Dis_l(x) | Dis_l(x_tilde), I) = 1/2 ||Dis_l(x) - Dis_l(x_tilde)||^2 + const
    L_GAN    = log D(x) + log(1 - D(x_tilde)) + log(1 - D(x_p))

and the paper's three updates, each part on its own loss:

    encoder        L_enc = L_prior + L_llike
    decoder        L_dec = gamma L_llike - L_GAN   (non-saturating: -log D(x_tilde) - log D(x_p))
    discriminator  L_dis = -L_GAN                   (the cross-entropy of real against both fakes)

The paper's option of not updating a side that wins by too much is left out:
the three updates run at every step. ``adversarial=False`` is the paper's
VAE_Dis_l: D is frozen (e.g. taken from a trained GAN, :meth:`VAEGAN.from_gan`)
and the decoder learns L_llike alone.

Backward, by hand (each line is one backward pass through a network):
D on [x; x_tilde; x_p] gives its own gradients from dL_dis/ds; with D's
weights fixed, dL_GAN,dec/ds back to the images, and dL_llike/dDis_l from
layer l back to the images; the decoder gets gamma * the second + the first
(times 2 for the scaling, times sigmoid' for its logits), and, for the
encoder, the second alone runs back through the decoder to z, then through
the reparameterization and the KL as in the VAE.
"""
from __future__ import annotations

import numpy

from ..adversarial import sigmoid, softplus
from ..errors import ConfigError, DataError, MiniVAEError, ShapeError
from ..layers import MLP, pack_parameters
from .base import Model
from ..optim import make_optimizer
from .vae import VAE
from .vaegan_config import VAEGANConfig

GROUPS = ("encoder", "decoder", "discriminator")


class VAEGAN(Model):
    """Encoder and decoder as :class:`minivae.VAE`'s (Bernoulli logits), plus an MLP discriminator.

    Options: :class:`minivae.models.vaegan_config.VAEGANConfig`.
    ``feature_layer`` l in 1..len(discriminator_dims): the hidden layer whose
    features L_llike compares (None: the last). The default is 1: with these
    MLPs and 300 CPU-seconds of training, layer 1 gave sample FID 31.9 and
    reconstruction FID 2.5 where layer 2 gave 42.5 and 3.2 (Larsen et al.'s
    convolutional D used its third of four layers). ``gamma`` >= 0 weighs L_llike
    in the decoder's loss. Parameters: the VAE's names (``encoder.*``,
    ``mu.*``, ``logvar.*``, ``decoder.*``) and ``discriminator.{i}.W/b``.
    """

    kind = "vaegan"
    unit_interval = True            # images in [0, 1]: the decoder is Bernoulli
    tuple_options = ("hidden_dims", "discriminator_dims")

    def __init__(self, input_dim=784, hidden_dims=(400,), latent_dim=20, discriminator_dims=(256, 256),
                 feature_layer=1, gamma=1.0, activation="relu", discriminator_activation="leaky_relu",
                 adversarial=True, init="uniform", seed=0, dtype="float32", backend=None):
        self.config = c = VAEGANConfig(
            input_dim=input_dim, hidden_dims=hidden_dims, latent_dim=latent_dim,
            discriminator_dims=discriminator_dims, feature_layer=feature_layer, gamma=gamma, activation=activation,
            discriminator_activation=discriminator_activation, adversarial=adversarial, init=init, dtype=dtype)
        self.vae = VAE(input_dim=c.input_dim, hidden_dims=c.hidden_dims, latent_dim=c.latent_dim,
                       likelihood="bernoulli", activation=c.activation, seed=seed, dtype=c.dtype, init=c.init,
                       backend=backend)
        self.backend, self.xp, self.dtype = self.vae.backend, self.vae.xp, self.vae.dtype
        self.seed = seed
        self.discriminator = MLP([c.input_dim, *c.discriminator_dims, 1], c.discriminator_activation,
                                 numpy.random.default_rng(seed + 1), self.backend, c.dtype, init=c.init)
        d_params, d_grads = pack_parameters([("discriminator", self.discriminator)], (), self.backend, c.dtype)
        self.params, self.grads = {**self.vae.params, **d_params}, {**self.vae.grads, **d_grads}
        self.part_params = {g: {k: v for k, v in self.params.items() if _group(k) == g} for g in GROUPS}
        self.part_grads = {g: {k: self.grads[k] for k in names} for g, names in self.part_params.items()}
        self.buffers, self._cache = self.vae.buffers, None
        self.gamma, self.feature_layer, self.adversarial = c.gamma, c.feature_layer, c.adversarial   # read often

    @property
    def rng(self):
        """The model's generator (eps, z_p, samples): the inner VAE's, so that reseeding one reseeds both."""
        return self.vae.rng

    @rng.setter
    def rng(self, rng):
        self.vae.rng = rng

    # ---------------------------------------------------------------- losses
    def loss(self, x, eps=None, z_p=None, check=True):
        """Forward pass of all three losses on images x (N, input_dim) in [0, 1].

        eps (N, latent_dim) for z = mu + sigma eps and z_p (N, latent_dim)
        ~ N(0, I) are drawn from ``self.rng`` when None. Returns 0-d arrays:
        ``encoder``, ``decoder``, ``discriminator`` (each part's loss),
        ``prior``, ``llike``, ``gan`` (L_GAN, <= 0), ``recon`` (the pixel
        Bernoulli -log p(x|z), reported, not trained on), ``d_real``,
        ``d_recon``, ``d_prior`` (mean D of x, x_tilde, x_p).
        """
        vae, ops, xp, buf = self.vae, self.backend.ops, self.xp, self.buffers
        x = self.as_images(x, check)
        n, m, dim = x.shape[0], vae.config.latent_dim, vae.config.input_dim
        eps = self._normal(eps, n, "eps", check)
        z_p = self._normal(z_p, n, "z_p", check)
        h = vae.encoder.forward(x)
        mu, logvar = vae.mu_head.forward(h), vae.logvar_head.forward(h)
        z_both = buf("z_both", (2 * n, m))                                       # [z; z_p]
        z, kl = ops.reparam_kl_forward(mu, logvar, eps, z=z_both[:n], kl=buf("kl", (n,)))
        z_both[n:] = z_p
        logits = vae.decoder.forward(z_both)                                     # (2N, D): x_tilde, x_p
        recon = ops.bernoulli_nll_grad(x, logits[:n], 1.0, dlogits=buf("dl_px", (n, dim)), nll=buf("nll", (n,)),
                                       work=buf("work", (n, dim)))[0]                # -log p(x|z), reported
        x_dec = sigmoid(logits)                                                  # images in [0, 1]
        d_in = buf("d_in", (3 * n, dim))                                         # [x; x_tilde; x_p] in [-1, 1]
        xp.multiply(x, self.dtype.type(2), out=d_in[:n])
        xp.multiply(x_dec, self.dtype.type(2), out=d_in[n:])
        d_in -= 1
        s = self.discriminator.forward(d_in)                                     # (3N, 1)
        f = self.discriminator.layers[self.feature_layer - 1].cache[1]           # Dis_l, (3N, F)
        diff = f[n:2 * n] - f[:n]                                                # Dis_l(x_tilde) - Dis_l(x)
        llike = 0.5 * (diff * diff).sum() / n
        s_x, s_t, s_p = s[:n], s[n:2 * n], s[2 * n:]
        gan = -(softplus(-s_x).sum() + softplus(s_t).sum() + softplus(s_p).sum()) / n
        g_dec = (softplus(-s_t).sum() + softplus(-s_p).sum()) / n if self.adversarial else 0.0 * gan
        prior = kl.mean()
        self._cache = dict(n=n, mu=mu, logvar=logvar, eps=eps, x_dec=x_dec, s=s, diff=diff)
        return {"encoder": prior + llike, "decoder": self.gamma * llike + g_dec, "discriminator": -gan,
                "prior": prior, "llike": llike, "gan": gan, "recon": recon.mean(),
                "d_real": sigmoid(s_x).mean(), "d_recon": sigmoid(s_t).mean(), "d_prior": sigmoid(s_p).mean()}

    def _normal(self, a, n, name, check):
        m = self.vae.config.latent_dim
        if a is None:
            return self.rng.standard_normal((n, m), dtype=self.dtype)
        a = self.backend.asarray(a, dtype=self.dtype)
        if a.shape != (n, m):
            raise ShapeError(f"{name} must have shape ({n}, {m}) (one latent vector per image), got {tuple(a.shape)}")
        if check and not bool(self.xp.isfinite(a).all()):
            raise DataError(f"{name} has non-finite values; expected finite draws of N(0, I)")
        return a

    def backward(self):
        """Fill each part's gradients with those of its own loss (encoder: L_enc, decoder: L_dec, D: L_dis)."""
        if self._cache is None:
            raise MiniVAEError("backward() needs a forward pass first: call vaegan.loss(x) before vaegan.backward()")
        c, vae, xp, buf, D = self._cache, self.vae, self.xp, self.buffers, self.discriminator
        n, s, dim = c["n"], c["s"], vae.config.input_dim
        p = sigmoid(s)                                                           # D of each row
        if self.adversarial:                                                     # dL_dis/ds -> D's own gradients
            ds = p / n
            ds[:n] -= 1.0 / n
            D.backward(ds, need_dx=False)
        else:
            for g in self.part_grads["discriminator"].values():
                g[...] = 0                                                       # frozen
        d_img = buf("d_img", (2 * n, dim))                                       # dL_dec/d[x_tilde; x_p]
        if self.adversarial:                                                     # non-saturating: (D - 1)/N
            ds_g = (p - 1) / n
            ds_g[:n] = 0
            xp.multiply(D.backward(ds_g, need_grads=False)[n:], 2, out=d_img)
        else:
            d_img[...] = 0
        df = buf("df", (3 * n, c["diff"].shape[1]))                              # dL_llike/dDis_l
        df[...] = 0
        xp.multiply(c["diff"], self.dtype.type(1.0 / n), out=df[n:2 * n])
        for layer in reversed(D.layers[:self.feature_layer]):
            df = layer.backward(df, need_grads=False)
        d_llike = buf("d_llike", (2 * n, dim))
        xp.multiply(df[n:], 2, out=d_llike)                                      # rows x_p are 0
        d_img += self.gamma * d_llike
        sig = c["x_dec"] * (1 - c["x_dec"])                                      # d x_dec / d logits
        d_img *= sig
        d_llike *= sig
        vae.decoder.backward(d_img, need_dx=False)                               # the decoder's gradients
        dz = vae.decoder.backward(d_llike, need_grads=False)[:n]                 # L_llike's path to z
        dmu, dlogvar = self.backend.ops.reparam_kl_backward(dz, c["mu"], c["logvar"], c["eps"],
                                                            self.dtype.type(1.0 / n), dmu=buf("dmu", c["mu"].shape),
                                                            dlogvar=buf("dlogvar", c["mu"].shape))
        hidden = bool(vae.config.hidden_dims)
        dh = vae.mu_head.backward(dmu, need_dx=hidden)
        dh_logvar = vae.logvar_head.backward(dlogvar, need_dx=hidden)
        if hidden:
            dh += dh_logvar
            vae.encoder.backward(dh, need_dx=False)
        return self.grads

    # -------------------------------------------------------------- training
    def configure_optimizers(self, config):
        """One optimizer per part (the discriminator's only when adversarial), each TrainConfig's kind and lr."""
        groups = GROUPS if self.adversarial else GROUPS[:2]
        return {g: make_optimizer(config.optimizer, self.part_params[g], **config.optimizer_options()) for g in groups}

    def train_step(self, batch, optimizers):
        """The paper's three updates from one forward pass: each part descends its own loss."""
        out = self.loss(batch.x, check=False)
        self.backward()
        for g, opt in optimizers.items():
            opt.step(self.part_grads[g])
        return {"loss": out["encoder"], **{k: v for k, v in out.items() if k != "encoder"}}

    def eval_step(self, batch):
        """Held-out figures: ``loss`` = the pixel -ELBO (recon + KL, Bernoulli), and the three losses' terms."""
        out = self.loss(batch.x, check=False)
        return {"loss": out["recon"] + out["prior"], "recon": out["recon"], "kl": out["prior"],
                "llike": out["llike"], "gan": out["gan"], "d_real": out["d_real"], "d_recon": out["d_recon"]}

    # ------------------------------------------------------------- inference
    def encode(self, x):
        """(mu, logvar) of q(z|x)."""
        return self.vae.encode(x)

    def decode(self, z):
        """Dec(z): pixel probabilities (N, input_dim)."""
        return self.vae.decode(z)

    def reconstruct(self, x):
        """Dec(mu(x))."""
        return self.vae.reconstruct(x)

    def sample(self, n):
        """n images Dec(z_p), z_p ~ N(0, I)."""
        return self.vae.sample(n)

    def discriminate(self, x):
        """D(x), a probability, for images x in [0, 1]: (N,)."""
        x = self.as_images(x)
        return sigmoid(self.discriminator.predict(2 * x - 1)[:, 0])

    def log_likelihood(self, x, k=5000, batch_size=100, seed=None, progress=None):
        """The k-sample log p(x) estimate under the pixel (Bernoulli) likelihood (:meth:`minivae.VAE.log_likelihood`,
        ``progress(done, total)`` after each batch)."""
        return self.vae.log_likelihood(x, k=k, batch_size=batch_size, seed=seed, progress=progress)

    # ----------------------------------------------------------- checkpoints
    def architecture(self):
        """The record a checkpoint rebuilds this VAE-GAN from: its config and seed."""
        return {**self.config.to_dict(), "seed": self.seed}

    @classmethod
    def from_gan(cls, gan, feature_layer=1, **options):
        """VAE_Dis_l: a VAE whose reconstruction is measured in the features of ``gan``'s discriminator, frozen.

        ``gan``: a :class:`minivae.GAN` or the path of its checkpoint (a VAE
        checkpoint is refused by ``GAN.load``). ``options``: the VAE's
        (hidden_dims, latent_dim, seed, ...).
        """
        from .gan import GAN
        gan = GAN.load(gan) if not isinstance(gan, GAN) else gan
        c = gan.config
        input_dim = options.pop("input_dim", c.data_dim)
        if input_dim != c.data_dim:
            raise ConfigError(f"the GAN's discriminator reads {c.data_dim} pixels, the data has {input_dim}")
        model = cls(input_dim=input_dim, discriminator_dims=c.discriminator_dims, feature_layer=feature_layer,
                    discriminator_activation=c.discriminator_activation, adversarial=False, dtype=c.dtype, **options)
        for k, v in gan.part_params["discriminator"].items():
            model.params[k][...] = model.backend.asarray(gan.backend.to_numpy(v), dtype=model.dtype)
        return model


def _group(name):
    head = name.split(".")[0]
    return {"mu": "encoder", "logvar": "encoder"}.get(head, head)
