"""The generative adversarial network, forward and backward by hand, one training step for every loss.

Generator G: z -> x_fake = tanh(MLP(z)), z ~ U(-1, 1)^noise_dim (or N(0, I)),
data scaled to [-1, 1]; discriminator (critic) D: x -> a raw score s. The
game (BLG561E notes; Goodfellow et al. 2014) alternates

    k times:  the discriminator descends its loss L_D(s_r = D(x), s_f = D(G(z)))   (theta_D fixed: G's weights)
    once:     the generator descends its loss L_G(s_f = D(G(z)))                   (D's weights fixed)

with the losses of :mod:`minivae.adversarial` (minimax, non-saturating,
LSGAN, WGAN) and, for WGAN-GP, the gradient penalty of
:mod:`minivae.gradient_penalty` on x_hat = alpha x + (1 - alpha) G(z).
WGAN's critic is kept Lipschitz by clipping every weight to [-c, c] after
each of its steps (:meth:`GAN.apply_constraints`).

Chain rule, by hand: the discriminator's step runs real and fake images as
one batch [x; G(z)] through D and back (dL_D/ds -> D.backward: D's
gradients); the generator's step goes through both networks,
dL_G/ds_f -> D.backward -> dL_G/dx_fake -> G.backward (G's gradients; D's
own gradients belong to no update: they are not computed, and are zeroed).

Images are in [0, 1] at every public boundary (``discriminator_loss``,
``generate``, ``sample``, ``discriminate``); the model scales them itself.
Parameters: ``generator.{i}.W/b`` and ``discriminator.{i}.W/b`` in one flat
buffer (``params``, ``grads``), the generator's first.
"""
from __future__ import annotations

import numpy

from .. import adversarial
from ..backend import get_backend
from ..backend.buffers import Buffers
from ..errors import ConfigError, DataError, MiniVAEError, ShapeError, positive_int
from .gan_config import GANConfig
from ..gradient_penalty import GradientPenalty, interpolate
from ..layers import MLP, pack_parameters
from .base import Model, check_finite
from ..optim import flat_view, make_optimizer


class GAN(Model):
    """A GAN with MLP generator and discriminator; options: :class:`minivae.models.gan_config.GANConfig`.

    ``seed`` seeds the initial weights and the model's own generator
    (``self.rng``: z, and WGAN-GP's alpha); ``backend``: ``"numpy"`` or ``"cupy"``.
    """

    kind = "gan"
    tuple_options = ("generator_dims", "discriminator_dims")

    def __init__(self, data_dim=784, noise_dim=96, generator_dims=(1024, 1024), discriminator_dims=(256, 256),
                 loss="ns", generator_activation="relu", discriminator_activation="leaky_relu", noise="uniform",
                 n_critic=None, clip=None, gp_lambda=None, optimizer=None, d_lr=None, init="uniform", seed=0,
                 dtype="float32", backend=None):
        self.config = c = GANConfig(
            data_dim=data_dim, noise_dim=noise_dim, generator_dims=generator_dims,
            discriminator_dims=discriminator_dims, loss=loss, generator_activation=generator_activation,
            discriminator_activation=discriminator_activation, noise=noise, n_critic=n_critic, clip=clip,
            gp_lambda=gp_lambda, optimizer=optimizer, d_lr=d_lr, init=init, dtype=dtype)
        self.seed = seed
        self.backend = get_backend(backend)
        self.xp, self.dtype = self.backend.xp, numpy.dtype(c.dtype)
        self.rng = self.backend.default_rng(seed)
        init_rng = numpy.random.default_rng(seed)              # same initial weights on every backend
        self.generator = MLP([c.noise_dim, *c.generator_dims, c.data_dim], c.generator_activation, init_rng,
                             self.backend, c.dtype, final_activation="tanh", init=c.init)
        self.discriminator = MLP([c.data_dim, *c.discriminator_dims, 1], c.discriminator_activation, init_rng,
                                 self.backend, c.dtype, init=c.init)
        self.params, self.grads = pack_parameters([("generator", self.generator),
                                                   ("discriminator", self.discriminator)], (), self.backend, c.dtype)
        self.part_params = {p: {k: v for k, v in self.params.items() if k.startswith(p + ".")}
                            for p in ("generator", "discriminator")}
        self.part_grads = {p: {k: self.grads[k] for k in names} for p, names in self.part_params.items()}
        self.penalty = GradientPenalty(self.discriminator, c.gp_lambda) if c.loss == "wgan-gp" else None
        self.buffers = Buffers(self.xp, self.dtype)
        self._cache = None

    # ---------------------------------------------------------------- inputs
    unit_interval = True            # images are in [0, 1] at the boundary (scaled to tanh's range inside)

    @property
    def image_dim(self):
        return self.config.data_dim

    def noise(self, n, out=None):
        """n draws of z from the noise distribution: (n, noise_dim), U(-1, 1) or N(0, I) (into ``out`` if given)."""
        n, m = positive_int("n", n), self.config.noise_dim
        if self.config.noise == "normal":
            return self.rng.standard_normal((n, m), dtype=self.dtype, out=out)
        z = self.rng.random((n, m), dtype=self.dtype, out=out)
        z *= 2
        z -= 1
        return z

    def _z(self, z, n, check=True):
        if z is None:                                   # a training step's z: drawn into a reused buffer
            return self.noise(n, out=self.buffers("z", (n, self.config.noise_dim)))
        z = self.backend.asarray(z, dtype=self.dtype)
        if z.ndim != 2 or z.shape[1] != self.config.noise_dim or (n is not None and z.shape[0] != n):
            want = f"({'N' if n is None else n}, {self.config.noise_dim})"
            raise ShapeError(f"z must have shape {want} (one noise vector of noise_dim={self.config.noise_dim} "
                             f"per image), got {tuple(z.shape)}")
        return check_finite("z", z) if check else z

    def _alpha(self, alpha, n, check=True):
        if alpha is None:
            return self.rng.random((n, 1), dtype=self.dtype)
        alpha = self.backend.asarray(alpha, dtype=self.dtype)
        if alpha.shape != (n, 1):
            raise ShapeError(f"alpha (WGAN-GP's interpolation weights) must have shape ({n}, 1), got {alpha.shape}")
        if check and not bool(((alpha >= 0) & (alpha <= 1)).all()):
            raise DataError("alpha must lie in [0, 1]: x_hat = alpha x + (1 - alpha) G(z) interpolates")
        return alpha

    # ---------------------------------------------------------------- losses
    def discriminator_loss(self, x, z=None, alpha=None, check=True):
        """Forward pass of the discriminator's (critic's) loss on real images x (N, data_dim) in [0, 1].

        z: (N, noise_dim), drawn when None; alpha: (N, 1), WGAN-GP's
        interpolation weights, drawn when None (other losses refuse it).
        Returns 0-d arrays: ``loss`` (with the penalty for WGAN-GP),
        ``d_real`` = mean D(x), ``d_fake`` = mean D(G(z)) (probabilities for
        minimax/ns, raw scores otherwise); for WGAN(-GP) also ``wasserstein``
        = E s_r - E s_f (the critic's estimate of W_1) and, for WGAN-GP, ``gp``.
        """
        c, xp, buf = self.config, self.xp, self.buffers
        x = self.as_images(x, check)
        n = x.shape[0]
        if alpha is not None and c.loss != "wgan-gp":
            raise ConfigError(f"alpha is WGAN-GP's interpolation weight; loss {c.loss!r} does not use it")
        x_fake = self.generator.forward(self._z(z, n, check))                    # (N, D) in [-1, 1]
        both = buf("d_in", (2 * n, c.data_dim))                                  # [x; G(z)] in D's input space
        xp.multiply(x, self.dtype.type(2), out=both[:n])
        both[:n] -= 1
        both[n:] = x_fake
        s = self.discriminator.forward(both)                                     # (2N, 1)
        loss, ds_real, ds_fake = adversarial.discriminator_loss(c.loss, s[:n], s[n:])
        ds = buf("ds", (2 * n, 1))
        ds[:n], ds[n:] = ds_real, ds_fake
        out = {"d_real": adversarial.probability(c.loss, s[:n]).mean(),
               "d_fake": adversarial.probability(c.loss, s[n:]).mean()}
        if c.wasserstein:
            out["wasserstein"] = s[:n].mean() - s[n:].mean()
        if self.penalty is not None:
            a = self._alpha(alpha, n, check)
            x_hat = interpolate(both[:n], both[n:], a, out=buf("x_hat", (n, c.data_dim)))
            out["gp"] = self.penalty.forward(x_hat)
            loss = loss + out["gp"]
        self._cache = ("discriminator", ds)
        return {"loss": loss, **out}

    def generator_loss(self, z=None, n=128, check=True):
        """Forward pass of the generator's loss on G(z); z (n, noise_dim) drawn when None.

        Returns 0-d arrays ``loss`` and ``d_fake`` = mean D(G(z)).
        """
        z = self._z(z, None if z is not None else positive_int("n", n), check)
        s_fake = self.discriminator.forward(self.generator.forward(z))           # (M, 1)
        loss, ds_fake = adversarial.generator_loss(self.config.loss, s_fake)
        self._cache = ("generator", ds_fake)
        return {"loss": loss, "d_fake": adversarial.probability(self.config.loss, s_fake).mean()}

    def backward(self, zero_other=True):
        """Fill the gradients of the part the last loss trains; zero the other part's.

        After ``discriminator_loss``: dL_D/dtheta_D (the penalty's double
        backprop added for WGAN-GP). After ``generator_loss``:
        dL_G/dtheta_G, through D's input gradient. ``zero_other=False``
        leaves the other part's grads as they were (``train_step``: each
        optimizer reads only its own part, and zeroing G's 2 M gradients
        after every critic step would cost ~3% of an iteration).
        """
        if self._cache is None:
            raise MiniVAEError("backward() needs a forward pass first: call gan.discriminator_loss(x) or "
                               "gan.generator_loss() before gan.backward()")
        part, ds = self._cache
        if part == "discriminator":
            self.discriminator.backward(ds, need_dx=False)
            if self.penalty is not None:
                self.penalty.backward()
            if zero_other:
                self._zero("generator")
        else:
            dx_fake = self.discriminator.backward(ds, need_grads=False)          # dL_G/dG(z); D's own grads unused
            self.generator.backward(dx_fake, need_dx=False)
            if zero_other:
                self._zero("discriminator")
        return self.grads

    def _zero(self, part):
        flat = flat_view(self.part_grads[part].values())
        for g in ([flat] if flat is not None else self.part_grads[part].values()):
            g[...] = 0

    # -------------------------------------------------------------- training
    def configure_optimizers(self, config):
        """One optimizer per player: the generator at ``config.lr``, the discriminator at ``d_lr`` (or lr).

        Their kind and Adam's betas are the GAN's (the paper's for its loss:
        :data:`minivae.models.gan_config.PAPER_DEFAULTS`); a different
        ``config.optimizer`` than the default is refused rather than ignored.
        """
        c = self.config
        if config.optimizer not in ("adam", c.optimizer):
            raise ConfigError(f"a GAN's optimizers are set by GAN(optimizer=...) (this one: {c.optimizer!r}), "
                              f"not by the training options' optimizer={config.optimizer!r}")
        options = {"clip_norm": config.clip_norm, **c.optimizer_options()}
        return {"discriminator": make_optimizer(c.optimizer, self.part_params["discriminator"],
                                                lr=c.d_lr or config.lr, **options),
                "generator": make_optimizer(c.optimizer, self.part_params["generator"], lr=config.lr, **options)}

    def train_step(self, batch, optimizers):
        """One discriminator (critic) step on the real batch; after every n_critic-th of them, a generator step.

        Each critic step sees a new real batch (as in Arjovsky et al.'s
        Algorithm 1); the generator's step draws as many z as the batch has
        images. Returns the step's ``d_loss``, ``d_real``, ``d_fake`` (and
        ``wasserstein``, ``gp``), and ``g_loss`` on the steps that have one.
        """
        d_opt = optimizers["discriminator"]
        out = self.discriminator_loss(batch.x, check=False)
        self.backward(zero_other=False)
        d_opt.step(self.part_grads["discriminator"])
        self.apply_constraints()
        metrics = {"d_loss": out.pop("loss"), **out}
        if d_opt.t % self.config.n_critic == 0:
            g = self.generator_loss(n=len(batch.x), check=False)
            self.backward(zero_other=False)
            optimizers["generator"].step(self.part_grads["generator"])
            metrics["g_loss"] = g["loss"]
        return metrics

    def eval_step(self, batch):
        """Both losses on held-out real images and fresh z: ``loss`` (the discriminator's), ``g_loss``, D's means."""
        out = self.discriminator_loss(batch.x, check=False)
        g = self.generator_loss(n=len(batch.x), check=False)
        return {"loss": out.pop("loss"), "g_loss": g["loss"], **out}

    def apply_constraints(self):
        """WGAN: clip every critic parameter to [-c, c] (Arjovsky et al.'s Algorithm 1, line 7). Else nothing."""
        c = self.config.clip
        if c is not None:
            flat = flat_view(self.part_params["discriminator"].values())
            for p in ([flat] if flat is not None else self.part_params["discriminator"].values()):
                self.xp.clip(p, -c, c, out=p)
        return self

    # ------------------------------------------------------------- inference
    def generate(self, z):
        """G(z) as images in [0, 1]: (N, data_dim), for z (N, noise_dim)."""
        x = self.generator.predict(self._z(z, None))
        x += 1
        x *= 0.5
        return x

    def sample(self, n):
        """n images from the generator, z drawn from the noise distribution (``self.rng``)."""
        return self.generate(self.noise(n))

    def discriminate(self, x):
        """D(x) for images x in [0, 1]: a probability (minimax, ns) or the raw score (lsgan, wgan): (N,)."""
        x = self.as_images(x)
        s = self.discriminator.predict(2 * x - 1)[:, 0]
        return adversarial.probability(self.config.loss, s)

    # ----------------------------------------------------------- checkpoints
    def architecture(self):
        """The record a checkpoint rebuilds this GAN from: its config and seed."""
        return {**self.config.to_dict(), "seed": self.seed}

    def train_defaults(self):
        """The paper's learning rate and batch size for this loss (TrainConfig options)."""
        return self.config.train_defaults()

    def __repr__(self):
        c = self.config
        return (f"GAN(loss={c.loss!r}, noise_dim={c.noise_dim}, generator_dims={c.generator_dims}, "
                f"discriminator_dims={c.discriminator_dims}, n_critic={c.n_critic}, dtype={c.dtype!r}, "
                f"backend={self.backend.name!r})")
