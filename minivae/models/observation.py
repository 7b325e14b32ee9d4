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

from ..activations import sigmoid
from ..iwae import bernoulli_log_likelihood_eval
from ..likelihoods import LOG_2PI, gaussian_log_likelihood, softplus


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
    if model.config.variance == "network":
        return _network_nll_and_grad(model, target, out, scale, dout, nll), dout, None
    if model.config.likelihood == "bernoulli":
        ops.bernoulli_nll_grad(target, out, scale, dlogits=dout, nll=nll, work=work)
        return nll, dout, None
    return ops.gaussian_nll_grad(target, out, logvar(model), scale, dmean=dout, nll=nll, work=work)


def network_logvar(model, raw):
    """log sigma^2 = raw, the decoder's second half of outputs, or with a floor f the soft floor

        log sigma^2 = f + softplus(raw - f)   (> f, smooth, = raw far above f),

    whose derivative sigmoid(raw - f) never vanishes entirely (a hard clip would freeze a pixel at the floor).
    Without a floor, a pixel the data always sets to the same value (MNIST's border) has r = 0, so
    d nll / d log sigma^2 = 1/2 > 0 for ever: its variance shrinks and the likelihood grows without
    bound (the model's known instability; lesson 16 shows it)."""
    floor = model.config.min_obs_logvar
    return raw if floor is None else floor + softplus(raw - floor)


def _network_nll_and_grad(model, target, out, scale, dout, nll):
    """-log p(x|z) for (mean, raw) = out[:, :D], out[:, D:] (HY-673's concrete VAE), and ``scale`` * its gradient.

        nll = 1/2 sum_d [ r_d^2 / sigma_d^2 + log sigma_d^2 + log 2 pi ],  r = x - mean
        d nll / d mean = -r / sigma^2,   d nll / d log sigma^2 = 1/2 (1 - r^2 / sigma^2)

    times sigmoid(raw - f) = 1 - exp(-softplus(raw - f)) for the soft floor's
    d log sigma^2 / d raw. Every (R, D) array is a kept buffer, and r lives in
    dout's first half until it becomes the gradient there.
    """
    xp, buf, d, floor = model.xp, model.buffers, model.config.input_dim, model.config.min_obs_logvar
    mean, raw = out[:, :d], out[:, d:]
    r, dlv, t = dout[:, :d], dout[:, d:], buf("net_work", mean.shape)
    if floor is None:
        lv = raw
    else:
        f = model.dtype.type(floor)
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
    return nll


def log_likelihood(model, x, out):
    """log p(x|z) per row for decoder outputs out (..., D or 2D), without gradients (evaluation)."""
    c = model.config
    if c.likelihood == "bernoulli":
        return bernoulli_log_likelihood_eval(x, out)
    if c.variance == "network":
        return gaussian_log_likelihood(x, out[..., :c.input_dim], network_logvar(model, out[..., c.input_dim:]))
    return gaussian_log_likelihood(x, out, logvar(model))


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
    if model.config.likelihood == "bernoulli":
        return sigmoid(out)
    return out[:, :model.config.input_dim] if model.config.variance == "network" else out


def link(model, mean_image, floor=1e-4):
    """The decoder output whose mean is ``mean_image``: logit(clip(p, floor, 1 - floor)), or the mean itself."""
    if model.config.likelihood != "bernoulli":
        return mean_image
    p = model.xp.clip(mean_image, floor, 1 - floor)
    return model.xp.log(p) - model.xp.log1p(-p)


def apply_floor(model):
    """Keep a learned log-variance >= ``min_obs_logvar`` (when set): a projection after each step."""
    floor = model.config.min_obs_logvar
    if floor is not None and model.config.learn_variance:
        lv = model.params["decoder.logvar"]
        model.xp.maximum(lv, model.dtype.type(floor), out=lv)


def init_output_bias(model, x, floor=1e-4):
    """Start the decoder at the data's per-pixel marginal: its output bias from training images x.

    Bernoulli: b_j = logit(clip(mean_n x_nj, floor, 1 - floor)), so that
    sigmoid(b_j) is pixel j's mean intensity; Gaussian: b_j = mean_n x_nj
    (the means' half of the output for ``variance="network"``). With the small
    initial weights of the last layer, the first reconstructions are then the
    mean image rather than grey (a common trick, e.g. in Burda et al.'s code).
    """
    mean_image = model.xp.asarray(x.mean(axis=0, dtype="float64"))
    b = model.decoder.layers[-1].params["b"]
    b[:model.config.input_dim] = link(model, mean_image, floor)
