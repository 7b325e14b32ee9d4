"""What a VAE accepts besides images: labels, noise and codes checked at its boundary, with clear errors.

(Images are every model's: :meth:`minivae.models.base.Model.as_images`.)
Each function takes the VAE (for its backend, dtype and config) and the
user's value, and returns the value as an array of the model's backend and
dtype, or raises :class:`ShapeError`, :class:`DataError` or
:class:`ConfigError` saying what was wrong and what was expected.
"""
from __future__ import annotations

import numpy

from ..backend import array_module
from ..errors import ConfigError, DataError, ShapeError, positive_int  # noqa: F401 (metrics imports it from here)


def check_finite(name, a):
    """DataError unless every entry of the array a is finite (one pass; a host read on a GPU)."""
    xp = array_module(a)
    bad = ~xp.isfinite(a)
    if bool(bad.any()):
        first = tuple(int(i) for i in xp.argwhere(bad)[0])
        raise DataError(f"{name} has {int(bad.sum())} non-finite values (the first, {float(a[first])}, at index "
                        f"{first}); expected finite numbers")
    return a


def as_eps(model, eps, n, check=True):
    """The noise of q(z|x) for n examples; drawn from model.rng when None.

    Gaussian latents: eps ~ N(0, I), (n, latent_dim) or (iwae_k, n, latent_dim);
    categorical latents: u ~ U(0, 1), (n, latent_dim, categories), the source
    of the Gumbel noise. Given noise is checked for its shape and, with
    ``check``, for finiteness (and u for the open interval (0, 1))."""
    c, posterior = model.config, model.latent.posterior
    lead = (n,) if c.iwae_k == 1 else (c.iwae_k, n)
    if eps is None:
        return posterior.noise(model.rng, lead, model.dtype)
    eps = model.backend.asarray(eps, dtype=model.dtype)
    shape = posterior.noise_shape(lead)
    if eps.shape != shape:
        what = ("(N, latent_dim, categories)" if c.latent == "categorical" else
                "(N, latent_dim)" if c.iwae_k == 1 else "(iwae_k, N, latent_dim)")
        raise ShapeError(f"eps must have shape {what} = {shape}, got {tuple(eps.shape)}")
    if check and c.latent == "categorical" and bool(((eps <= 0) | (eps >= 1)).any()):
        raise DataError("eps of categorical latents is the uniform noise u of g = -log(-log u): every entry must "
                        "lie in the open interval (0, 1)")
    return check_finite("eps", eps) if check else eps


def as_prior_draws(model, z_prior, n, check=True):
    """z_prior ~ p(z) = N(0, I), (n, latent_dim), for the MMD term; drawn from model.rng when None."""
    shape = (n, model.config.latent_dim)
    if z_prior is None:
        return model.rng.standard_normal(shape, dtype=model.dtype)
    z_prior = model.backend.asarray(z_prior, dtype=model.dtype)
    if z_prior.shape != shape:
        raise ShapeError(f"z_prior (draws from p(z) for the MMD term) must have shape (N, latent_dim) = {shape}, "
                         f"got {tuple(z_prior.shape)}")
    return check_finite("z_prior", z_prior) if check else z_prior


def as_latents(model, z):
    """z as (N, code_size) codes on the model's backend (latent_dim, or latent_dim * categories one-hot entries)."""
    z = model.backend.asarray(z, dtype=model.dtype)
    size = model.config.code_size
    if z.ndim != 2 or z.shape[1] != size:
        what = "latent_dim * categories" if model.config.latent == "categorical" else "latent_dim"
        raise ShapeError(f"z must have shape (N, {what}) = (N, {size}), got {tuple(z.shape)}")
    return check_finite("z", z)


def onehot_labels(model, y, n):
    """One-hot labels (n, C) for a conditional model; None for an unconditional one (which takes no y)."""
    c = model.config
    if not c.conditional:
        if y is not None:
            raise ConfigError("labels y were given, but this VAE is unconditional "
                              "(num_classes=None); build it with num_classes=C to condition on labels")
        return None
    if y is None:
        raise DataError(f"this VAE is conditional (num_classes={c.num_classes}): pass the labels y, "
                        "integers in [0, num_classes)")
    y = numpy.asarray(model.backend.to_numpy(y))
    if y.ndim == 0:
        y = numpy.full(n, int(y))
    if y.shape != (n,):
        raise ShapeError(f"labels y must have shape ({n},), got {y.shape}")
    if not numpy.issubdtype(y.dtype, numpy.integer):
        raise DataError(f"labels y must be integers, got dtype {y.dtype}")
    if n and (y.min() < 0 or y.max() >= c.num_classes):
        raise DataError(f"labels must be in [0, {c.num_classes}), got values in [{y.min()}, {y.max()}]")
    onehot = numpy.zeros((n, c.num_classes), dtype=model.dtype)
    onehot[numpy.arange(n), y] = 1
    return model.backend.asarray(onehot)


def with_labels(model, a, onehot, name=None):
    """What a network reads: a (R, F), or [a, onehot] for a conditional model, the labels (N, C)
    repeated down the R = K N rows; in the model's kept buffer ``name`` (training), or a new array."""
    if onehot is None:
        return a
    rows, f = a.shape
    shape = (rows, f + onehot.shape[1])
    out = model.xp.empty(shape, dtype=model.dtype) if name is None else model.buffers(name, shape)
    out[:, :f] = a
    for s in range(0, rows, onehot.shape[0]):
        out[s:s + onehot.shape[0], f:] = onehot
    return out


def repeat_rows(model, target, k):
    """The target once per sample, (K N, D), in the model's kept buffer (target itself for K = 1)."""
    if k == 1:
        return target
    out = model.buffers("target_k", (k * target.shape[0], target.shape[1]))
    out.reshape(k, *target.shape)[...] = target
    return out
