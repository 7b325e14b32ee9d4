"""Categorical latents: q(z|x) = prod_m Categorical(pi_m(x)), relaxed by Gumbel-softmax (HY-673 lecture 10).

z = mu + sigma eps has no discrete counterpart: a categorical sample is an
argmax, whose derivative is 0 almost everywhere. Jang et al. (2017) and
Maddison et al. (2017) relax it: with logits a (N, M, K) from the encoder,
log pi = log_softmax(a), Gumbel noise g = -log(-log u) (u ~ U(0, 1), drawn
like eps) and a temperature tau,

    y = softmax((log pi + g) / tau)          (-> one_hot(argmax(log pi + g)) as tau -> 0)

is a differentiable stand-in for the one-hot code; the decoder reads the
M K entries of y. The KL to the uniform prior is in closed form,

    KL(q || U) = sum_m sum_k pi_mk log(K pi_mk).

With ``straight_through`` the decoder reads one_hot(argmax y) and the
gradient is the relaxed one (biased: it is not the derivative of the loss
that was computed). The temperature follows tau = max(tau_min, tau_0 exp(-r t))
(set by :meth:`minivae.VAE.train_step`). The math is :mod:`minivae.gumbel`.

For the k-sample log-likelihood the model is the discrete one: hard samples
z ~ q (the Gumbel-max trick) with log q(z|x) = sum_m log pi_{m, z_m}.
"""
from __future__ import annotations

from ..errors import ConfigError
from ..gumbel import (categorical_kl, categorical_kl_backward, gumbel_max_sample, gumbel_noise, gumbel_softmax,
                      gumbel_softmax_backward, straight_through)
from ..layers import Dense, init_for
from .parts import Posterior
from ..softmax import log_softmax


class CategoricalPosterior(Posterior):
    """M categorical variables of K classes; one head ``logits.W/b`` of M K outputs."""

    def __init__(self, config, h_dim, rng, backend, dtype):
        c = config
        self.m, self.k, self.xp = c.latent_dim, c.categories, backend.xp
        self.heads = {"logits": Dense(h_dim, self.m * self.k, rng, backend, dtype, init_for("identity", c.init))}
        self.tau, self.straight_through = c.temperature, c.straight_through
        self.closed_form = True

    def noise(self, rng, lead, dtype):
        """u ~ U(0, 1) of shape lead + (M, K), the source of the Gumbel noise."""
        return rng.random(self.noise_shape(lead), dtype=dtype)

    def noise_shape(self, lead):
        return tuple(lead) + (self.m, self.k)

    def _logits(self, s):
        return s["logits"].reshape(-1, self.m, self.k)                            # (N, M, K), a view

    def closed_form_kl(self, s, u, buf):
        """The relaxed code y (N, M K) (one-hot forward if straight-through) and KL(q || uniform) (N,)."""
        a = self._logits(s)
        y, cache = gumbel_softmax(a, gumbel_noise(u), self.tau)
        z = straight_through(y) if self.straight_through else y
        return z.reshape(a.shape[0], -1), categorical_kl(a), (a, cache)

    def closed_form_backward(self, dz, kl_weight, cache, buf):
        """dL/dlogits: through the relaxation (also for straight-through: its surrogate) and the KL."""
        a, c = cache
        da = gumbel_softmax_backward(dz.reshape(a.shape), c)
        da += categorical_kl_backward(kl_weight, a)
        return {"logits": da.reshape(a.shape[0], -1)}

    def sample(self, s, u):
        """Hard codes z ~ q(z|x) by Gumbel-max for u (S, N, M, K): z (S, N, M K) and log q(z|x) (S, N)."""
        a = self._logits(s)
        z = gumbel_max_sample(self.xp.broadcast_to(a, u.shape), gumbel_noise(u))  # (S, N, M, K) one-hot
        log_q = (z * log_softmax(a)).sum(axis=(-2, -1))
        return z.reshape(*z.shape[:-2], -1), log_q, None

    def sample_backward(self, dz, dlog_q, cache):
        raise ConfigError("a categorical posterior is trained through its relaxation (closed-form KL); the Monte "
                          "Carlo terms of hard samples have no reparameterized gradient")

    def point(self, s):
        """The most probable code one_hot(argmax_k pi_mk), (N, M K)."""
        a = self._logits(s)
        return (a == a.max(axis=-1, keepdims=True)).astype(a.dtype).reshape(a.shape[0], -1)

    def probabilities(self, s):
        """pi = softmax(logits): (N, M, K)."""
        return self.xp.exp(log_softmax(self._logits(s)))
