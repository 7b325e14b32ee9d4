"""Posterior-collapse diagnostics: the KL of each latent dimension and the active units.

A latent dimension u is *active* (Burda, Grosse & Salakhutdinov 2015, sec. 5.2) when

    A_u = Cov_x( E_{q(z|x)}[z_u] ) = Var_x( mu_u(x) ) > threshold   (0.01),

i.e. when the encoder's mean moves with the input. A collapsed dimension has
q(z_u|x) = p(z_u) for every x: its mean is constant (A_u = 0) and its KL,

    KL_u = E_x[ 1/2 (mu_u^2 + sigma_u^2 - log sigma_u^2 - 1) ],

is 0. Both are read from the encoder alone (no sampling).
"""
from __future__ import annotations

from .kl import kl_per_dim


def latent_diagnostics(vae, x, y=None, threshold=0.01, batch_size=1000):
    """Per-dimension KL and activity of ``vae``'s encoder on x (N, input_dim).

    Returns a dict of host NumPy arrays and numbers: ``kl_per_dim`` (D,) nats,
    ``activity`` (D,) = Var_x(mu_u), ``active`` (D,) bool, ``active_units``
    (int), ``kl`` (their sum, nats per example), ``threshold``.
    Agrees with ``vae.kl_per_dim`` and ``vae.active_units``.
    """
    xp, to_np = vae.xp, vae.backend.to_numpy
    x = vae._as_x(x)
    mus, kl_sum = [], 0
    for s in range(0, x.shape[0], batch_size):
        mu, logvar = vae.encode(x[s:s + batch_size], None if y is None else y[s:s + batch_size])
        mus.append(mu)
        kl_sum = kl_sum + kl_per_dim(mu, logvar).astype("float64").sum(axis=0)
    activity = to_np(xp.concatenate(mus).astype("float64").var(axis=0))
    kl = to_np(kl_sum) / x.shape[0]
    active = activity > threshold
    return {"kl_per_dim": kl, "activity": activity, "active": active, "active_units": int(active.sum()),
            "kl": float(kl.sum()), "threshold": threshold}
