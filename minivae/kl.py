"""KL(q(z|x) || p(z)) for a diagonal Gaussian q and the prior p(z) = N(0, I).

Closed form (Brown VAEs part 2; COMP 432), per example, summing over the D
latent dimensions, with sigma^2 = exp(logvar):

    KL = 1/2 sum_j (mu_j^2 + sigma_j^2 - log sigma_j^2 - 1)

It is >= 0, and = 0 exactly when mu = 0 and sigma = 1 (logvar = 0).
"""
from __future__ import annotations

from .backend import array_module


def kl_per_dim(mu, logvar):
    """1/2 (mu^2 + exp(logvar) - logvar - 1), elementwise: shape of mu.

    Written with expm1(logvar) - logvar, which is >= 0 after rounding too
    (expm1(t) >= t), so the KL is never a tiny negative number.
    """
    xp = array_module(mu, logvar)
    return 0.5 * (mu * mu + (xp.expm1(logvar) - logvar))


def kl_divergence(mu, logvar):
    """KL(N(mu, sigma^2) || N(0, I)) per example: (N, D) -> (N,)."""
    return kl_per_dim(mu, logvar).sum(axis=-1)


def kl_backward(dkl, mu, logvar):
    """Gradient of the closed-form KL.

    dKL/dmu = mu,   dKL/dlogvar = (exp(logvar) - 1) / 2.

    dkl is dLoss/dKL, broadcast against mu (N, D): a scalar, (N, 1) for a
    weight per example, (D,) for a weight per dimension (free bits), or (N, D).
    Returns dmu, dlogvar of mu's shape.
    """
    xp = array_module(mu, logvar)
    dmu = dkl * mu
    dlogvar = dkl * 0.5 * (xp.exp(logvar) - 1)
    return dmu, dlogvar


def free_bits_kl(mu, logvar, lam):
    """Free-bits KL (Kingma et al. 2016) of a batch.

    With KL_j the batch mean of the per-dimension KL, the objective uses

        sum_j max(lambda, KL_j)

    so a dimension pays no KL below its floor lambda (nats). Returns the
    scalar batch objective and the per-dimension mask 1[KL_j > lambda], (D,),
    used by the subgradient: d/dmu_nj = 1[KL_j > lambda] mu_nj / N (0 where
    the floor is active), and likewise for logvar.
    """
    kl_j = kl_per_dim(mu, logvar).mean(axis=0)
    xp = array_module(kl_j)
    active = kl_j > lam
    return xp.maximum(kl_j, lam).sum(), active
