"""A VAE with two stochastic layers (Burda et al. 2015's second architecture), forward and backward by hand.

Inference q(z1, z2|x) = q(z1|x) q(z2|z1); generative p(x, z1, z2) = p(x|z1) p(z1|z2) p(z2):

    z1 = mu1(x) + sigma1(x) eps1         q(z1|x)  = N(mu1, sigma1^2)
    z2 = mu2(z1) + sigma2(z1) eps2       q(z2|z1) = N(mu2, sigma2^2)
    p(z2) = N(0, I),   p(z1|z2) = N(mu_p(z2), sigma_p(z2)^2),   p(x|z1) Bernoulli logits (or Gaussian means)

with every sigma = exp(logvar / 2) and eps1, eps2 ~ N(0, I). One sample's log importance weight is

    log w = log p(x|z1) + beta [log p(z1|z2) + log p(z2) - log q(z1|x) - log q(z2|z1)] = -nll - beta kl

(:func:`log_weight`; kl is the Monte Carlo KL term at the sample). ``loss`` is the batch mean of -log w
(``iwae_k = 1``: the negative ELBO) or of -log 1/K sum_k w_k (``iwae_k = K``: the IWAE bound,
:mod:`minivae.iwae`). With eps held fixed, log q = -1/2 sum (eps^2 + logvar + log 2 pi) depends on the
parameters only through logvar.

Backward. With g = dL/d(-log w) per sample (1/N; for the IWAE bound w~_k / N, the normalized weights)
and gb = beta g, r = z1 - mu_p, lv_p = log sigma_p^2:

    -log p(z1|z2) = 1/2 sum (r^2 e^-lv_p + lv_p + log 2 pi):
        dz1 += gb r e^-lv_p,   dmu_p = -gb r e^-lv_p,   dlv_p = gb/2 (1 - r^2 e^-lv_p)
    dz2 = p1^T(dmu_p, dlv_p) + gb z2                      (p(z1|z2)'s network; -log p(z2) = z2^2 / 2 + c)
    dmu2 = dz2,   dlogvar2 = dz2 sigma2 eps2 / 2 - gb/2    (z2's sample; log q(z2|z1))
    dz1 = decoder^T(dL/dlogits) + gb r e^-lv_p + q2^T(dmu2, dlogvar2)
    dmu1 = sum_k dz1,   dlogvar1 = sum_k (dz1 sigma1 eps1 / 2 - gb/2)

z1 feeds p(x|z1), q(z2|z1) and the density p(z1|z2), so its gradient sums those three paths
(``a^T(...)`` is the backward pass of network a). ``tests/test_two_layer.py`` checks it against
central differences in float64, for the ELBO and the IWAE bound.

Parameters (y = x @ W + b): ``q1.{i}``, ``q1.mu``, ``q1.logvar`` (q(z1|x)); ``q2.*`` (q(z2|z1));
``p1.{i}``, ``p1.mu``, ``p1.logvar`` (p(z1|z2)); ``decoder.{i}`` (p(x|z1)), each ``.W`` and ``.b``.
"""
from __future__ import annotations

import numpy

from .. import iwae
from ..backend import get_backend
from ..backend.buffers import Buffers
from ..errors import MiniVAEError, ShapeError
from ..layers import MLP, Dense, init_for, pack_parameters
from ..likelihoods import LOG_2PI, gaussian_log_likelihood
from ..optim import make_optimizer
from .base import Model, check_finite
from .observation import Bernoulli, Gaussian
from .two_layer_config import TwoLayerVAEConfig
from .two_layer_inference import TwoLayerInference


def kl_term(z1, eps1, logvar1, mu_p, logvar_p, z2, eps2, logvar2):
    """kl = log q(z1|x) + log q(z2|z1) - log p(z1|z2) - log p(z2) at the samples, summed over each layer's units.

    log q(z|.) = -1/2 sum_j (eps_j^2 + logvar_j + log 2 pi)   (z = mu + sigma eps)
    log p(z1|z2) = -1/2 sum_j ((z1_j - mu_p,j)^2 e^-lv_p,j + lv_p,j + log 2 pi)
    log p(z2) = -1/2 sum_j (z2_j^2 + log 2 pi)
    Arrays (..., M1) or (..., M2), broadcast against each other -> (...).
    """
    log_q1 = -0.5 * (eps1 * eps1 + logvar1 + LOG_2PI).sum(axis=-1)
    log_q2 = -0.5 * (eps2 * eps2 + logvar2 + LOG_2PI).sum(axis=-1)
    log_p1 = gaussian_log_likelihood(z1, mu_p, logvar_p)
    log_p2 = -0.5 * (z2 * z2 + LOG_2PI).sum(axis=-1)
    return log_q1 + log_q2 - log_p1 - log_p2


def log_weight(ll, z1, eps1, logvar1, mu_p, logvar_p, z2, eps2, logvar2, beta=1.0):
    """log w = log p(x|z1) + beta [log p(z1|z2) + log p(z2) - log q(z1|x) - log q(z2|z1)]: ll (...) -> (...).

    The arrays of :func:`kl_term`; lesson 21's exercise (:func:`minivae.checks.check_two_layer_log_weight`).
    """
    return ll - beta * kl_term(z1, eps1, logvar1, mu_p, logvar_p, z2, eps2, logvar2)


class TwoLayerVAE(TwoLayerInference, Model):
    """A VAE with stochastic layers z1 and z2; see the module docstring for the math and its backward.

    Options: every field of :class:`minivae.models.two_layer_config.TwoLayerVAEConfig`
    (defaults: Burda et al.'s 784-200-200-100-100-100-50, tanh). ``seed`` seeds the
    weights and ``self.rng`` (eps1, eps2, samples); ``backend``: ``"numpy"`` or ``"cupy"``.
    """

    kind = "vae2"
    step_values = ("beta",)
    tuple_options = ("hidden_dims", "hidden_dims2")

    def __init__(self, input_dim=784, hidden_dims=(200, 200), latent_dim=100, hidden_dims2=(100, 100),
                 latent_dim2=50, likelihood="bernoulli", obs_logvar=0.0, activation="tanh", beta=1.0, iwae_k=1,
                 init="auto", seed=0, dtype="float32", backend=None):
        self.config = c = TwoLayerVAEConfig(
            input_dim=input_dim, hidden_dims=hidden_dims, latent_dim=latent_dim, hidden_dims2=hidden_dims2,
            latent_dim2=latent_dim2, likelihood=likelihood, obs_logvar=obs_logvar, activation=activation, beta=beta,
            iwae_k=iwae_k, init=init, dtype=dtype)
        self.seed, self.backend = seed, get_backend(backend)
        self.xp, self.dtype = self.backend.xp, numpy.dtype(c.dtype)
        self.rng = self.backend.default_rng(seed)
        rng = numpy.random.default_rng(seed)           # same initial weights on every backend
        m1, m2, act = c.latent_dim, c.latent_dim2, c.activation

        def mlp(sizes, last):
            return MLP(sizes, act, rng, self.backend, c.dtype, final_activation=last, init=c.init)

        def heads(d_in, d_out):                          # (mu, logvar) of a Gaussian layer, linear
            return tuple(Dense(d_in, d_out, rng, self.backend, c.dtype, init_for("identity", c.init))
                         for _ in range(2))

        self.q1 = mlp([c.input_dim, *c.hidden_dims], act)                         # q(z1|x)'s hidden layers
        self.q1_heads = heads(self.q1.sizes[-1], m1)
        self.q2 = mlp([m1, *c.hidden_dims2], act)                                 # q(z2|z1)'s
        self.q2_heads = heads(self.q2.sizes[-1], m2)
        self.p1 = mlp([m2, *reversed(c.hidden_dims2)], act)                       # p(z1|z2)'s
        self.p1_heads = heads(self.p1.sizes[-1], m1)
        self.decoder = mlp([m1, *reversed(c.hidden_dims), c.input_dim], None)    # p(x|z1): logits or means
        parts = []
        for name in ("q1", "q2", "p1"):
            mu, logvar = getattr(self, f"{name}_heads")
            parts += [(name, getattr(self, name)), (f"{name}.mu", mu), (f"{name}.logvar", logvar)]
        parts.append(("decoder", self.decoder))
        self.params, self.grads = pack_parameters(parts, (), self.backend, c.dtype)
        self.observation = (Bernoulli(c.input_dim, self.backend, self.dtype) if c.likelihood == "bernoulli" else
                            Gaussian(c.input_dim, self.backend, self.dtype, obs_logvar=c.obs_logvar))
        self.beta = c.beta        # train_step scales it by the warm-up of each step
        self.buffers = Buffers(self.xp, self.dtype)
        self._cache = None

    # ---------------------------------------------------------- the objective
    def noise(self, eps1, eps2, n, check=True):
        """(eps1, eps2) as (K, N, M1) and (K, N, M2), drawn from ``self.rng`` when None; given ones are (N, M)
        for iwae_k = 1 or (iwae_k, N, M), checked for shape (and, with ``check``, finiteness)."""
        k, c, out = self.config.iwae_k, self.config, []
        for name, eps, m in (("eps1", eps1, c.latent_dim), ("eps2", eps2, c.latent_dim2)):
            if eps is None:
                eps = self.rng.standard_normal((k, n, m), dtype=self.dtype)
            else:
                eps = self.backend.asarray(eps, dtype=self.dtype)
                want = (n, m) if k == 1 else (k, n, m)
                if eps.shape != want:
                    raise ShapeError(f"{name} must have shape {want}, got {tuple(eps.shape)}")
                eps = (check_finite(name, eps) if check else eps).reshape(k, n, m)
            out.append(eps)
        return out

    def graph(self, x, eps1, eps2, train):
        """Every quantity of the two layers for x (N, D) and eps1 (K, N, M1), eps2 (K, N, M2): a dict with
        z1, z2, the heads' mu/logvar, the decoder's ``out`` (K N, D) and ``kl`` (K, N). ``train``: the layers'
        ``forward`` (cached for ``backward``), else ``predict`` (inference, no cache)."""
        xp, (k, n, m1) = self.xp, eps1.shape

        def run(net, a):
            return net.forward(a) if train else net.predict(a)

        g = {"eps1": eps1, "eps2": eps2.reshape(k * n, -1)}
        h1 = run(self.q1, x)                                                  # (N, H1)
        g["mu1"], g["logvar1"] = (run(head, h1) for head in self.q1_heads)    # (N, M1)
        g["sigma1"] = xp.exp(0.5 * g["logvar1"])
        g["z1"] = (g["mu1"] + g["sigma1"] * eps1).reshape(k * n, m1)         # (K N, M1)
        h2 = run(self.q2, g["z1"])
        g["mu2"], g["logvar2"] = (run(head, h2) for head in self.q2_heads)    # (K N, M2)
        g["sigma2"] = xp.exp(0.5 * g["logvar2"])
        g["z2"] = g["mu2"] + g["sigma2"] * g["eps2"]                          # (K N, M2)
        hp = run(self.p1, g["z2"])
        g["mu_p"], g["logvar_p"] = (run(head, hp) for head in self.p1_heads)  # (K N, M1)
        g["out"] = run(self.decoder, g["z1"])                                 # (K N, D)
        by_sample = {key: g[key].reshape(k, n, -1) for key in ("z1", "mu_p", "logvar_p", "eps2", "logvar2", "z2")}
        g["kl"] = kl_term(eps1=eps1, logvar1=g["logvar1"], **by_sample)      # (K, N)
        return g

    def loss(self, x, eps1=None, eps2=None, target=None, check=True, beta=None):
        """Forward: the batch mean of -log w (the negative ELBO) or of the negative IWAE bound, in nats per example.

        x, target (x unless denoising): (N, input_dim); eps1, eps2: see :meth:`noise`; beta: this pass's
        weight of the KL term (``self.beta`` when None). Returns ``{"loss", "recon", "kl"}`` as 0-d arrays
        (recon: the mean -log p(x|z1); kl: the mean Monte Carlo KL term, both over every sample).
        """
        c, xp = self.config, self.xp
        beta = float(self.beta if beta is None else beta)
        x = self.as_images(x, check)
        target = x if target is None else self.as_images(target, check, like=x, name="target")
        n, k = x.shape[0], c.iwae_k
        g = self.graph(x, *self.noise(eps1, eps2, n, check), train=True)
        rows = target if k == 1 else xp.broadcast_to(target, (k, *target.shape)).reshape(k * n, -1)
        nll, g["dout"] = self.observation.nll_and_grad(rows, g["out"], 1.0 / n if k == 1 else 1.0, self.buffers)
        log_w = -nll.reshape(k, n) - beta * g["kl"]                           # (K, N)
        if k == 1:
            loss, g["weights"] = -log_w.mean(), xp.full((1, n), 1.0 / n, dtype=self.dtype)
        else:
            loss, g["weights"] = -iwae.bound(log_w).mean(), iwae.normalized_weights(log_w) / n
        g.update(beta=beta, k=k, n=n)
        self._cache = g
        return {"loss": loss, "recon": nll.mean(), "kl": g["kl"].mean()}

    def backward(self):
        """Fill ``self.grads`` with dL/dparam for the last ``loss`` call (same eps); the module docstring derives it."""
        if self._cache is None:
            raise MiniVAEError("backward() needs a forward pass first: call model.loss(x) before model.backward()")
        g, xp = self._cache, self.xp
        k, n = g["k"], g["n"]
        w = g["weights"].reshape(-1, 1)                                       # (K N, 1): dL/d(-log w)
        gb = g["beta"] * w
        dout = g["dout"] if k == 1 else g["dout"] * w                         # the K = 1 op scaled by 1/N already
        dz1 = self.decoder.backward(dout)                                     # p(x|z1)'s path, (K N, M1)
        r = g["z1"] - g["mu_p"]
        r_prec = r * xp.exp(-g["logvar_p"])                                   # r e^-lv_p
        dmu_p, dlv_p = -gb * r_prec, 0.5 * gb * (1 - r * r_prec)              # -log p(z1|z2)
        dz2 = self.p1.backward(_heads_backward(self.p1_heads, dmu_p, dlv_p)) + gb * g["z2"]
        dlogvar2 = 0.5 * dz2 * g["sigma2"] * g["eps2"] - 0.5 * gb             # z2's sample and log q(z2|z1)
        dz1 = dz1 + gb * r_prec + self.q2.backward(_heads_backward(self.q2_heads, dz2, dlogvar2))
        dz1 = dz1.reshape(k, n, -1)                                           # the three paths summed
        dmu1 = dz1.sum(axis=0)
        dlogvar1 = (0.5 * dz1 * g["sigma1"] * g["eps1"]).sum(axis=0) - 0.5 * gb.reshape(k, n, 1).sum(axis=0)
        self.q1.backward(_heads_backward(self.q1_heads, dmu1, dlogvar1), need_dx=False)
        return self.grads

    def loss_and_grads(self, x, eps1=None, eps2=None, target=None):
        """``loss`` then ``backward``: (the loss dict, the grads dict)."""
        out = self.loss(x, eps1=eps1, eps2=eps2, target=target)
        return out, self.backward()

    # ------------------------------------------------------------- training
    def configure_optimizers(self, config):
        """``{"vae": TrainConfig's optimizer over every parameter}``."""
        return {"vae": make_optimizer(config.optimizer, self.params, **config.optimizer_options())}

    def train_step(self, batch, optimizers):
        """Loss at beta times the batch's warm-up fraction, backward, one optimizer step: the loss dict and ``beta``."""
        beta = self.beta * batch.warmup
        out = self.loss(batch.x, target=batch.target, check=False, beta=beta)
        self.backward()
        optimizers["vae"].step(self.grads)
        return {**out, "beta": beta}

    def eval_step(self, batch):
        """The training objective on a held-out batch at the full KL weight."""
        return self.loss(batch.x, target=batch.target, check=False)

    def init_output_bias(self, x, floor=1e-4):
        """Start p(x|z1) at the data's per-pixel marginal (the output bias b = link(mean_n x_n)), as the VAE does."""
        mean_image = self.xp.asarray(self.as_images(x).mean(axis=0, dtype="float64"))
        self.decoder.layers[-1].params["b"][...] = self.observation.link(mean_image, floor)
        return self

    # ------------------------------------------------------------ checkpoints
    def architecture(self):
        """The record a checkpoint rebuilds this model from: its options and seed."""
        return {**self.config.to_dict(), "seed": self.seed}

    def design_points(self):
        """What differs from the one-layer VAE (for reports): the second stochastic layer."""
        return {"layers": 2, "latent_dim2": self.config.latent_dim2, "hidden_dims2": list(self.config.hidden_dims2)}

    def __repr__(self):
        return f"TwoLayerVAE({', '.join(f'{k}={v!r}' for k, v in self.config.to_dict().items())})"


def _heads_backward(heads, dmu, dlogvar):
    """dL/dh of a Gaussian layer's two linear heads mu = h W_mu + b_mu, logvar = h W_lv + b_lv (h feeds both)."""
    mu, logvar = heads
    return mu.backward(dmu) + logvar.backward(dlogvar)
