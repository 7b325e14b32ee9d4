"""VQ-VAE (van den Oord et al. 2017) with MLP encoder and decoder, forward and backward by hand.

HY-673's first way to discrete latents. x (N, input_dim) -> encoder MLP (ReLU
hidden layers, linear output) -> z_e (N, G, D), G = ``latent_dim`` positions of
D = ``code_dim`` -> the nearest of K = ``codebook_size`` codes
(:mod:`minivae.quantizer`) -> z_q (N, G, D) -> decoder MLP (hidden sizes
reversed) -> Bernoulli logits or unit-variance Gaussian means. ``loss`` is
the batch mean, in nats per example,

    L = 1/N sum_n [ -log p(x_n|z_q,n) + ||sg[z_e,n] - e||^2 + beta ||z_e,n - sg[e]||^2 ]

(codebook and commitment losses summed over the G positions and D coordinates,
averaged over the N examples like the reconstruction; beta = ``commitment``;
the Gaussian term is the full NLL 1/2 ||x - mean||^2 + D/2 log 2 pi).
``backward``: decoder and codebook get true gradients (the codebook only the
codebook loss's, by one one-hot GEMM, and its own optimizer at
``codebook_lr_scale`` times the learning rate); the encoder gets the
straight-through surrogate dz_e := dz_q + 2 beta/N (z_e - z_q), not the
gradient of L (through the argmin that is zero almost everywhere).

Practical additions the paper does not describe: the first ``train_step`` of
a model whose codebook was never set from data copies K encoder outputs of
its batch into the codebook (distinct rows, in an order drawn from
``self.rng``); with ``restart_dead``, every ``restart_every`` steps each code
no row of those steps chose moves to a random encoder output of the current
batch (same rule). The prior is the empirical code distribution of each
position (``fit_prior``); the paper fits a PixelCNN over the codes instead.

State beside the parameters in every checkpoint (``state_arrays``: arrays,
not architecture, as they change in training), so a run resumes exactly:
``vq.usage`` (K,) code counts since the last restart check, ``vq.step`` steps
taken, ``vq.ready`` codebook set from data, ``prior.counts`` (G, K) (0: none).
Parameters: ``encoder.{i}.W/b``, ``decoder.{i}.W/b``, ``codebook`` (K, D).
"""
from __future__ import annotations

import numpy

from ..backend import get_backend
from ..backend.buffers import Buffers
from ..errors import CheckpointError, ConfigError, MiniVAEError, positive_int
from ..layers import MLP, pack_parameters
from .base import Model
from .observation import Bernoulli, Gaussian
from .vqvae_config import VQVAEConfig
from ..optim import make_optimizer
from ..quantizer import (check_codes, code_usage, nearest_codes, perplexity, position_counts, quantize,
                         replacement_rows, sample_codes, usage_stats, vq_backward, vq_losses)

STATE = ("vq.usage", "vq.step", "vq.ready", "prior.counts")


class VQVAE(Model):
    """A VQ-VAE with MLP encoder and decoder; see the module docstring for the math and the state.

    ``seed`` seeds the initial weights and ``self.rng`` (codebook init,
    restarts, prior samples); ``backend``: ``"numpy"`` or ``"cupy"``.
    """

    kind = "vqvae"
    tuple_options = ("hidden_dims",)

    def __init__(self, input_dim=784, hidden_dims=(400,), latent_dim=20, code_dim=8, codebook_size=64,
                 commitment=0.25, likelihood="bernoulli", activation="relu", init="uniform", restart_dead=True,
                 restart_every=20, codebook_lr_scale=300.0, seed=0, dtype="float32", backend=None):
        self.config = c = VQVAEConfig(
            input_dim=input_dim, hidden_dims=hidden_dims, latent_dim=latent_dim, code_dim=code_dim,
            codebook_size=codebook_size, commitment=commitment, likelihood=likelihood, activation=activation,
            init=init, restart_dead=restart_dead, restart_every=restart_every, codebook_lr_scale=codebook_lr_scale,
            dtype=dtype)
        self.seed, self.backend = seed, get_backend(backend)
        self.xp, self.dtype = self.backend.xp, numpy.dtype(c.dtype)
        self.rng = self.backend.default_rng(seed)
        init_rng = numpy.random.default_rng(seed)       # same initial weights on every backend
        g, d, k = c.latent_dim, c.code_dim, c.codebook_size
        self.encoder = MLP([c.input_dim, *c.hidden_dims, g * d], c.activation, init_rng, self.backend, c.dtype,
                           init=c.init)
        self.decoder = MLP([g * d, *reversed(c.hidden_dims), c.input_dim], c.activation, init_rng, self.backend,
                           c.dtype, init=c.init)
        codebook = init_rng.uniform(-1.0 / k, 1.0 / k, size=(k, d)).astype(self.dtype)   # until set from data
        self.params, self.grads = pack_parameters([("encoder", self.encoder), ("decoder", self.decoder)],
                                                  [("codebook", codebook)], self.backend, c.dtype)
        self.part_params = {"vqvae": {name: v for name, v in self.params.items() if name != "codebook"},
                            "codebook": {"codebook": self.params["codebook"]}}      # two optimizers
        self.part_grads = {p: {name: self.grads[name] for name in part} for p, part in self.part_params.items()}
        self.observation = (Bernoulli(c.input_dim, self.backend, self.dtype) if c.likelihood == "bernoulli" else
                            Gaussian(c.input_dim, self.backend, self.dtype, obs_logvar=0.0))        # p(x|z_q)
        self.usage = self.xp.zeros(k, dtype=numpy.int64)            # code counts since the last restart check
        self.prior_counts = self.xp.zeros((g, k), dtype=numpy.int64)
        self.steps, self.codebook_ready = 0, False
        self.buffers = Buffers(self.xp, self.dtype)
        self._cache = None

    # ---------------------------------------------------------- the objective
    def loss(self, x, check=True, target=None):
        """Forward: ``{"loss", "recon", "codebook", "commitment", "perplexity"}`` (0-d arrays), loss = recon +
        codebook + beta commitment, batch means; perplexity of the batch's codes. x, target (x unless denoising):
        (N, input_dim)."""
        c, buf = self.config, self.buffers
        x = self.as_images(x, check)
        target = x if target is None else self.as_images(target, check, like=x, name="target")
        n, g, d, k = x.shape[0], c.latent_dim, c.code_dim, c.codebook_size
        z_e = self.encoder.forward(x).reshape(n * g, d)                             # (N G, D), a view
        z_q, idx = quantize(z_e, self.params["codebook"], out=buf("z_q", (n, g, d)).reshape(n * g, d),
                            work=buf("scores", (n, g, k)).reshape(n * g, k))
        codebook_loss, commitment_loss = vq_losses(z_e.reshape(n, g * d), z_q.reshape(n, g * d))   # (N,)
        out = self.decoder.forward(z_q.reshape(n, g * d))                           # (N, input_dim)
        nll, dout = self.observation.nll_and_grad(target, out, 1.0 / n, buf)        # -log p(x|z_q), its gradient / N
        counts = code_usage(idx, k)
        self._cache = dict(n=n, z_e=z_e, z_q=z_q, idx=idx, dout=dout, counts=counts)
        recon, vq = nll.mean(), codebook_loss.mean()
        return {"loss": recon + vq + c.commitment * vq, "recon": recon, "codebook": vq, "commitment": vq,
                "perplexity": perplexity(counts, check=False)}

    def backward(self):
        """Fill ``self.grads`` for the last ``loss`` call: true gradients for the decoder and the codebook,
        the straight-through surrogate for the encoder (see the module docstring)."""
        if self._cache is None:
            raise MiniVAEError("backward() needs a forward pass first: call vqvae.loss(x) before vqvae.backward()")
        c, buf, cache = self.config, self.buffers, self._cache
        n, g, d, k = cache["n"], c.latent_dim, c.code_dim, c.codebook_size
        dz_q = self.decoder.backward(cache["dout"])                                 # (N, G D): dL/dz_q
        # scratch kept per batch size N, viewed as (N G, D) and, for the one-hot, (K, N G)
        dz_e, _ = vq_backward(dz_q.reshape(n * g, d), cache["z_e"], cache["z_q"], cache["idx"], k, c.commitment,
                              1.0 / n, dz_e=buf("dz_e", (n, g, d)).reshape(n * g, d),
                              dcodebook=self.grads["codebook"], work=buf("onehot", (n, g * k)).reshape(k, n * g))
        self.encoder.backward(dz_e.reshape(n, g * d), need_dx=False)
        return self.grads

    # ------------------------------------------------------------- training
    def configure_optimizers(self, config):
        """``{"vqvae": TrainConfig's optimizer (and clip_norm) on encoder and decoder, "codebook": the same on the
        codebook at codebook_lr_scale x lr}``. Adam moves a parameter ~lr a step, so z_e = h W (a sum over hidden
        units) outruns the codes (MNIST, 10k images, 3 epochs: test recon ~173 nats at scale 1, ~136 at 300).
        Tuned for Adam: SGD scales code k's step by 2 lr scale count_k / N, which must stay below 2."""
        options = config.optimizer_options()
        fast = {**options, "lr": options["lr"] * self.config.codebook_lr_scale}
        return {"vqvae": make_optimizer(config.optimizer, self.part_params["vqvae"], **options),
                "codebook": make_optimizer(config.optimizer, self.part_params["codebook"], **fast)}

    def train_step(self, batch, optimizers):
        """Codebook init (first step), loss, backward, update, then the usage count and any dead-code restart."""
        if not self.codebook_ready:
            self.init_codebook(batch.x)
        out = self.loss(batch.x, check=False, target=batch.target)
        self.backward()
        for name in ("vqvae", "codebook"):
            optimizers[name].step(self.part_grads[name])
        self.usage += self._cache["counts"]
        self.steps += 1
        if self.config.restart_dead and self.steps % self.config.restart_every == 0:     # one host read
            self.restart_dead_codes()
        return out

    def _move_codes(self, codes, z_e):
        """e_codes[j] = z_e[r_j]: distinct rows in the order argsort(u), u ~ U(0, 1)^R from ``self.rng``."""
        self.params["codebook"][codes] = z_e[replacement_rows(self.rng.random(z_e.shape[0], dtype=self.dtype),
                                                              len(codes))]

    def init_codebook(self, x):
        """Every code e_k := an encoder output of x (N G rows; ``_move_codes``, cycled when N G < K). Returns self."""
        self._move_codes(self.xp.arange(self.config.codebook_size),
                         self.encoder.predict(self.as_images(x)).reshape(-1, self.config.code_dim))
        self.codebook_ready = True
        return self

    def restart_dead_codes(self):
        """Move every code unused since the last check to a random encoder output of the last ``loss`` batch
        (``_move_codes``); reset the counts. Returns how many codes moved (one host read)."""
        dead = self.xp.flatnonzero(self.usage == 0)
        if dead.size:
            self._move_codes(dead, self._cache["z_e"])
        self.usage[...] = 0
        return int(dead.size)

    def eval_step(self, batch):
        """The objective on a held-out batch (no usage counted, no restart)."""
        return self.loss(batch.x, check=False, target=batch.target)

    # -------------------------------------------------------------- inference
    def encode(self, x):
        """The code indices of x: idx_{n,g} = argmin_k ||z_e,n,g - e_k||^2, (N, latent_dim) int64."""
        x = self.as_images(x)
        z_e = self.encoder.predict(x).reshape(-1, self.config.code_dim)
        return nearest_codes(z_e, self.params["codebook"])[0].reshape(x.shape[0], self.config.latent_dim)

    def decode_codes(self, idx):
        """Images from code indices (N, latent_dim) in [0, K): pixel probabilities (Bernoulli) or means."""
        idx = check_codes(self.backend.asarray(idx), self.config.latent_dim, self.config.codebook_size)
        return self.observation.mean(self.decoder.predict(self._z_q(idx)))

    def _z_q(self, idx):
        """The codes' vectors e_idx, (N, latent_dim * code_dim), for indices (N, latent_dim)."""
        return self.xp.take(self.params["codebook"], idx.reshape(-1), axis=0).reshape(idx.shape[0], -1)

    def reconstruct(self, x):
        """decode_codes(encode(x)): x through the quantized bottleneck, (N, input_dim)."""
        return self.decode_codes(self.encode(x))

    def _each_batch(self, x, batch_size, f):
        x, b = self.as_images(x), positive_int("batch_size", batch_size)
        return sum(f(self.encode(x[s:s + b])) for s in range(0, x.shape[0], b))

    def fit_prior(self, x, batch_size=1000):
        """The prior over codes from x: p(idx_g = k) = counts_{g,k} / sum_j counts_{g,j}, the histogram of each
        position's code (``prior_counts`` (G, K)), positions independent. Returns self."""
        k = self.config.codebook_size
        self.prior_counts[...] = self._each_batch(x, batch_size, lambda idx: position_counts(idx, k))
        return self

    def sample(self, n):
        """n images decoded from codes drawn independently per position from the empirical prior (``fit_prior``):
        a baseline; the paper fits an autoregressive prior (PixelCNN) that models how positions depend."""
        n = positive_int("n", n)
        if not bool((self.prior_counts.sum(axis=1) > 0).all()):
            raise MiniVAEError("sample() needs the prior over codes: call fit_prior(x) on training images first")
        u = self.rng.random((n, self.config.latent_dim))
        return self.decode_codes(sample_codes(self.prior_counts, u))

    def reconstruction_nll(self, x, batch_size=1000, progress=None):
        """-log p(x|z_q(x)) per image, (N,) in nats: x through its nearest codes and the decoder (deterministic).

        The VQ-VAE's figure of merit for held-out data (its ELBO adds only the
        constant KL log K per position against a uniform prior). ``progress``:
        called as ``progress(done, total)`` (images) after each batch.
        """
        x, b = self.as_images(x), positive_int("batch_size", batch_size)
        out = []
        for s in range(0, x.shape[0], b):
            xb = x[s:s + b]
            out.append(-self.observation.log_likelihood(xb, self.decoder.predict(self._z_q(self.encode(xb)))))
            if progress is not None:
                progress(min(x.shape[0], s + b), x.shape[0])
        return self.xp.concatenate(out)

    def code_stats(self, x, batch_size=1000):
        """Codebook usage over x: ``{"usage" (K,), "perplexity", "dead_codes", "dead_fraction"}``."""
        return usage_stats(self.backend.to_numpy(self._each_batch(x, batch_size, lambda idx: code_usage(
            idx, self.config.codebook_size))))

    # ------------------------------------------------------------ checkpoints
    def architecture(self):
        """The record a checkpoint rebuilds this VQ-VAE from: its options and seed."""
        return {**self.config.to_dict(), "seed": self.seed}

    def state_arrays(self):
        """Parameters and the state of :data:`STATE` (usage, steps, codebook set, prior) as host arrays."""
        host = self.backend.to_numpy
        return {**super().state_arrays(), "vq.usage": host(self.usage), "vq.step": numpy.asarray(self.steps),
                "vq.ready": numpy.asarray(int(self.codebook_ready)), "prior.counts": host(self.prior_counts)}

    def load_state(self, arrays, source="arrays"):
        """Weights and state from ``arrays``; CheckpointError unless both fit this model exactly."""
        c = self.config
        for name, shape in zip(STATE, ((c.codebook_size,), (), (), (c.latent_dim, c.codebook_size))):
            a = arrays.get(name)
            if a is None or a.shape != shape or a.dtype.kind not in "iu" or int(a.min(initial=0)) < 0:
                raise CheckpointError(f"{source}: {name} must be a non-negative integer array of shape {shape}, "
                                      f"got {None if a is None else (a.shape, a.dtype.name)}")
        super().load_state({k: v for k, v in arrays.items() if k not in STATE}, source)
        self.usage[...] = self.backend.asarray(arrays["vq.usage"])
        self.prior_counts[...] = self.backend.asarray(arrays["prior.counts"])
        self.steps, self.codebook_ready = int(arrays["vq.step"]), bool(arrays["vq.ready"])

    def __repr__(self):
        return f"VQVAE({', '.join(f'{k}={v!r}' for k, v in self.config.to_dict().items())})"
