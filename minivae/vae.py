"""The variational autoencoder, forward and backward by hand.

Encoder q(z|x) = N(mu, diag(sigma^2)) with sigma = exp(logvar / 2); prior
p(z) = N(0, I); decoder p(x|z) Bernoulli (logits) or Gaussian (means).
``loss`` returns the batch mean of the negative ELBO with a KL weight beta,

    L = 1/N sum_n [ -log p(x_n|z_n) + beta KL(q(z|x_n) || p(z)) ],  z_n = mu_n + sigma_n eps_n,

and ``backward`` fills ``grads`` for that same pass (same eps). With
``iwae_k = K > 1`` it is the negative K-sample importance-weighted bound
(Burda et al. 2015), see :mod:`minivae.iwae`.

Parameter names (one flat dict, shared by the optimizer and the gradient
checker): ``encoder.{i}.W/b`` for the hidden layers, ``mu.W/b`` and
``logvar.W/b`` for the two heads, ``decoder.{i}.W/b`` for every decoder layer
including the output layer, and ``decoder.logvar`` for a learned per-pixel
variance.
"""
from __future__ import annotations

import math

import numpy

from . import iwae
from .activations import sigmoid
from .backend import get_backend
from .checkpoint import load_checkpoint, save_checkpoint
from .config import VAEConfig
from .errors import CheckpointError, ConfigError, DataError, MiniVAEError, ShapeError
from .kl import free_bits_kl, kl_backward, kl_divergence, kl_per_dim
from .layers import MLP, Dense, init_for, dense_act_backward_into, dense_act_forward_into, dense_acts, mlp_backward_into, mlp_forward_into
from .likelihoods import (
    bernoulli_log_likelihood,
    bernoulli_log_likelihood_backward,
    gaussian_log_likelihood,
    gaussian_log_likelihood_backward,
)
from .logsumexp import logsumexp
from .reparam import reparameterize, reparameterize_backward
from .threads import TwoWaySplit
from .datasets import validate_images


class VAE:
    """A VAE with MLP encoder and decoder. See the module docstring for the math.

    Parameters
    ----------
    input_dim, hidden_dims, latent_dim, likelihood, activation, beta, dtype,
    num_classes, free_bits, iwae_k, learn_variance, obs_logvar, init, min_obs_logvar
        See :class:`minivae.config.VAEConfig`. ``init`` is the weight
        initialisation: ``"uniform"`` (PyTorch's default), ``"he"``,
        ``"xavier"`` or ``"auto"`` (He for ReLU-like activations, else Xavier).
    seed : int
        Seeds both the weight initialisation and the model's own generator
        (``self.rng``) for eps, prior samples and binarisation.
    backend : str or Backend, optional
        ``"numpy"`` (default) or ``"cupy"``.
    """

    def __init__(self, input_dim=784, hidden_dims=(400,), latent_dim=20, likelihood="bernoulli",
                 activation="relu", beta=1.0, seed=0, dtype="float32", num_classes=None,
                 free_bits=0.0, iwae_k=1, learn_variance=False, obs_logvar=0.0, init="uniform",
                 min_obs_logvar=None, backend=None):
        self.config = VAEConfig(input_dim, hidden_dims, latent_dim, likelihood, activation, beta,
                                dtype, num_classes, free_bits, iwae_k, learn_variance, obs_logvar, init,
                                min_obs_logvar)
        if self.config.free_bits > 0 and self.config.iwae_k > 1:
            raise ConfigError("free_bits (a floor on the ELBO's KL) cannot be combined with iwae_k > 1: the IWAE "
                              "bound has no separate KL term; use one of them")
        self.seed = seed
        self.backend = get_backend(backend)
        self.xp = xp = self.backend.xp
        self.dtype = numpy.dtype(self.config.dtype)
        self.rng = self.backend.default_rng(seed)
        init_rng = numpy.random.default_rng(seed)  # same initial weights on every backend
        c = self.config
        n_cls = c.num_classes or 0
        h_dim = c.hidden_dims[-1] if c.hidden_dims else c.input_dim + n_cls
        self.encoder = MLP([c.input_dim + n_cls, *c.hidden_dims], c.activation, init_rng, xp,
                           c.dtype, final_activation=c.activation, init=c.init)
        head_init = init_for("identity", c.init)
        self.mu_head = Dense(h_dim, c.latent_dim, init_rng, xp, c.dtype, head_init)
        self.logvar_head = Dense(h_dim, c.latent_dim, init_rng, xp, c.dtype, head_init)
        self.decoder = MLP([c.latent_dim + n_cls, *reversed(c.hidden_dims), c.input_dim],
                           c.activation, init_rng, xp, c.dtype, init=c.init)
        self.params, self.grads = {}, {}
        for prefix, part in (("encoder", self.encoder), ("mu", self.mu_head),
                             ("logvar", self.logvar_head), ("decoder", self.decoder)):
            self.params.update({f"{prefix}.{k}": v for k, v in part.params.items()})
            self.grads.update({f"{prefix}.{k}": v for k, v in part.grads.items()})
        if c.learn_variance:
            start = c.obs_logvar if c.min_obs_logvar is None else max(c.obs_logvar, c.min_obs_logvar)
            self.params["decoder.logvar"] = xp.full(c.input_dim, start, dtype=self.dtype)
            self.grads["decoder.logvar"] = xp.zeros(c.input_dim, dtype=self.dtype)
        self.beta = c.beta   # the KL weight now; a warm-up schedule changes it during training
        self._cache = None
        self._init_fast_path()

    def apply_constraints(self):
        """Project the parameters back onto their allowed set after an optimizer step; ``fit`` calls it.

        The one constraint: a learned log-variance stays >= ``min_obs_logvar``
        (when set). Without a floor, the variance of pixels that are always 0
        (MNIST's border) keeps shrinking, by about lr per Adam step, and the
        likelihood of those pixels grows without bound. The loss and its
        gradient are those of the unconstrained model; this is projected
        gradient descent.
        """
        floor = self.config.min_obs_logvar
        if floor is not None:
            logvar = self.params["decoder.logvar"]
            self.xp.maximum(logvar, self.dtype.type(floor), out=logvar)
        return self

    def init_output_bias(self, x, floor=1e-4):
        """Start the decoder at the data's per-pixel marginal: set its output bias from training images x.

        Bernoulli: b_j = logit(clip(mean_n x_nj, floor, 1 - floor)), so that
        sigmoid(b_j) is pixel j's mean intensity; Gaussian: b_j = mean_n x_nj.
        With the small initial weights of the last layer, the first
        reconstructions are then the mean image rather than grey, which
        shortens the start of training (a common trick, e.g. in Burda et
        al.'s code). Returns self.
        """
        x = self._as_x(x)
        mean = self.xp.asarray(x.mean(axis=0, dtype="float64"))
        if self.config.likelihood == "bernoulli":
            p = self.xp.clip(mean, floor, 1 - floor)
            mean = self.xp.log(p) - self.xp.log1p(-p)
        self.decoder.dense[-1].params["b"][...] = mean
        return self

    # ----------------------------------------------------------------- inputs
    def _as_x(self, x, check=True):
        x = self.backend.asarray(x, dtype=self.dtype)
        if check:
            validate_images(x, self.config.input_dim, self.config.likelihood)
        return x

    def _onehot(self, y, n):
        """One-hot labels (n, C) for a conditional model; None for an unconditional one."""
        c = self.config
        if not c.conditional:
            if y is not None:
                raise ConfigError("labels y were given, but this VAE is unconditional "
                                  "(num_classes=None); build it with num_classes=C to condition on labels")
            return None
        if y is None:
            raise DataError(f"this VAE is conditional (num_classes={c.num_classes}): pass the labels y, "
                            "integers in [0, num_classes)")
        y = numpy.asarray(self.backend.to_numpy(y))
        if y.ndim == 0:
            y = numpy.full(n, int(y))
        if y.shape != (n,):
            raise ShapeError(f"labels y must have shape ({n},), got {y.shape}")
        if not numpy.issubdtype(y.dtype, numpy.integer):
            raise DataError(f"labels y must be integers, got dtype {y.dtype}")
        if n and (y.min() < 0 or y.max() >= c.num_classes):
            raise DataError(f"labels must be in [0, {c.num_classes}), got values in [{y.min()}, {y.max()}]")
        onehot = numpy.zeros((n, c.num_classes), dtype=self.dtype)
        onehot[numpy.arange(n), y] = 1
        return self.backend.asarray(onehot)

    def _cat(self, a, onehot):
        """[a, onehot] along features, onehot repeated over a leading sample axis."""
        if onehot is None:
            return a
        onehot = self.xp.broadcast_to(onehot, a.shape[:-1] + onehot.shape[-1:])
        return self.xp.concatenate([a, onehot], axis=-1)

    def decoder_input(self, z, y=None):
        """What the decoder reads: z, or [z, onehot(y)] for a conditional VAE (N, latent_dim + C)."""
        z = self.backend.asarray(z, dtype=self.dtype)
        return self._cat(z, self._onehot(y, z.shape[0]))

    def _as_eps(self, eps, n):
        c = self.config
        shape = (n, c.latent_dim) if c.iwae_k == 1 else (c.iwae_k, n, c.latent_dim)
        if eps is None:
            return self.rng.standard_normal(shape, dtype=self.dtype)
        eps = self.backend.asarray(eps, dtype=self.dtype)
        if eps.shape != shape:
            what = "(N, latent_dim)" if c.iwae_k == 1 else "(iwae_k, N, latent_dim)"
            raise ShapeError(f"eps must have shape {what} = {shape}, got {tuple(eps.shape)}")
        return eps

    # ---------------------------------------------------------- the objective
    def _obs_logvar(self):
        c = self.config
        return self.params["decoder.logvar"] if c.learn_variance else c.obs_logvar

    def _log_likelihood(self, x, out):
        """log p(x|z) per example from the decoder output (logits or means)."""
        if self.config.likelihood == "bernoulli":
            return bernoulli_log_likelihood(x, out)
        return gaussian_log_likelihood(x, out, self._obs_logvar())

    def _log_likelihood_backward(self, dll, x, out):
        """dLoss/d(decoder output), storing the learned variance's gradient."""
        if self.config.likelihood == "bernoulli":
            return bernoulli_log_likelihood_backward(dll, x, out)
        dout, dlogvar = gaussian_log_likelihood_backward(dll, x, out, self._obs_logvar())
        if self.config.learn_variance:
            self.grads["decoder.logvar"][...] = dlogvar
        return dout

    def loss(self, x, y=None, eps=None, target=None, check=True):
        """Forward pass: the batch-mean negative ELBO (or IWAE bound) in nats per example.

        x: (N, input_dim) in the model's dtype (converted if not); y: labels
        (N,) for a conditional model; eps: (N, latent_dim), or
        (iwae_k, N, latent_dim), drawn from ``self.rng`` when None; target:
        what the decoder must reconstruct, x itself unless denoising.
        Returns ``{"loss", "recon", "kl"}`` as 0-d arrays (``float()`` reads them).
        """
        c = self.config
        x = self._as_x(x, check)
        target = x if target is None else self._as_x(target, check)
        if target.shape != x.shape:
            raise ShapeError(f"target must have x's shape {tuple(x.shape)}, got {tuple(target.shape)}")
        n = x.shape[0]
        if n == 0:
            raise ShapeError("x has no examples (shape (0, D)); expected at least one row")
        onehot = self._onehot(y, n)
        eps = self._as_eps(eps, n)
        if self._fast_ok(onehot):
            return self._fast_loss(x, target, eps)

        h = self.encoder.forward(self._cat(x, onehot))
        mu = self.mu_head.forward(h)
        logvar = self.logvar_head.forward(h)
        z, reparam_cache = reparameterize(mu, logvar, eps)
        out = self.decoder.forward(self._cat(z, onehot).reshape(-1, c.latent_dim + (c.num_classes or 0)))
        out = out.reshape(*z.shape[:-1], c.input_dim)
        ll = self._log_likelihood(target, out)
        kl = kl_divergence(mu, logvar)
        self._cache = dict(target=target, mu=mu, logvar=logvar, eps=eps, z=z, out=out,
                           reparam=reparam_cache)
        if c.iwae_k > 1:
            log_w = iwae.log_weights(ll, z, logvar, eps, self.beta)
            self._cache["log_w"] = log_w
            loss = -iwae.bound(log_w).mean()
        elif c.free_bits > 0:
            kl_term, self._cache["fb_active"] = free_bits_kl(mu, logvar, c.free_bits)
            loss = -ll.mean() + self.beta * kl_term
        else:
            loss = (-ll + self.beta * kl).mean()
        return {"loss": loss, "recon": -ll.mean(), "kl": kl.mean()}

    def backward(self):
        """Fill ``self.grads`` with dL/dparam for the last ``loss`` call (same eps)."""
        if self._cache is None:
            raise MiniVAEError("backward() needs a forward pass first: call vae.loss(x) before vae.backward()")
        if "fast" in self._cache:
            return self._fast_backward()
        c, k = self.config, self._cache
        mu, logvar, z = k["mu"], k["logvar"], k["z"]
        n = mu.shape[0]
        if c.iwae_k > 1:
            dlog_w = -iwae.normalized_weights(k["log_w"]) / n        # (K, N)
            dll = dlog_w
        else:
            dll = self.xp.full(n, -1.0 / n, dtype=self.dtype)      # d(mean(-ll))/dll
        dout = self._log_likelihood_backward(dll, k["target"], k["out"])
        dz_in = self.decoder.backward(dout.reshape(-1, dout.shape[-1]))
        dz = dz_in[:, :c.latent_dim].reshape(z.shape)
        if c.iwae_k > 1:
            dz, dlogvar_direct = iwae.prior_posterior_backward(dlog_w, dz, z, self.beta)
            dmu, dlogvar = reparameterize_backward(dz, k["reparam"])
            dlogvar = dlogvar + dlogvar_direct
        else:
            dmu, dlogvar = reparameterize_backward(dz, k["reparam"])
            if c.free_bits > 0:
                dkl = (self.beta / n) * k["fb_active"].astype(self.dtype)   # (D,): 0 below the floor
            else:
                dkl = self.dtype.type(self.beta / n)
            dmu_kl, dlogvar_kl = kl_backward(dkl, mu, logvar)
            dmu, dlogvar = dmu + dmu_kl, dlogvar + dlogvar_kl
        dh = self.mu_head.backward(dmu) + self.logvar_head.backward(dlogvar)  # h feeds both heads
        self.encoder.backward(dh, need_dx=False)
        return self.grads

    def loss_and_grads(self, x, y=None, eps=None, target=None):
        """``loss`` then ``backward``: (the loss dict, the grads dict)."""
        out = self.loss(x, y=y, eps=eps, target=target)
        return out, self.backward()

    # -------------------------------------------------------------- fast path
    #: Take the fused path (``_fast_loss``/``_fast_backward``) where it applies:
    #: Bernoulli decoder, one sample (iwae_k = 1), no free bits, unconditional.
    #: It computes the same numbers as the readable composition above (to
    #: float rounding; tests/test_fastpath.py); set ``vae.fused = False`` to
    #: run the readable one.
    fused = True
    _MAX_WORKSPACES = 4

    def _init_fast_path(self):
        """Pack parameters and gradients into two flat buffers; empty the workspaces.

        Every ``params[name]`` (and ``grads[name]``) becomes a view of one
        contiguous buffer, in the dict's order, and the layers hold the same
        views; names, shapes, dtypes and values do not change. An optimizer
        can then update all parameters in a few passes over one array
        (:class:`minivae.optim.Adam`).
        """
        xp = self.xp
        for store, owner_key in ((self.params, "params"), (self.grads, "grads")):
            flat = xp.empty(sum(int(a.size) for a in store.values()), dtype=self.dtype)
            off = 0
            for name, a in list(store.items()):
                store[name] = flat[off:off + a.size].reshape(a.shape)
                store[name][...] = a
                off += a.size
            for name, layer, key in self._layer_slots():
                getattr(layer, owner_key)[key] = store[name]
        self._enc_pairs = dense_acts(self.encoder)
        self._dec_pairs = dense_acts(self.decoder)
        self._workspaces = {}
        self._split = TwoWaySplit()      # the Bernoulli pass in two row blocks on two threads, when enabled

    def _layer_slots(self):
        """(flat name, Dense layer, "W" or "b") for every layer parameter."""
        for prefix, part in (("encoder", self.encoder), ("mu", self.mu_head),
                             ("logvar", self.logvar_head), ("decoder", self.decoder)):
            dense = [(f"{prefix}.{i}.", d) for i, d in enumerate(part.dense)] if isinstance(part, MLP) \
                else [(f"{prefix}.", part)]
            for pre, d in dense:
                for key in d.params:
                    yield pre + key, d, key

    def _fast_ok(self, onehot):
        c = self.config
        return (self.fused and onehot is None and c.iwae_k == 1 and c.likelihood == "bernoulli"
                and c.free_bits == 0)

    def _workspace(self, n):
        """The buffers of one batch size n, made on first use (the last few sizes are kept)."""
        ws = self._workspaces.pop(n, None)
        if ws is None:
            ws = self._make_workspace(n)
            if len(self._workspaces) >= self._MAX_WORKSPACES:
                self._workspaces.pop(next(iter(self._workspaces)))
        self._workspaces[n] = ws      # most recently used last
        return ws

    def _make_workspace(self, n):
        c, xp, dt = self.config, self.xp, self.dtype
        e = lambda *shape: xp.empty(shape, dtype=dt)  # noqa: E731
        h_dim = self.mu_head.d_in
        return dict(
            enc=[e(n, d.d_out) for d, _ in self._enc_pairs],            # encoder layer outputs
            dec=[e(n, d.d_out) for d, _ in self._dec_pairs],            # decoder layer outputs, logits last
            enc_dx=[None] + [e(n, d.d_in) for d, _ in self._enc_pairs[1:]],
            dec_dx=[e(n, d.d_in) for d, _ in self._dec_pairs],          # dec_dx[0] = dz
            mu=e(n, c.latent_dim), logvar=e(n, c.latent_dim), z=e(n, c.latent_dim),
            dmu=e(n, c.latent_dim), dlogvar=e(n, c.latent_dim),
            dh=e(n, h_dim), dh_logvar=e(n, h_dim),
            kl=e(n), nll=e(n), dlogits=e(n, c.input_dim))

    def _fast_loss(self, x, target, eps):
        """``loss`` for the common case with fused ops and preallocated buffers.

        The same graph as the readable path: h = enc(x); mu, logvar = heads(h);
        z = mu + exp(logvar / 2) eps; logits = dec(z). The Bernoulli pass also
        writes dL/dlogits = (sigmoid(logits) - target) / N for ``backward``.
        """
        xp, ops, n = self.xp, self.backend.ops, x.shape[0]
        w = self._workspace(n)
        h = mlp_forward_into(self._enc_pairs, x, w["enc"], xp, ops) if self._enc_pairs else x
        for head, out in ((self.mu_head, w["mu"]), (self.logvar_head, w["logvar"])):
            dense_act_forward_into(h, head.params["W"], head.params["b"], "identity", out, xp, ops)
        ops.reparam_kl_forward(w["mu"], w["logvar"], eps, z=w["z"], kl=w["kl"])
        logits = mlp_forward_into(self._dec_pairs, w["z"], w["dec"], xp, ops)
        target, scale, dlogits, nll = xp.ascontiguousarray(target), self.dtype.type(1 / n), w["dlogits"], w["nll"]
        self._split(n, lambda lo, hi: ops.bernoulli_nll_grad(target[lo:hi], logits[lo:hi], scale,
                                                             dlogits=dlogits[lo:hi], nll=nll[lo:hi]),
                    size=logits.size, xp=xp)
        self._cache = dict(fast=True, x=x, h=h, eps=eps, ws=w)
        loss = (w["nll"] + self.beta * w["kl"]).mean()
        return {"loss": loss, "recon": w["nll"].mean(), "kl": w["kl"].mean()}

    def _fast_backward(self):
        """``backward`` for :meth:`_fast_loss`: every gradient written in place into ``grads``."""
        xp, ops, k = self.xp, self.backend.ops, self._cache
        w, h, n = k["ws"], k["h"], k["x"].shape[0]
        dz = mlp_backward_into(self._dec_pairs, w["z"], w["dec"], w["dlogits"], w["dec_dx"], xp, ops)
        ops.reparam_kl_backward(dz, w["mu"], w["logvar"], k["eps"], self.dtype.type(self.beta / n),
                                dmu=w["dmu"], dlogvar=w["dlogvar"])
        need_dh = bool(self._enc_pairs)
        for head, dy, dh in ((self.mu_head, w["dmu"], w["dh"]), (self.logvar_head, w["dlogvar"], w["dh_logvar"])):
            dense_act_backward_into(dy, h, None, head.params["W"], "identity", head.grads["W"],
                                    head.grads["b"], dh if need_dh else None, xp, ops)
        if need_dh:
            w["dh"] += w["dh_logvar"]                               # h feeds both heads
            mlp_backward_into(self._enc_pairs, k["x"], w["enc"], w["dh"], w["enc_dx"], xp, ops)
        return self.grads

    # -------------------------------------------------------------- inference
    def encode(self, x, y=None):
        """(mu, logvar) of q(z|x), each (N, latent_dim)."""
        x = self._as_x(x)
        h = self.encoder.predict(self._cat(x, self._onehot(y, x.shape[0])))
        return self.mu_head.predict(h), self.logvar_head.predict(h)

    def decode(self, z, y=None):
        """The decoder's mean: pixel probabilities (Bernoulli) or means (Gaussian), (N, input_dim)."""
        z = self.backend.asarray(z, dtype=self.dtype)
        if z.ndim != 2 or z.shape[1] != self.config.latent_dim:
            raise ShapeError(f"z must have shape (N, {self.config.latent_dim}), got {tuple(z.shape)}")
        out = self.decoder.predict(self._cat(z, self._onehot(y, z.shape[0])))
        return sigmoid(out) if self.config.likelihood == "bernoulli" else out

    def reconstruct(self, x, y=None):
        """decode(mu(x)): the reconstruction at the posterior mean."""
        return self.decode(self.encode(x, y)[0], y)

    def sample(self, n, y=None):
        """n images decoded from z ~ p(z) = N(0, I) (for label(s) y if conditional)."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ConfigError(f"n must be an integer >= 1, got {n!r}")
        if y is not None and not self.config.conditional:
            raise ConfigError("sample(y=...) needs a conditional VAE (num_classes=C); this one is unconditional")
        z = self.rng.standard_normal((n, self.config.latent_dim), dtype=self.dtype)
        return self.decode(z, y)

    def interpolate(self, x_a, x_b, steps=10, y=None):
        """Decode z_t = (1 - t) mu(x_a) + t mu(x_b) for t = 0 .. 1 in ``steps`` steps: (steps, input_dim)."""
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 2:
            raise ConfigError(f"steps must be an integer >= 2, got {steps!r}")
        xs = self._as_x(self.xp.stack([self.backend.asarray(x_a, dtype=self.dtype).reshape(-1),
                                       self.backend.asarray(x_b, dtype=self.dtype).reshape(-1)]))
        mu = self.encode(xs, None if y is None else self.xp.asarray([y, y]))[0]
        t = self.xp.linspace(0, 1, steps, dtype=self.dtype)[:, None]
        return self.decode((1 - t) * mu[0] + t * mu[1], y)

    def _batched(self, x, y, batch_size):
        for s in range(0, x.shape[0], batch_size):
            yield x[s:s + batch_size], None if y is None else y[s:s + batch_size]

    def kl_per_dim(self, x, y=None, batch_size=1000):
        """The data-averaged KL of each latent dimension: (latent_dim,), in nats."""
        x = self._as_x(x)
        total = self.xp.zeros(self.config.latent_dim, dtype="float64")
        for xb, yb in self._batched(x, y, batch_size):
            total += kl_per_dim(*self.encode(xb, yb)).sum(axis=0)
        return total / x.shape[0]

    def active_units(self, x, y=None, threshold=0.01, batch_size=1000):
        """Number of active latent units (Burda et al. 2015): Cov_x(E_q[z_u]) > threshold."""
        x = self._as_x(x)
        mu = self.xp.concatenate([self.encode(xb, yb)[0] for xb, yb in self._batched(x, y, batch_size)])
        return int((mu.astype("float64").var(axis=0) > threshold).sum())

    def log_likelihood(self, x, k=5000, batch_size=100, y=None, seed=None, chunk_elems=2**22):
        """Importance-sampled estimate of log p(x) per example, (N,) in nats.

            log p(x) ~ log 1/k sum_i p(x, z_i) / q(z_i|x),   z_i ~ q(z|x)

        (the k-sample IWAE bound, tight as k grows). Computed ``batch_size``
        examples and a chunk of samples at a time, so memory stays bounded
        (about ``chunk_elems`` floats per chunk), and merged through a
        running log-sum-exp.
        """
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ConfigError(f"k (number of importance samples) must be an integer >= 1, got {k!r}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ConfigError(f"batch_size must be an integer >= 1, got {batch_size!r}")
        xp, c = self.xp, self.config
        rng = self.rng if seed is None else self.backend.default_rng(seed)
        x = self._as_x(x)
        out = []
        for xb, yb in self._batched(x, y, batch_size):
            nb = xb.shape[0]
            onehot = self._onehot(yb, nb)
            mu, logvar = self.encode(xb, yb)
            kc = max(1, min(k, chunk_elems // (nb * c.input_dim)))
            running = xp.full(nb, -xp.inf, dtype="float64")
            for s in range(0, k, kc):
                eps = rng.standard_normal((min(kc, k - s), nb, c.latent_dim), dtype=self.dtype)
                z = reparameterize(mu, logvar, eps)[0]
                dec = self.decoder.predict(self._cat(z, onehot).reshape(-1, z.shape[-1] + (c.num_classes or 0)))
                dec = dec.reshape(*z.shape[:-1], c.input_dim)                # (kc, nb, D)
                if c.likelihood == "bernoulli":
                    ll = iwae.bernoulli_log_likelihood_eval(xb, dec)
                else:
                    ll = self._log_likelihood(xb, dec)
                log_w = iwae.log_weights(ll, z, logvar, eps, beta=1.0).astype("float64")
                running = xp.logaddexp(running, logsumexp(log_w, axis=0))
            out.append(running - math.log(k))
        return xp.concatenate(out)

    # ------------------------------------------------------------ checkpoints
    def state_arrays(self):
        """Parameters as host NumPy arrays, by name."""
        return {k: self.backend.to_numpy(v) for k, v in self.params.items()}

    def save(self, path, extra=None):
        """Write architecture + weights to ``path`` (.npz), atomically.

        ``extra`` (a JSON-able dict, e.g. how the data was prepared) is stored
        beside them and read back with :func:`minivae.checkpoint.load_checkpoint`.
        """
        return save_checkpoint(path, {**self.config.to_dict(), "seed": self.seed}, self.state_arrays(), extra)

    def load_state(self, arrays, source="arrays"):
        """Copy weights into this model; CheckpointError unless names and shapes match exactly."""
        missing = sorted(set(self.params) - set(arrays))
        extra = sorted(set(arrays) - set(self.params))
        if missing or extra:
            raise CheckpointError(f"{source} is of another architecture: missing {missing}, unexpected {extra}")
        for name, p in self.params.items():
            a = arrays[name]
            if a.shape != p.shape:
                hint = ""
                if name in ("encoder.0.W", "decoder.0.W") and a.shape[1:] == p.shape[1:]:
                    hint = (f" (its input has {a.shape[0] - p.shape[0]:+d} features: a conditional model takes "
                            f"num_classes one-hot inputs more; this one has num_classes={self.config.num_classes})")
                raise CheckpointError(f"{source}: {name} has shape {a.shape}, this model expects {p.shape}{hint}")
            if not numpy.isfinite(a).all():
                raise CheckpointError(f"{source}: {name} contains non-finite values")
            p[...] = self.backend.asarray(a, dtype=self.dtype)

    @classmethod
    def load(cls, path, backend=None, **expected):
        """Build the saved model from ``path``.

        ``expected`` options (e.g. ``num_classes=None``) must match the
        checkpoint's, else CheckpointError: a conditional model is not
        silently loaded as an unconditional one.
        """
        config, arrays, _ = load_checkpoint(path)
        seed = config.pop("seed", 0)
        config["hidden_dims"] = tuple(config.get("hidden_dims", ()))
        for key, want in expected.items():
            if key == "hidden_dims":
                want = tuple(want)
            if key not in config:
                raise ConfigError(f"unknown option {key!r} to check against the checkpoint")
            if config[key] != want:
                raise CheckpointError(f"{path}: checkpoint has {key}={config[key]!r}, expected {want!r}")
        try:
            model = cls(**config, seed=seed, backend=backend)
        except (ConfigError, TypeError) as exc:
            raise CheckpointError(f"{path}: its architecture record is invalid: {exc}") from exc
        model.load_state(arrays, source=str(path))
        return model

    def __repr__(self):
        c = self.config
        return (f"VAE(input_dim={c.input_dim}, hidden_dims={c.hidden_dims}, latent_dim={c.latent_dim}, "
                f"likelihood={c.likelihood!r}, activation={c.activation!r}, beta={c.beta}, dtype={c.dtype!r}, "
                f"backend={self.backend.name!r})")
