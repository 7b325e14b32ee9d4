"""The VAE decoder's observation model p(x|z) as objects: Bernoulli logits, or Gaussian means with a variance
that is fixed, learned per pixel, or output by the decoder network.

The decoder outputs one number per pixel (a Bernoulli's logit, or a
Gaussian's mean), or two (mean, log sigma^2) for ``variance="network"``.
Each class (the contract: :class:`minivae.models.parts.Observation`) gives
the negative log-likelihood of a batch and its gradient in one fused
backend op (``ops.bernoulli_nll_grad``, ``ops.gaussian_nll_grad``), the
mean image and its inverse (``link``), and owns its parameters (a per-pixel
``logvar``: ``decoder.logvar`` in the VAE) and their floor. Their reference is
:mod:`minivae.likelihoods`, the lecture's functions.
"""
from __future__ import annotations

import math
import numbers

import numpy

from ..activations import sigmoid, softplus
from ..errors import ConfigError, finite_number
from ..iwae import bernoulli_log_likelihood_eval
from ..likelihoods import LOG_2PI, gaussian_log_likelihood
from .parts import Observation

LIKELIHOODS = ("bernoulli", "gaussian")
#: a Gaussian decoder's variance: one fixed number, learned per pixel, or an output of the decoder network
VARIANCES = ("fixed", "pixel", "network")
#: the fields of :class:`minivae.models.vae_config.VAEConfig` that define p(x|z)
OBSERVATION_FIELDS = ("likelihood", "variance", "learn_variance", "obs_logvar", "min_obs_logvar")


class Bernoulli(Observation):
    """p(x_d|z) = Bernoulli(sigmoid(l_d)): the decoder outputs logits l; -log p = sum_d softplus(l_d) - x_d l_d."""

    def nll_and_grad(self, target, out, scale, buf):
        dout, nll = buf("dout", out.shape), buf("nll", out.shape[:1])
        self.backend.ops.bernoulli_nll_grad(target, out, scale, dlogits=dout, nll=nll, work=buf("work", out.shape))
        return nll, dout

    def log_likelihood(self, x, out):
        return bernoulli_log_likelihood_eval(x, out)

    def mean(self, out):
        """sigmoid(logits): pixel probabilities."""
        return sigmoid(out)

    def link(self, mean_image, floor=1e-4):
        """logit(clip(p, floor, 1 - floor))."""
        p = self.xp.clip(mean_image, floor, 1 - floor)
        return self.xp.log(p) - self.xp.log1p(-p)


class Gaussian(Observation):
    """p(x_d|z) = N(mean_d, sigma^2), log sigma^2 = ``obs_logvar`` fixed: the decoder outputs the means.

        -log p(x|z) = 1/2 sum_d [ (x_d - mean_d)^2 / sigma^2 + log sigma^2 + log 2 pi ]
    """

    def __init__(self, input_dim, backend, dtype, obs_logvar=0.0):
        super().__init__(input_dim, backend, dtype)
        self.obs_logvar = float(obs_logvar)

    @property
    def logvar(self):
        """log sigma^2: a number here, the learned (D,) parameter for a per-pixel variance."""
        return self.obs_logvar

    def nll_and_grad(self, target, out, scale, buf):
        dout, nll = buf("dout", out.shape), buf("nll", out.shape[:1])
        _, _, dlogvar = self.backend.ops.gaussian_nll_grad(target, out, self.logvar, scale, dmean=dout, nll=nll,
                                                           work=buf("work", out.shape))
        self._cache = (dout, dlogvar)
        return nll, dout

    def log_likelihood(self, x, out):
        return gaussian_log_likelihood(x, out, self.logvar)

    def mean(self, out):
        return out

    def link(self, mean_image, floor=1e-4):
        return mean_image


class GaussianPixelVariance(Gaussian):
    """A Gaussian whose log sigma_d^2 is a learned parameter per pixel, ``logvar`` (D,), kept >= ``floor`` if set.

    Its gradient, from the fused op's d nll / d logvar (scaled), or for rows
    weighed by s_r (IWAE's normalized weights over N):

        dL/dlogvar_d = sum_r s_r 1/2 (1 - (x_rd - mean_rd)^2 / sigma_d^2),

    read from dmean = (mean - x) / sigma^2 (scale 1) as (x - mean)^2 / sigma^2 = sigma^2 dmean^2.
    """

    def __init__(self, input_dim, backend, dtype, obs_logvar=0.0, floor=None):
        super().__init__(input_dim, backend, dtype, obs_logvar)
        self.floor = floor
        start = obs_logvar if floor is None else max(obs_logvar, floor)
        self.params = {"logvar": numpy.full(input_dim, start, dtype=dtype)}          # packed by the VAE

    @property
    def logvar(self):
        return self.params["logvar"]

    def backward(self, weights=None):
        dmean, dlogvar = self._cache
        if weights is None:
            self.grads["logvar"][...] = dlogvar
        else:                                                               # weights (R, 1), dmean (R, D)
            var = self.xp.exp(self.params["logvar"])
            self.grads["logvar"][...] = 0.5 * (weights.sum() - var * self.xp.einsum("r,rd,rd->d", weights[:, 0],
                                                                                      dmean, dmean))
        return self.grads

    def apply_constraints(self):
        """log sigma^2 >= floor, a projection after each step. Without a floor, the variance of pixels that are
        always 0 (MNIST's border) shrinks by about lr per Adam step and their likelihood grows without bound."""
        if self.floor is not None:
            lv = self.params["logvar"]
            self.xp.maximum(lv, lv.dtype.type(self.floor), out=lv)
        return self


class GaussianNetworkVariance(Observation):
    """The decoder outputs (mean, raw) per pixel (HY-673's concrete VAE); log sigma^2 = ``logvar(raw)``.

        nll = 1/2 sum_d [ r_d^2 / sigma_d^2 + log sigma_d^2 + log 2 pi ],  r = x - mean
        d nll / d mean = -r / sigma^2,   d nll / d log sigma^2 = 1/2 (1 - r^2 / sigma^2)
    """

    outputs = 2

    def __init__(self, input_dim, backend, dtype, floor=None):
        super().__init__(input_dim, backend, dtype)
        self.floor = floor

    def logvar(self, raw):
        """log sigma^2 = raw, or with a floor f the soft floor

            log sigma^2 = f + softplus(raw - f)   (> f, smooth, = raw far above f),

        whose derivative sigmoid(raw - f) never vanishes entirely (a hard clip would freeze a pixel at the floor).
        Without a floor, a pixel the data always sets to the same value (MNIST's border) has r = 0, so
        d nll / d log sigma^2 = 1/2 > 0 for ever: its variance shrinks and the likelihood grows without
        bound (the model's known instability; lesson 16 shows it)."""
        return raw if self.floor is None else self.floor + softplus(raw - self.floor)

    def nll_and_grad(self, target, out, scale, buf):
        """The equations above times sigmoid(raw - f) = 1 - exp(-softplus(raw - f)) for the soft floor's
        d log sigma^2 / d raw. Every (R, D) array is a kept buffer, and r lives in dout's first half until it
        becomes the gradient there."""
        xp, d, floor = self.xp, self.input_dim, self.floor
        dout, nll = buf("dout", out.shape), buf("nll", out.shape[:1])
        mean, raw = out[:, :d], out[:, d:]
        r, dlv, t = dout[:, :d], dout[:, d:], buf("net_work", mean.shape)
        if floor is None:
            lv = raw
        else:
            f = out.dtype.type(floor)
            sp, lv = buf("net_softplus", mean.shape), buf("net_logvar", mean.shape)
            xp.subtract(raw, f, out=sp)                            # a = raw - f
            xp.abs(sp, out=t)
            xp.negative(t, out=t)
            xp.exp(t, out=t)
            xp.log1p(t, out=t)                                     # log(1 + e^-|a|)
            xp.maximum(sp, 0, out=sp)
            sp += t                                                # softplus(a)
            xp.add(sp, f, out=lv)                                  # log sigma^2 = f + softplus(a)
        xp.subtract(target, mean, out=r)                           # r
        xp.negative(lv, out=t)
        xp.exp(t, out=t)                                           # 1 / sigma^2
        t *= r                                                     # r / sigma^2
        xp.multiply(t, r, out=dlv)                                 # q = r^2 / sigma^2
        xp.sum(dlv, axis=1, out=nll)
        nll += lv.sum(axis=1)
        nll += d * LOG_2PI
        nll *= 0.5
        xp.multiply(t, -scale, out=r)                              # d nll / d mean, scaled
        xp.subtract(1, dlv, out=dlv)
        dlv *= 0.5 * scale                                         # d nll / d log sigma^2, scaled
        if floor is not None:
            xp.negative(sp, out=t)
            xp.expm1(t, out=t)
            t *= -1                                                # sigmoid(a) = 1 - exp(-softplus(a))
            dlv *= t
        return nll, dout

    def log_likelihood(self, x, out):
        d = self.input_dim
        return gaussian_log_likelihood(x, out[..., :d], self.logvar(out[..., d:]))

    def mean(self, out):
        return out[:, :self.input_dim]

    def link(self, mean_image, floor=1e-4):
        return mean_image


def observation_options(likelihood, variance, learn_variance, obs_logvar, min_obs_logvar):
    """The observation model's config fields, validated (ConfigError naming the field) and normalized:
    ``learn_variance=True`` is the old spelling of ``variance="pixel"`` (the two always agree after this)."""
    if likelihood not in LIKELIHOODS:
        raise ConfigError(f"likelihood must be one of {LIKELIHOODS}, got {likelihood!r}")
    if variance not in VARIANCES:
        raise ConfigError(f"variance must be one of {VARIANCES}, got {variance!r}")
    if learn_variance and variance == "network":
        raise ConfigError("learn_variance=True (one variance per pixel) and variance='network' (the decoder "
                          "outputs it) are two different models: choose one")
    variance = "pixel" if learn_variance else variance
    if variance != "fixed" and likelihood != "gaussian":
        raise ConfigError(f"a learned variance (variance={variance!r}) needs likelihood='gaussian'")
    obs_logvar = finite_number("obs_logvar (log sigma^2 of the Gaussian decoder)", obs_logvar)
    if min_obs_logvar is not None:
        if variance == "fixed":
            raise ConfigError("min_obs_logvar is a floor on a learned variance: it needs variance='pixel' "
                              "(learn_variance=True) or variance='network'")
        if not (isinstance(min_obs_logvar, numbers.Real) and math.isfinite(min_obs_logvar)):
            raise ConfigError(f"min_obs_logvar must be a finite number (log sigma^2) or None, got {min_obs_logvar!r}")
        min_obs_logvar = float(min_obs_logvar)
    return dict(likelihood=likelihood, variance=variance, learn_variance=variance == "pixel", obs_logvar=obs_logvar,
                min_obs_logvar=min_obs_logvar)


def make_observation(config, backend, dtype):
    """The observation model of a :class:`minivae.models.vae_config.VAEConfig`."""
    c = config
    if c.likelihood == "bernoulli":
        return Bernoulli(c.input_dim, backend, dtype)
    if c.variance == "network":
        return GaussianNetworkVariance(c.input_dim, backend, dtype, floor=c.min_obs_logvar)
    if c.variance == "pixel":
        return GaussianPixelVariance(c.input_dim, backend, dtype, obs_logvar=c.obs_logvar, floor=c.min_obs_logvar)
    return Gaussian(c.input_dim, backend, dtype, obs_logvar=c.obs_logvar)
