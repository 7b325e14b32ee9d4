"""What a trained VAE does besides its objective: encode, decode, reconstruct, sample, the log-likelihood, and
the latent diagnostics: the VAE's inference, one module.

The methods of :class:`minivae.VAE` are in two modules by what they touch:
its objective and training (:mod:`minivae.models.vae`: ``loss`` keeps caches
and buffers that ``backward`` reads) and its inference (here: no cache, no
kept buffer, so calling one between ``loss`` and ``backward`` changes
nothing). :class:`VAEInference` is mixed into :class:`minivae.VAE` and reads
its parts: ``encoder``, ``latent``, ``decoder``, ``observation``, ``labels``,
``params``, ``rng`` and ``buffers`` (the last only for ``encoder_input`` in training).
"""
from __future__ import annotations

from . import diagnostics
from ..errors import ConfigError, positive_int


class VAEInference:
    """The inference methods of :class:`minivae.VAE` (the module docstring says what they read)."""

    def encoder_input(self, x, onehot=None, name=None):
        """What the encoder reads: x (or [x, onehot(y)]), then the VampPrior's C pseudo-inputs (N [+ C], D)."""
        x_in = self.labels.append(x, onehot, self.buffers, name and "x_in")
        if not self.latent.pseudo:
            return x_in
        u = self.params["prior.pseudo_inputs"]
        if name is None:
            return self.xp.concatenate([x_in, u])
        out = self.buffers(name, (x_in.shape[0] + u.shape[0], x_in.shape[1]))
        out[:x_in.shape[0]], out[x_in.shape[0]:] = x_in, u
        return out

    def decoder_input(self, z, y=None):
        """What the decoder reads: z, or [z, onehot(y)] for a conditional VAE (N, latent_dim + C)."""
        z = self.backend.asarray(z, dtype=self.dtype)
        return self.labels.append(z, self.labels.onehot(y, z.shape[0]))

    def _hidden(self, x, y=None):
        x = self.as_images(x)
        return self.encoder.predict(self.labels.append(x, self.labels.onehot(y, x.shape[0])))

    def encode(self, x, y=None):
        """(mu, logvar) of q(z|x) (of the base Gaussian q_0 for a flow), each (N, latent_dim)."""
        if self.mu_head is None:
            raise ConfigError("encode gives a Gaussian's (mu, logvar); a categorical VAE's q(z|x) is its class "
                              "probabilities: use vae.code_probabilities(x)")
        h = self._hidden(x, y)
        return self.mu_head.predict(h), self.logvar_head.predict(h)

    def code_probabilities(self, x, y=None):
        """pi(x) = softmax(logits): (N, latent_dim, categories), for categorical latents."""
        if self.config.latent != "categorical":
            raise ConfigError("code_probabilities needs latent='categorical'; use encode(x) for (mu, logvar)")
        return self.latent.posterior.probabilities(self.latent.posterior.stats(self._hidden(x, y), train=False))

    def decode(self, z, y=None):
        """The decoder's mean: pixel probabilities (Bernoulli) or means (Gaussian), (N, input_dim)."""
        return self.observation.mean(self.decoder.predict(self.decoder_input(self.latent.codes(z), y)))

    def reconstruct(self, x, y=None):
        """decode(mu(x)) (for a flow: the flow of mu): the reconstruction at the posterior's centre."""
        return self.decode(self.latent.point(self._hidden(x, y)), y)

    def sample(self, n, y=None):
        """n images decoded from z ~ p(z) (for label(s) y if conditional)."""
        n = positive_int("n", n)
        if y is not None and not self.config.conditional:
            raise ConfigError("sample(y=...) needs a conditional VAE (num_classes=C); this one is unconditional")
        h_pseudo = self.encoder.predict(self.params["prior.pseudo_inputs"]) if self.latent.pseudo else None
        return self.decode(self.latent.sample_prior(n, self.rng, h_pseudo), y)

    def interpolate(self, x_a, x_b, steps=10, y=None):
        """Decode z_t = (1 - t) mu(x_a) + t mu(x_b) for t = 0 .. 1 in ``steps`` steps: (steps, input_dim)."""
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 2:
            raise ConfigError(f"steps must be an integer >= 2, got {steps!r}")
        xs = self.as_images(self.xp.stack([self.backend.asarray(x_a, dtype=self.dtype).reshape(-1),
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

    def mutual_information(self, x, y=None, seed=0):
        """I_q(x; z) in nats, estimated on the images x (:func:`minivae.models.diagnostics.mutual_information`)."""
        return diagnostics.mutual_information(self, x, y, seed)

    def log_likelihood(self, x, k=5000, batch_size=100, y=None, seed=None, chunk_elems=2**22, progress=None):
        """Importance-sampled estimate of log p(x) per example, (N,) in nats; ``progress(done, total)`` after each
        batch of images if given (:func:`minivae.models.diagnostics.log_likelihood`)."""
        return diagnostics.log_likelihood(self, x, k, batch_size, y, seed, chunk_elems, progress)

