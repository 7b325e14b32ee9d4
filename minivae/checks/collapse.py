"""Checks of posterior collapse (lesson 9): the free-bits KL and the count of active units."""
from __future__ import annotations

import numpy as np

from ..kl import free_bits_kl
from .compare import SHAPES, _call, _case, _compare, _gauss_inputs, _report, _rng


# ----------------------------------------------- lesson 9: posterior collapse
def check_free_bits_kl(student_fn):
    """``student_fn(mu, logvar, lam) -> scalar``: sum_j max(lam, KL_j), KL_j the batch mean of the
    per-dimension KL. Reference :func:`minivae.kl.free_bits_kl` (its first output)."""
    check = "check_free_bits_kl"
    rng, results = _rng(11), []
    for shape, lam in ((SHAPES[0], 0.5), (SHAPES[1], 0.25), (SHAPES[2], 0.5), ((8, 6), 0.0)):
        mu, logvar = _gauss_inputs(rng, shape)
        mu[:, ::2] *= 0.1          # some dimensions close to the prior, so the floor matters
        logvar[:, ::2] *= 0.1
        inputs = {"mu": mu, "logvar": logvar, "lam": lam}
        got = _call(check, student_fn, {"mu": mu.copy(), "logvar": logvar.copy(), "lam": lam})
        want = free_bits_kl(mu, logvar, lam)[0]
        kl = 0.5 * (mu**2 + np.exp(logvar) - logvar - 1)
        mistakes = {
            "the floor applied per example before averaging (the free-bits floor is on the batch-mean KL_j)":
                np.maximum(kl, lam).mean(0).sum(),
            "min instead of max": np.minimum(kl.mean(0), lam).sum(),
            "a missing factor 1/2 in the KL": np.maximum(2 * kl.mean(0), lam).sum(),
            "the floor applied to the total KL, not per dimension": max(kl.mean(0).sum(), lam),
        }
        results.append(_case(check, f"shape {shape}, lambda = {lam}", [
            lambda: _compare(check, "free-bits KL", got, want, inputs, mistakes)]))
    return _report(check, results)


def check_active_units(student_fn):
    """``student_fn(mu, threshold) -> int``: the number of latent units u with Var_x(mu_u) > threshold,
    mu (N, D) the posterior means of a data set (Burda et al. 2015).

    Reference :meth:`minivae.VAE.active_units` on a small model whose heads
    are scaled so that some units are active and some are not.
    """
    from ..models.vae import VAE

    check = "check_active_units"
    rng, results = _rng(12), []
    for n, d, threshold, seed in ((50, 4, 0.01, 0), (200, 8, 0.01, 1), (100, 6, 0.05, 2)):
        vae = VAE(input_dim=10, hidden_dims=(8,), latent_dim=d, dtype="float64", seed=seed)
        scale = np.geomspace(3.0, 0.01, d)          # Var(mu_u) shrinks with u
        vae.params["mu.W"][...] *= scale
        x = rng.uniform(0, 1, (n, 10))
        mu = vae.encode(x)[0]
        got = _call(check, student_fn, {"mu": mu.copy(), "threshold": threshold})
        want = vae.active_units(x, threshold=threshold)
        var = mu.var(0)
        mistakes = {"the standard deviation compared with the threshold where the variance belongs":
                        int((np.sqrt(var) > threshold).sum()),
                    "the variance over latent units instead of over examples": int((mu.var(1) > threshold).sum()),
                    "the inactive units counted (< instead of >)": int((var < threshold).sum())}

        def cmp(got=got, want=want, mistakes=mistakes, var=var, threshold=threshold):
            try:
                g = int(got)
            except (TypeError, ValueError):
                print(f"  FAIL active units: expected an int, got {type(got).__name__}")
                return False
            if g == want:
                return True
            print(f"  FAIL active units: yours {g}, reference {want} (threshold {threshold}); "
                  f"Var(mu_u) per unit = {np.array2string(var, precision=4)}")
            for label, wrong in mistakes.items():
                if wrong == g and wrong != want:
                    print(f"       hint: your count matches a common mistake: {label}")
                    break
            return False

        results.append(_case(check, f"mu of shape {mu.shape}", [cmp]))
    return _report(check, results)
