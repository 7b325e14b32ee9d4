"""Posterior-collapse diagnostics: the KL of each latent dimension and the active units.

A latent dimension u is *active* (Burda, Grosse & Salakhutdinov 2015, sec. 5.2) when

    A_u = Cov_x( E_{q(z|x)}[z_u] ) = Var_x( mu_u(x) ) > threshold   (0.01),

i.e. when the encoder's mean moves with the input. A collapsed dimension has
q(z_u|x) = p(z_u) for every x: its mean is constant (A_u = 0) and its KL,

    KL_u = E_x[ 1/2 (mu_u^2 + sigma_u^2 - log sigma_u^2 - 1) ],

is 0. Both are read from the encoder alone (no sampling).

Also the importance-sampled estimate of log p(x) (:func:`log_likelihood`),
the yardstick of a trained VAE's density.
"""
from __future__ import annotations

import math

from ..kl import kl_per_dim as _kl_per_dim
from ..errors import ConfigError, positive_int
from ..likelihoods import LOG_2PI
from ..logsumexp import logsumexp


def latent_diagnostics(vae, x, y=None, threshold=0.01, batch_size=1000):
    """Per-dimension KL and activity of ``vae``'s encoder on x (N, input_dim).

    Returns a dict of host NumPy arrays and numbers: ``kl_per_dim`` (D,) nats,
    ``activity`` (D,) = Var_x(mu_u), ``active`` (D,) bool, ``active_units``
    (int), ``kl`` (their sum, nats per example), ``threshold``.
    Agrees with ``vae.kl_per_dim`` and ``vae.active_units``.
    """
    xp, to_np = vae.xp, vae.backend.to_numpy
    x = vae.as_images(x)
    mus, kl_sum = [], 0
    for xb, yb in _batched(x, y, batch_size):
        mu, logvar = vae.encode(xb, yb)
        mus.append(mu)
        kl_sum = kl_sum + _kl_per_dim(mu, logvar).astype("float64").sum(axis=0)
    activity = to_np(xp.concatenate(mus).astype("float64").var(axis=0))
    kl = to_np(kl_sum) / x.shape[0]
    active = activity > threshold
    return {"kl_per_dim": kl, "activity": activity, "active": active, "active_units": int(active.sum()),
            "kl": float(kl.sum()), "threshold": threshold}


def _batched(x, y, batch_size):
    for s in range(0, x.shape[0], batch_size):
        yield x[s:s + batch_size], None if y is None else y[s:s + batch_size]


def kl_per_dim(vae, x, y=None, batch_size=1000):
    """The data-averaged KL of each latent dimension of ``vae`` on x: (latent_dim,), in nats."""
    x = vae.as_images(x)
    total = vae.xp.zeros(vae.config.latent_dim, dtype="float64")
    for xb, yb in _batched(x, y, batch_size):
        total += _kl_per_dim(*vae.encode(xb, yb)).sum(axis=0)
    return total / x.shape[0]


def active_units(vae, x, y=None, threshold=0.01, batch_size=1000):
    """Number of active latent units (Burda et al. 2015): Cov_x(E_q[z_u]) > threshold."""
    x = vae.as_images(x)
    mu = vae.xp.concatenate([vae.encode(xb, yb)[0] for xb, yb in _batched(x, y, batch_size)])
    return int((mu.astype("float64").var(axis=0) > threshold).sum())


def log_likelihood(vae, x, k=5000, batch_size=100, y=None, seed=None, chunk_elems=2**22, progress=None):
    """Importance-sampled estimate of log p(x) per example, (N,) in nats.

        log p(x) ~ log 1/k sum_i p(x, z_i) / q(z_i|x),   z_i ~ q(z|x)

    (the k-sample IWAE bound, tight as k grows), with log p(z) / q(z|x) of the
    model's own prior and posterior (flows, learned priors). Computed ``batch_size``
    examples and a chunk of samples at a time, so memory stays bounded
    (about ``chunk_elems`` floats per chunk), and merged through a
    running log-sum-exp. ``seed`` (None: ``vae.rng``) seeds the samples.
    ``progress``: called as ``progress(done, total)`` (images done, images in
    all) after each batch, e.g. a progress bar's update; None costs nothing.
    """
    k = positive_int("k (number of importance samples)", k)
    batch_size = positive_int("batch_size", batch_size)
    xp, c = vae.xp, vae.config
    rng = vae.rng if seed is None else vae.backend.default_rng(seed)
    x = vae.as_images(x)
    out = []
    for xb, yb in _batched(x, y, batch_size):
        nb = xb.shape[0]
        onehot = vae.labels.onehot(yb, nb)
        h = vae.encoder.predict(vae.encoder_input(xb, onehot))          # (nb [+ C pseudo-inputs], H)
        kc = max(1, min(k, chunk_elems // (nb * c.input_dim)))
        running = xp.full(nb, -xp.inf, dtype="float64")
        for s in range(0, k, kc):
            eps = vae.latent.posterior.noise(rng, (min(kc, k - s), nb), vae.dtype)
            z, kl = vae.latent.sample_kl(h, eps)                           # (kc, nb, M), log q - log p (kc, nb)
            dec = vae.decoder.predict(vae.labels.append(z.reshape(-1, c.code_size), onehot))
            ll = vae.observation.log_likelihood(xb, dec.reshape(*z.shape[:-1], -1))       # (kc, nb)
            log_w = (ll - kl).astype("float64")
            running = xp.logaddexp(running, logsumexp(log_w, axis=0))
        out.append(running - math.log(k))
        if progress is not None:
            progress(min(x.shape[0], len(out) * batch_size), x.shape[0])
    return xp.concatenate(out)



def mutual_information(vae, x, y=None, seed=0):
    """The mutual information I_q(x; z) of the encoder's joint q(x, z) = p_data(x) q(z|x), in nats.

        I = E_x E_q(z|x) [ log q(z|x) ] - E_q(z) [ log q(z) ],   q(z) = 1/N sum_n q(z|x_n)

    estimated with one z_n ~ q(z|x_n) per image and the aggregate posterior
    q(z) taken as the mixture of the N posteriors of x (the estimator of
    Hoffman & Johnson 2016, used by He et al. 2019 to watch posterior
    collapse). It lies in [0, log N]: log N is the most N images can tell
    apart, so use N of a few thousand. It is what beta KL takes away and what
    InfoVAE adds back. Diagonal Gaussian posteriors (no flow) only.
    """
    c = vae.config
    if c.latent != "gaussian" or c.posterior != "diagonal" or c.flow:
        raise ConfigError("mutual_information needs a diagonal Gaussian posterior without a flow (latent='gaussian', "
                          f"posterior='diagonal'); got latent={c.latent!r}, posterior={c.posterior!r}, flow={c.flow!r}")
    x = vae.as_images(x)
    n = x.shape[0]
    if n < 2:
        raise ConfigError(f"mutual_information needs at least 2 images (it is at most log N), got {n}")
    mu, logvar = (a.astype("float64") for a in vae.encode(x, y))
    eps = vae.backend.default_rng(seed).standard_normal(mu.shape)
    z = mu + vae.xp.exp(0.5 * logvar) * eps
    log_q_zx = -0.5 * (eps * eps + logvar + LOG_2PI).sum(axis=1)          # log q(z_n|x_n)
    return float((log_q_zx - _aggregate_log_density(vae.xp, z, mu, logvar)).mean())


def _aggregate_log_density(xp, z, mu, logvar, rows=64):
    """log q(z_r) = log 1/N sum_n N(z_r; mu_n, diag(exp(logvar_n))), by direct differences in row chunks.

    Not the GEMM expansion of :func:`minivae.mixture.mixture_log_prob`: a
    posterior with tiny variances (log sigma^2 of -40 is reachable) makes
    z^2 / sigma^2 and 2 z mu / sigma^2 huge and their difference pure rounding.
    """
    inv_var, n = xp.exp(-logvar), z.shape[0]
    const = -0.5 * (logvar.sum(axis=1) + z.shape[1] * LOG_2PI) - math.log(n)     # (N,)
    out = []
    for s in range(0, n, rows):
        d = z[s:s + rows, None, :] - mu[None]                                          # (rows, N, M)
        out.append(logsumexp(const - 0.5 * (d * d * inv_var).sum(axis=2), axis=1))
    return xp.concatenate(out)
