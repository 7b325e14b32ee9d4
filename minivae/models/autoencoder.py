"""A plain deterministic autoencoder with the VAE's MLP sizes, forward and backward by hand.

CSCI 1470's contrast to the VAE: the same encoder and decoder (default
784-400-20, mirrored), but the code is a point, z = Enc(x), with no sampling
and no KL term, so nothing asks the codes to fill N(0, I). x (N, input_dim)
-> encoder MLP (ReLU hidden layers, linear output) -> z (N, latent_dim) ->
decoder MLP (hidden sizes reversed) -> Bernoulli logits or Gaussian means
x_hat. ``loss`` is the batch mean, in nats per example, of the
reconstruction term alone,

    L = 1/N sum_n -log p(x_n | z_n),   z_n = Enc(x_n)

Bernoulli: sum_d softplus(l_d) - x_d l_d (cross-entropy with logits);
Gaussian: the squared error 1/2 ||x - x_hat||^2 plus the constant D/2 log 2 pi
(unit variance), so both read in nats like the VAE's reconstruction term.
``backward`` is the chain rule through decoder then encoder: dL/dx_hat from
the fused observation op, dz = decoder.backward(dx_hat), encoder.backward(dz).

Its "samples" decode z ~ N(0, I), the VAE's prior, which this model never
saw: they show what the KL term buys (HY-673, CSCI 1470's "empty pockets").
Parameters: ``encoder.{i}.W/b``, ``decoder.{i}.W/b`` (y = x @ W + b).
"""
from __future__ import annotations

import numpy

from ..backend import get_backend
from ..backend.buffers import Buffers
from ..errors import ConfigError, MiniVAEError, positive_int
from ..layers import MLP, pack_parameters
from ..optim import make_optimizer
from .autoencoder_config import AutoencoderConfig
from .base import Model
from .observation import Bernoulli, Gaussian


class Autoencoder(Model):
    """A deterministic autoencoder, z = Enc(x), x_hat = Dec(z); see the module docstring for the math.

    ``seed`` seeds the initial weights and ``self.rng`` (the N(0, I) codes of
    ``sample``); ``backend``: ``"numpy"`` or ``"cupy"``.
    """

    kind = "ae"
    tuple_options = ("hidden_dims",)

    def __init__(self, input_dim=784, hidden_dims=(400,), latent_dim=20, likelihood="bernoulli", activation="relu",
                 init="uniform", seed=0, dtype="float32", backend=None):
        self.config = c = AutoencoderConfig(input_dim=input_dim, hidden_dims=hidden_dims, latent_dim=latent_dim,
                                            likelihood=likelihood, activation=activation, init=init, dtype=dtype)
        self.seed, self.backend = seed, get_backend(backend)
        self.xp, self.dtype = self.backend.xp, numpy.dtype(c.dtype)
        self.rng = self.backend.default_rng(seed)
        init_rng = numpy.random.default_rng(seed)       # same initial weights on every backend
        self.encoder = MLP([c.input_dim, *c.hidden_dims, c.latent_dim], c.activation, init_rng, self.backend,
                           c.dtype, init=c.init)
        self.decoder = MLP([c.latent_dim, *reversed(c.hidden_dims), c.input_dim], c.activation, init_rng,
                           self.backend, c.dtype, init=c.init)
        self.params, self.grads = pack_parameters([("encoder", self.encoder), ("decoder", self.decoder)], (),
                                                  self.backend, c.dtype)
        self.observation = (Bernoulli(c.input_dim, self.backend, self.dtype) if c.likelihood == "bernoulli" else
                            Gaussian(c.input_dim, self.backend, self.dtype, obs_logvar=0.0))        # p(x|z)
        self.buffers = Buffers(self.xp, self.dtype)
        self._cache = None

    # ---------------------------------------------------------- the objective
    def loss(self, x, check=True, target=None):
        """Forward: ``{"loss", "recon"}`` (0-d arrays, equal: no other term), the batch mean of -log p(x|Enc(x)).
        x, target (x unless denoising): (N, input_dim)."""
        x = self.as_images(x, check)
        target = x if target is None else self.as_images(target, check, like=x, name="target")
        z = self.encoder.forward(x)                                                 # (N, M)
        out = self.decoder.forward(z)                                               # (N, D) logits or means
        nll, dout = self.observation.nll_and_grad(target, out, 1.0 / x.shape[0], self.buffers)   # (N,), dL/dout
        self._cache = dout
        recon = nll.mean()
        return {"loss": recon, "recon": recon}

    def backward(self):
        """Fill ``self.grads`` for the last ``loss`` call: dz = Dec^T(dL/dout), then the encoder's grads."""
        if self._cache is None:
            raise MiniVAEError("backward() needs a forward pass first: call ae.loss(x) before ae.backward()")
        dz = self.decoder.backward(self._cache)                                     # (N, M): dL/dz
        self.encoder.backward(dz, need_dx=False)
        return self.grads

    # ------------------------------------------------------------- training
    def configure_optimizers(self, config):
        """``{"ae": TrainConfig's optimizer over every parameter}``."""
        return {"ae": make_optimizer(config.optimizer, self.params, **config.optimizer_options())}

    def train_step(self, batch, optimizers):
        """Loss, backward, one optimizer step; returns ``{"loss", "recon"}``."""
        out = self.loss(batch.x, check=False, target=batch.target)
        self.backward()
        optimizers["ae"].step(self.grads)
        return out

    def eval_step(self, batch):
        """The reconstruction loss on a held-out batch."""
        return self.loss(batch.x, check=False, target=batch.target)

    # -------------------------------------------------------------- inference
    def encode(self, x):
        """The codes z = Enc(x), (N, latent_dim)."""
        return self.encoder.predict(self.as_images(x))

    def decode(self, z):
        """Images from codes z (N, latent_dim): pixel probabilities (Bernoulli) or means (Gaussian)."""
        z = self.backend.asarray(z, dtype=self.dtype)
        if z.ndim != 2 or z.shape[1] != self.config.latent_dim:
            raise ConfigError(f"z has shape {tuple(z.shape)}; expected (N, {self.config.latent_dim})")
        return self.observation.mean(self.decoder.predict(z))

    def reconstruct(self, x):
        """decode(encode(x)), (N, input_dim)."""
        return self.decode(self.encode(x))

    def sample(self, n):
        """n images decoded from z ~ N(0, I) (``self.rng``): the VAE's prior, which nothing here trained for."""
        z = self.rng.standard_normal((positive_int("n", n), self.config.latent_dim), dtype=self.dtype)
        return self.decode(z)

    def interpolate(self, x_a, x_b, steps=10):
        """Decode z_t = (1 - t) Enc(x_a) + t Enc(x_b) for t = 0 .. 1 in ``steps`` steps: (steps, input_dim)."""
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 2:
            raise ConfigError(f"steps must be an integer >= 2, got {steps!r}")
        z = self.encode(self.xp.stack([self.backend.asarray(x_a, dtype=self.dtype).reshape(-1),
                                       self.backend.asarray(x_b, dtype=self.dtype).reshape(-1)]))
        t = self.xp.linspace(0, 1, steps, dtype=self.dtype)[:, None]
        return self.decode((1 - t) * z[0] + t * z[1])

    def reconstruction_nll(self, x, batch_size=1000):
        """-log p(x | Enc(x)) per image, (N,) in nats, ``batch_size`` images at a time (deterministic)."""
        x, b = self.as_images(x), positive_int("batch_size", batch_size)
        return self.xp.concatenate([-self.observation.log_likelihood(x[s:s + b], self.decoder.predict(
            self.encoder.predict(x[s:s + b]))) for s in range(0, x.shape[0], b)])

    # ------------------------------------------------------------ checkpoints
    def architecture(self):
        """The record a checkpoint rebuilds this autoencoder from: its options and seed."""
        return {**self.config.to_dict(), "seed": self.seed}

    def __repr__(self):
        return f"Autoencoder({', '.join(f'{k}={v!r}' for k, v in self.config.to_dict().items())})"
