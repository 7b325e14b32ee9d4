"""What a trained two-layer VAE does besides its objective: encode, decode, sample, the k-sample log-likelihood
and the active units of each stochastic layer.

Mixed into :class:`minivae.TwoLayerVAE` (as :mod:`minivae.models.vae_inference` is into the VAE); it reads
its ``graph`` (with ``train=False``: the layers' ``predict``, no cache, so calling these between ``loss``
and ``backward`` changes nothing), its networks and heads, ``observation``, ``rng`` and ``config``.
"""
from __future__ import annotations

import math

from ..errors import ConfigError, positive_int
from ..logsumexp import logsumexp


class TwoLayerInference:
    """The inference methods of :class:`minivae.TwoLayerVAE` (the module docstring says what they read)."""

    def encode(self, x):
        """(mu1, logvar1) of q(z1|x), each (N, latent_dim)."""
        h1 = self.q1.predict(self.as_images(x))
        return tuple(head.predict(h1) for head in self.q1_heads)

    def encode2(self, z1):
        """(mu2, logvar2) of q(z2|z1) for z1 (N, latent_dim), each (N, latent_dim2)."""
        h2 = self.q2.predict(self._codes(z1, self.config.latent_dim, "z1"))
        return tuple(head.predict(h2) for head in self.q2_heads)

    def prior1(self, z2):
        """(mu_p, logvar_p) of p(z1|z2) for z2 (N, latent_dim2), each (N, latent_dim)."""
        hp = self.p1.predict(self._codes(z2, self.config.latent_dim2, "z2"))
        return tuple(head.predict(hp) for head in self.p1_heads)

    def decode(self, z1):
        """The mean of p(x|z1): pixel probabilities (Bernoulli) or means (Gaussian), (N, input_dim)."""
        return self.observation.mean(self.decoder.predict(self._codes(z1, self.config.latent_dim, "z1")))

    def reconstruct(self, x):
        """decode(mu1(x)): the reconstruction at the centre of q(z1|x)."""
        return self.decode(self.encode(x)[0])

    def sample(self, n):
        """n images: z2 ~ N(0, I), z1 ~ p(z1|z2), then the mean of p(x|z1) (ancestral sampling, ``self.rng``)."""
        n, xp = positive_int("n", n), self.xp
        z2 = self.rng.standard_normal((n, self.config.latent_dim2), dtype=self.dtype)
        mu_p, logvar_p = self.prior1(z2)
        eps = self.rng.standard_normal(mu_p.shape, dtype=self.dtype)
        return self.decode(mu_p + xp.exp(0.5 * logvar_p) * eps)

    def _codes(self, z, m, name):
        z = self.backend.asarray(z, dtype=self.dtype)
        if z.ndim != 2 or z.shape[1] != m:
            raise ConfigError(f"{name} has shape {tuple(z.shape)}; expected (N, {m})")
        return z

    def log_likelihood(self, x, k=5000, batch_size=100, y=None, seed=None, chunk_elems=2**22, progress=None):
        """Importance-sampled estimate of log p(x) per example, (N,) in nats:

            log p(x) ~ log 1/k sum_i p(x, z1_i, z2_i) / q(z1_i, z2_i|x),   z1_i ~ q(z1|x), z2_i ~ q(z2|z1_i)

        (the k-sample bound, tight as k grows), ``batch_size`` images and a chunk of samples at a time
        (about ``chunk_elems`` floats per chunk) merged by a running log-sum-exp; ``seed`` (None:
        ``self.rng``) seeds eps1 and eps2; ``progress(done, total)`` after each batch of images; ``y``: None
        (the model is unconditional; the argument is the VAE's).
        """
        if y is not None:
            raise ConfigError("log_likelihood(y=...): a two-layer VAE is unconditional; pass no labels")
        k, batch_size = positive_int("k (number of importance samples)", k), positive_int("batch_size", batch_size)
        xp, c = self.xp, self.config
        rng = self.rng if seed is None else self.backend.default_rng(seed)
        x, out = self.as_images(x), []
        for s in range(0, x.shape[0], batch_size):
            xb = x[s:s + batch_size]
            nb = xb.shape[0]
            kc = max(1, min(k, chunk_elems // (nb * c.input_dim)))
            running = xp.full(nb, -xp.inf, dtype="float64")
            for j in range(0, k, kc):
                kk = min(kc, k - j)
                eps1 = rng.standard_normal((kk, nb, c.latent_dim), dtype=self.dtype)
                eps2 = rng.standard_normal((kk, nb, c.latent_dim2), dtype=self.dtype)
                g = self.graph(xb, eps1, eps2, train=False)
                ll = self.observation.log_likelihood(xb, g["out"].reshape(kk, nb, -1))      # (kk, nb)
                running = xp.logaddexp(running, logsumexp((ll - g["kl"]).astype("float64"), axis=0))
            out.append(running - math.log(k))
            if progress is not None:
                progress(min(x.shape[0], s + nb), x.shape[0])
        return xp.concatenate(out)

    def layer_activity(self, x, samples=20, seed=0, batch_size=1000):
        """The activity of each unit of each layer (Burda et al. 2015, sec. 5.2): host arrays (M1,) and (M2,),

            A_u = Var_x( E_q[z_u | x] ):   E[z1|x] = mu1(x),   E[z2|x] = E_{z1 ~ q(z1|x)}[ mu2(z1) ]

        the second estimated with ``samples`` draws of z1 per image (generator ``seed``).
        """
        xp, to_np = self.xp, self.backend.to_numpy
        rng = self.backend.default_rng(seed)
        x = self.as_images(x)
        means1, means2 = [], []
        for s in range(0, x.shape[0], batch_size):
            mu1, logvar1 = self.encode(x[s:s + batch_size])
            eps = rng.standard_normal((samples, *mu1.shape), dtype=self.dtype)
            z1 = (mu1 + xp.exp(0.5 * logvar1) * eps).reshape(-1, mu1.shape[1])
            means1.append(mu1)
            means2.append(self.encode2(z1)[0].reshape(samples, mu1.shape[0], -1).mean(axis=0))
        return tuple(to_np(xp.concatenate(m).astype("float64").var(axis=0)) for m in (means1, means2))

    def active_units(self, x, threshold=0.01, samples=20, seed=0):
        """The active units of each layer, (of z1, of z2): units whose activity (:meth:`layer_activity`) > threshold."""
        return tuple(int((a > threshold).sum()) for a in self.layer_activity(x, samples, seed))
