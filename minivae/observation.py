"""The VAE decoder's observation model p(x|z): Bernoulli logits or Gaussian means, on the backend's fused ops.

The decoder outputs one number per pixel: a logit of a Bernoulli, or the
mean of a Gaussian whose log-variance is fixed (``obs_logvar``) or learned
per pixel (the parameter ``decoder.logvar``, kept above ``min_obs_logvar``).
These functions give the negative log-likelihood of a batch and its
gradients with one fused op (``ops.bernoulli_nll_grad``,
``ops.gaussian_nll_grad``), the decoder's mean image, and the link that
turns a mean back into a decoder output. Their reference is
:mod:`minivae.likelihoods`, the lecture's functions.
"""
from __future__ import annotations

from .activations import sigmoid


def logvar(model):
    """log sigma^2 of a Gaussian decoder: the learned (D,) parameter, or the fixed number."""
    c = model.config
    return model.params["decoder.logvar"] if c.learn_variance else c.obs_logvar


def nll_and_grad(model, target, out, scale):
    """-log p(x|z) per row of the decoder output ``out`` (R, D), and its gradients, in one pass.

    Returns nll (R,), ``scale`` * d nll / d out (R, D), and for a learned
    variance ``scale`` * sum_r d nll_r / d logvar (D,) (else None), all in
    ``model.buffers`` (the last in a new (D,) array).
    """
    ops, buf = model.backend.ops, model.buffers
    dout, work, nll = buf("dout", out.shape), buf("work", out.shape), buf("nll", out.shape[:1])
    if model.config.likelihood == "bernoulli":
        ops.bernoulli_nll_grad(target, out, scale, dlogits=dout, nll=nll, work=work)
        return nll, dout, None
    return ops.gaussian_nll_grad(target, out, logvar(model), scale, dmean=dout, nll=nll, work=work)


def weighted_logvar_grad(model, s, dmean):
    """A learned log-variance's gradient when row r weighs s_r (IWAE's normalized weights over N):

        dL/dlogvar_d = sum_r s_r 1/2 (1 - (x_rd - mean_rd)^2 / sigma_d^2)

    from dmean = (mean - x) / sigma^2, the unweighted gradient (scale 1), as
    (x - mean)^2 / sigma^2 = sigma^2 dmean^2.  s: (R, 1), dmean: (R, D) -> (D,).
    """
    xp = model.xp
    var = xp.exp(model.params["decoder.logvar"])
    return 0.5 * (s.sum() - var * xp.einsum("r,rd,rd->d", s[:, 0], dmean, dmean))


def mean(model, out):
    """The decoder's mean image: sigmoid(logits) (Bernoulli) or the means themselves (Gaussian)."""
    return sigmoid(out) if model.config.likelihood == "bernoulli" else out


def link(model, mean_image, floor=1e-4):
    """The decoder output whose mean is ``mean_image``: logit(clip(p, floor, 1 - floor)), or the mean itself."""
    if model.config.likelihood != "bernoulli":
        return mean_image
    p = model.xp.clip(mean_image, floor, 1 - floor)
    return model.xp.log(p) - model.xp.log1p(-p)


def apply_floor(model):
    """Keep a learned log-variance >= ``min_obs_logvar`` (when set): a projection after each step."""
    floor = model.config.min_obs_logvar
    if floor is not None:
        lv = model.params["decoder.logvar"]
        model.xp.maximum(lv, model.dtype.type(floor), out=lv)
