"""The approximate posterior q(z|x): the encoder's heads, the sample z and log q(z|x) (HY-673 lecture 10).

The encoder's last hidden layer h feeds linear heads:

* ``diagonal``: mu, logvar;  z = mu + sigma * eps,  sigma = exp(logvar / 2).
* ``full``: also the M(M-1)/2 strictly-lower entries of L;
  z = (L ⊙ L_mask + diag(sigma)) eps + mu  (:mod:`minivae.full_covariance`).
* ``flow="planar"``: also K planar steps' (u, w, b) per example (amortized:
  the encoder outputs them, as in Rezende & Mohamed's experiments, so each
  x gets its own flow); z_K = f_K(... f_1(z_0)) after the diagonal sample z_0,
  log q_K(z_K|x) = log q_0(z_0|x) - sum_k log|det df_k/dz| (:mod:`minivae.planar`).
* ``flow="iaf"``: K inverse autoregressive steps (Kingma et al. 2016) whose
  MADEs are model parameters (``flow.{t}.W`` ...), shared by every x, with
  the encoder's last hidden layer h as their context (s["context"] = h);
  log q_K = log q_0 - sum_t sum_i log sigma_t,i (:mod:`minivae.iaf`).

Two ways to a KL term. ``closed_form``: z and KL(q || N(0, I)) in closed
form (the backend's fused op for the diagonal case). ``sample``: z and
log q(z|x) per sample for the Monte Carlo estimate log q(z|x) - log p(z)
(learned priors, flows, IWAE). With eps held fixed, the Gaussian's

    log q(z|x) = -1/2 sum_j (eps_j^2 + logvar_j + log 2 pi)

depends on the parameters only through logvar (d/dlogvar_j = -1/2), for the
full covariance too (log|det C| = sum_j log sigma_j: C is triangular).
"""
from __future__ import annotations

import math

import numpy

from ..full_covariance import full_kl, full_kl_backward, full_reparameterize, full_reparameterize_backward, tril_size
from ..iaf import MADE, iaf_flow, iaf_flow_backward
from ..layers import Dense, init_for
from ..likelihoods import LOG_2PI
from ..planar import planar_flow, planar_flow_backward
from ..reparam import reparameterize, reparameterize_backward
from .parts import Posterior


class GaussianPosterior(Posterior):
    """q(z|x): a diagonal or full-covariance Gaussian, optionally followed by K planar or IAF flow steps.

    Head parameters: ``mu.W/b``, ``logvar.W/b``, ``L.W/b`` (full covariance)
    and ``flow.W/b`` (planar flow: per step u (M), w (M), b (1)); an IAF's
    MADEs are ``flow.{t}.W, V, b, Wm, bm, Ws, bs`` (:class:`minivae.iaf.MADE`).
    """

    def __init__(self, config, h_dim, rng, backend, dtype):
        c, m = config, config.latent_dim
        init = init_for("identity", c.init)
        self.latent_dim, self.backend, self.xp = m, backend, backend.xp
        self.full = c.posterior == "full"
        self.steps = c.flow_steps if c.flow else 0
        self.iaf = [MADE(m, h_dim, c.iaf_hidden, rng, self.xp, dtype, reverse=t % 2 == 1)
                    for t in range(self.steps)] if c.flow == "iaf" else []
        self.heads = {"mu": Dense(h_dim, m, rng, backend, dtype, init),
                      "logvar": Dense(h_dim, m, rng, backend, dtype, init)}
        if self.full:                                  # L = 0 at the start: the diagonal posterior, then learned
            self.heads["L"] = Dense(h_dim, tril_size(m), rng, backend, dtype, init)
            for a in self.heads["L"].params.values():
                a[...] = 0
        if self.steps and not self.iaf:
            self.heads["flow"] = Dense(h_dim, self.steps * (2 * m + 1), rng, backend, dtype, init)
            self._identity_flow(rng, backend)
        self.closed_form = not self.steps

    def _identity_flow(self, rng, backend):
        """Start every flow step at the identity: W = 0, and biases w ~ N(0, I/M), u = log(e - 1) w / ||w||^2,
        b = 0, so that m(w^T u) = 0 and u_hat = 0 (the model starts as the diagonal VAE; then learns)."""
        k, m, p = self.steps, self.latent_dim, self.heads["flow"].params
        w = rng.standard_normal((k, m)) / math.sqrt(m)
        u = math.log(math.e - 1) * w / (w * w).sum(axis=1, keepdims=True)
        p["W"][...] = 0
        p["b"][...] = backend.asarray(numpy.concatenate([u.ravel(), w.ravel(), numpy.zeros(k)]), dtype=p["b"].dtype)

    def parts(self):
        """The heads, then the IAF's MADEs as ``flow.{t}``."""
        return super().parts() + [(f"flow.{t}", made) for t, made in enumerate(self.iaf)]

    def stats(self, h, train=True):
        """The heads' outputs; with an IAF also its context, h itself (``s["context"]``)."""
        s = super().stats(h, train)
        if self.iaf:
            s["context"] = h
        return s

    def stats_backward(self, dstats, need_dx=True):
        """dL/dh through the heads, plus the IAF's dL/dcontext (h feeds both)."""
        dh = super().stats_backward(dstats, need_dx)
        if self.iaf and need_dx:
            dh += dstats["context"]
        return dh

    def _iaf_steps(self):
        return [(made.params, made.masks) for made in self.iaf]

    def noise(self, rng, lead, dtype):
        """eps ~ N(0, I) of shape lead + (M,) (``lead``: (N,) or (S, N)).""" 
        return rng.standard_normal(self.noise_shape(lead), dtype=dtype)

    def noise_shape(self, lead):
        return tuple(lead) + (self.latent_dim,)

    def flow_parameters(self, raw):
        """The flow head's (R, K (2M + 1)) output as u, w (R, K, M) and b (R, K): views."""
        k, m = self.steps, self.latent_dim
        return (raw[:, :k * m].reshape(-1, k, m), raw[:, k * m:2 * k * m].reshape(-1, k, m), raw[:, 2 * k * m:])

    # -------------------------------------------------------- closed form KL
    def closed_form_kl(self, s, eps, buf):
        """z (N, M) and KL(q(z|x) || N(0, I)) (N,) for eps (N, M), and the backward's cache."""
        mu, logvar = s["mu"], s["logvar"]
        if self.full:
            z, cache = full_reparameterize(mu, logvar, s["L"], eps[None])
            return z[0], full_kl(mu, logvar, s["L"]), (s, cache)
        n = mu.shape[0]
        z, kl = self.backend.ops.reparam_kl_forward(mu, logvar, eps, z=buf("z", mu.shape), kl=buf("kl", (n,)))
        return z, kl, (s, eps)

    def closed_form_backward(self, dz, kl_weight, cache, buf):
        """{"mu", "logvar"[, "L"]} gradients of z and kl_weight * KL (a scalar, or (M,) per dimension)."""
        s, c = cache
        mu, logvar = s["mu"], s["logvar"]
        if self.full:
            dmu, dlogvar, dl = full_reparameterize_backward(dz[None], c)
            kmu, klogvar, kl_l = full_kl_backward(kl_weight, mu, logvar, s["L"])
            return {"mu": dmu + kmu, "logvar": dlogvar + klogvar, "L": dl + kl_l}
        dmu, dlogvar = self.backend.ops.reparam_kl_backward(dz, mu, logvar, c, kl_weight, dmu=buf("dmu", mu.shape),
                                                            dlogvar=buf("dlogvar", mu.shape))
        return {"mu": dmu, "logvar": dlogvar}

    # ----------------------------------------------------- Monte Carlo terms
    def sample(self, s, eps):
        """z and log q(z|x) for eps (N, M) or (S, N, M): z of eps's shape, log q (N,) or (S, N); and a cache."""
        squeeze = eps.ndim == 2
        e = eps[None] if squeeze else eps                                          # (S, N, M)
        mu, logvar = s["mu"], s["logvar"]
        log_q = -0.5 * ((e * e).sum(axis=-1) + logvar.sum(axis=-1) + self.latent_dim * LOG_2PI)   # (S, N)
        if self.full:
            z, c = full_reparameterize(mu, logvar, s["L"], e)
        else:
            z, c = reparameterize(mu, logvar, e)
        fc = None
        if self.iaf:                                                               # log q_K = log q_0 - log det
            z, log_det, fc = iaf_flow(z, s["context"], self._iaf_steps())
            log_q = log_q - log_det
        elif self.steps:
            z, log_det, fc = planar_flow(z, *self.flow_parameters(s["flow"]))
            log_q = log_q - log_det
        cache = (squeeze, c, fc)
        return (z[0], log_q[0], cache) if squeeze else (z, log_q, cache)

    def sample_backward(self, dz, dlog_q, cache):
        """Gradients of the heads' outputs from dL/dz and dL/dlog q(z|x) (shapes of ``sample``'s outputs)."""
        squeeze, c, fc = cache
        if squeeze:
            dz, dlog_q = dz[None], dlog_q[None]
        d = {}
        if self.iaf:
            dz, d["context"], grads = iaf_flow_backward(dz, -dlog_q, fc)
            for made, g in zip(self.iaf, grads):
                for k, v in g.items():
                    made.grads[k][...] = v
        elif self.steps:
            dz, du, dw, db = planar_flow_backward(dz, -dlog_q, fc)
            d["flow"] = self.xp.concatenate([du.reshape(du.shape[0], -1), dw.reshape(dw.shape[0], -1), db], axis=1)
        if self.full:
            dmu, dlogvar, d["L"] = full_reparameterize_backward(dz, c)
        else:
            dmu, dlogvar = reparameterize_backward(dz, c)                          # summed over the S samples
        d["mu"], d["logvar"] = dmu, dlogvar - 0.5 * dlog_q.sum(axis=0)[:, None]
        return d

    def point(self, s):
        """The z a reconstruction decodes: the mean mu, pushed through the flow (eps = 0) if there is one."""
        if not self.steps:
            return s["mu"]
        if self.iaf:
            return iaf_flow(s["mu"][None], s["context"], self._iaf_steps())[0][0]
        return planar_flow(s["mu"][None], *self.flow_parameters(s["flow"]))[0][0]
