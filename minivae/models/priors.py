"""The prior p(z): N(0, I), a learned mixture of Gaussians, or the VampPrior (HY-673 lecture 10, learned priors).

With a learned prior the KL term has no closed form; the VAE uses the
Monte Carlo estimate at its sample z ~ q(z|x),

    KL(q(z|x) || p(z)) ~ log q(z|x) - log p(z),

and the gradient of -log p(z) reaches z (then the encoder) and the prior's
own parameters.

* ``standard``: log p(z) = -1/2 sum_j (z_j^2 + log 2 pi).
* ``mog``: p(z) = sum_c pi_c N(z; m_c, diag(exp(v_c))) with learned means
  ``prior.means`` (C, M), log-variances ``prior.logvars`` (C, M) and weights
  pi = softmax(``prior.logits``) (C,).
* ``vamp`` (Tomczak & Welling 2018): p(z) = 1/C sum_c q(z | u_c), the
  encoder's own posteriors of C learned pseudo-inputs ``prior.pseudo_inputs``
  (C, D). The VAE runs the pseudo-inputs through the encoder with the data
  (one pass over N + C rows), so the gradient of log p(z) flows back through
  the encoder into the pseudo-inputs.

The mixtures' density and its backward are :mod:`minivae.mixture` (GEMMs).
Every prior implements :class:`minivae.models.parts.Prior`: ``params``/``grads``
(packed by the VAE into its flat buffer), ``log_prob(z, stats)`` -> (log p
(…,), cache), ``backward(dlogp, cache)`` -> (dz, dstats) and ``sample(n, rng,
stats)``; ``stats`` is the pseudo-inputs' (mu, logvar) for the VampPrior and
None otherwise.
"""
from __future__ import annotations

import math

import numpy

from ..errors import DataError
from ..likelihoods import LOG_2PI
from ..mixture import mixture_log_prob, mixture_log_prob_backward
from ..softmax import log_softmax
from .parts import Prior


class StandardNormal(Prior):
    """p(z) = N(0, I)."""

    name = "standard"
    components = 0

    def __init__(self, latent_dim, xp, dtype):
        self.latent_dim, self.xp, self.dtype = latent_dim, xp, dtype
        self.params, self.grads = {}, {}

    def log_prob(self, z, stats=None):
        """log p(z) = -1/2 sum_j (z_j^2 + log 2 pi): z (…, M) -> (…,)."""
        return -0.5 * ((z * z).sum(axis=-1) + self.latent_dim * LOG_2PI), z

    def backward(self, dlogp, z):
        """d log p / dz = -z: returns (dz, None)."""
        return -dlogp[..., None] * z, None

    def sample(self, n, rng, stats=None):
        return rng.standard_normal((n, self.latent_dim), dtype=self.dtype)


class UniformCategorical(Prior):
    """p(z) = prod_m 1/K for M one-hot categorical variables of K classes: log p(z) = -M log K."""

    name = "standard"
    components = 0

    def __init__(self, latent_dim, categories, xp, dtype):
        self.m, self.k, self.xp, self.dtype = latent_dim, categories, xp, dtype
        self.params, self.grads = {}, {}

    def log_prob(self, z, stats=None):
        return self.xp.full(z.shape[:-1], -self.m * math.log(self.k), dtype=z.dtype), None

    def backward(self, dlogp, cache):
        raise NotImplementedError("the uniform prior is constant: categorical latents use the closed-form KL")

    def sample(self, n, rng, stats=None):
        """n one-hot codes (n, M K), each variable's class uniform."""
        c = rng.integers(0, self.k, (n, self.m))
        return (c[..., None] == self.xp.arange(self.k)).astype(self.dtype).reshape(n, -1)


class _Mixture(Prior):
    """The mixture density shared by the MoG prior and the VampPrior: log p(z) over rows of z (…, M)."""

    def _log_prob(self, z, means, logvars, log_weights):
        logp, cache = mixture_log_prob(z.reshape(-1, self.latent_dim), means, logvars, log_weights)
        return logp.reshape(z.shape[:-1]), cache

    def _backward(self, dlogp, cache, shape):
        dz, dmeans, dlogvars, dlog_weights = mixture_log_prob_backward(dlogp.reshape(-1), cache)
        return dz.reshape(shape), dmeans, dlogvars, dlog_weights

    def _sample(self, n, rng, means, logvars, weights):
        """c ~ Categorical(weights), then z ~ N(m_c, diag(exp(v_c)))."""
        xp = self.xp
        u = rng.random(n)
        c = xp.minimum(xp.searchsorted(xp.cumsum(weights), u), len(weights) - 1)
        eps = rng.standard_normal((n, self.latent_dim), dtype=self.dtype)
        return means[c] + xp.exp(0.5 * logvars[c]) * eps


class MixturePrior(_Mixture):
    """p(z) = sum_c softmax(logits)_c N(z; means_c, diag(exp(logvars_c))), every part learned.

    Initialisation: means ~ N(0, I) (spread over the region N(0, I) covers),
    unit variances and equal weights. The weights' gradient goes through
    log pi = log_softmax(logits): dlogits = dlog_pi - pi sum_c dlog_pi_c.
    """

    name = "mog"

    def __init__(self, latent_dim, components, rng, xp, dtype):
        self.latent_dim, self.components, self.xp, self.dtype = latent_dim, components, xp, dtype
        shape = (components, latent_dim)
        self.params = {"means": rng.standard_normal(shape).astype(dtype), "logvars": numpy.zeros(shape, dtype),
                       "logits": numpy.zeros(components, dtype)}
        self.grads = {}

    def log_prob(self, z, stats=None):
        p = self.params
        return self._log_prob(z, p["means"], p["logvars"], log_softmax(p["logits"]))

    def backward(self, dlogp, cache):
        dz, dmeans, dlogvars, dlog_pi = self._backward(dlogp, cache, dlogp.shape + (self.latent_dim,))
        g, pi = self.grads, self.xp.exp(log_softmax(self.params["logits"]))
        g["means"][...], g["logvars"][...] = dmeans, dlogvars
        g["logits"][...] = dlog_pi - pi * dlog_pi.sum()
        return dz, None

    def sample(self, n, rng, stats=None):
        p = self.params
        return self._sample(n, rng, p["means"], p["logvars"], self.xp.exp(log_softmax(p["logits"])))


class VampPrior(_Mixture):
    """p(z) = 1/C sum_c N(z; mu(u_c), diag(exp(logvar(u_c)))): the encoder's posteriors of C pseudo-inputs.

    The pseudo-inputs start as grey images around 0.5 with a little noise
    (:meth:`minivae.VAE.init_pseudo_inputs` sets them to training images);
    ``stats`` = (mu_c, logvar_c) is the encoder's output for them, computed by
    the VAE in the same pass as the data, and ``backward`` returns its
    gradient (dmu_c, dlogvar_c) for the encoder's backward.
    """

    name = "vamp"

    def __init__(self, latent_dim, components, input_dim, rng, xp, dtype):
        self.latent_dim, self.components, self.xp, self.dtype = latent_dim, components, xp, dtype
        u = 0.5 + 0.01 * rng.standard_normal((components, input_dim))
        self.params, self.grads = {"pseudo_inputs": u.astype(dtype)}, {}
        self._log_c = -math.log(components)

    def init_from_data(self, x, rng):
        """Set the pseudo-inputs to C distinct rows of x (N >= C), chosen by rng."""
        if x.shape[0] < self.components:
            raise DataError(f"the VampPrior's {self.components} pseudo-inputs need at least as many training "
                            f"images; got {x.shape[0]}")
        idx = rng.permutation(x.shape[0])[:self.components]
        self.params["pseudo_inputs"][...] = x[idx]

    def log_prob(self, z, stats):
        mu_c, logvar_c = stats
        log_w = self.xp.full(self.components, self._log_c, dtype=z.dtype)
        return self._log_prob(z, mu_c, logvar_c, log_w)

    def backward(self, dlogp, cache):
        dz, dmu_c, dlogvar_c, _ = self._backward(dlogp, cache, dlogp.shape + (self.latent_dim,))
        return dz, (dmu_c, dlogvar_c)

    def sample(self, n, rng, stats):
        mu_c, logvar_c = stats
        return self._sample(n, rng, mu_c, logvar_c, self.xp.full(self.components, 1.0 / self.components))


def make_prior(config, rng, xp, dtype):
    """The prior of a :class:`minivae.models.vae_config.VAEConfig`."""
    c = config
    if c.prior == "mog":
        return MixturePrior(c.latent_dim, c.prior_components, rng, xp, dtype)
    if c.prior == "vamp":
        return VampPrior(c.latent_dim, c.prior_components, c.input_dim, rng, xp, dtype)
    if c.latent == "categorical":
        return UniformCategorical(c.latent_dim, c.categories, xp, dtype)
    return StandardNormal(c.latent_dim, xp, dtype)
