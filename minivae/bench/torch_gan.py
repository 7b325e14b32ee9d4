"""The same GAN in PyTorch eager, for ``bench --model gan --vs torch``, in a process of its own.

Everything that decides the numbers is minivae's: the architecture (each
Dense layer becomes an ``nn.Linear`` with the same activation after it), the
initial weights (copied from the minivae GAN), the optimizers and their
settings (read off the minivae GAN's own ``configure_optimizers``), the loss,
the data order, the batch size and the step sequence (one critic step per
batch; after every n_critic-th, one generator step). The noise too: the
trainer keeps a copy of the GAN's NumPy generator ``gan.rng`` in the same
state and draws z (and WGAN-GP's alpha) with the same calls, in the same
order, as ``GAN.train_step`` does, so both sides pay the same drawing cost
inside the timed loop and see the same numbers.

Autograd does the backward here, as a PyTorch user would write it: the
critic's loss on D([x; G(z)]) with G(z) under ``no_grad``; WGAN-GP's penalty
through ``torch.autograd.grad(..., create_graph=True)``; the generator's loss
backpropagated through D into G with D's parameters' ``requires_grad`` off
for that step, so that, as in minivae, D's unused weight gradients are not
computed.

:class:`TorchGANProcess` runs a :class:`TorchGANTrainer` in a child process
(the design and reasons of :mod:`minivae.bench.torch_vae`).
"""
from __future__ import annotations

import multiprocessing
import resource
import time
import warnings

import numpy

from ..activations import LEAKY_SLOPE
from ..errors import ConfigError
from ..optim import Adam, RMSProp, SGD
from .torch_vae import TorchProcess, gather, import_torch, torch_available

TORCH_OPTIMIZERS = ("default", "foreach", "fused")


def _activation(torch, name):
    """The torch module of a minivae activation name (None for identity)."""
    acts = {"identity": None, "relu": torch.nn.ReLU, "tanh": torch.nn.Tanh, "sigmoid": torch.nn.Sigmoid,
            "leaky_relu": lambda: torch.nn.LeakyReLU(LEAKY_SLOPE)}
    if name not in acts:
        raise ConfigError(f"--vs torch supports activations {sorted(acts)}, not {name!r}")
    return acts[name] and acts[name]()


def torch_mlp(torch, mlp, dtype):
    """nn.Sequential of Linear (+ activation) layers holding copies of a minivae MLP's weights."""
    mods = []
    for d in mlp.layers:
        lin = torch.nn.Linear(d.d_in, d.d_out, dtype=dtype)
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(numpy.ascontiguousarray(d.params["W"].T)))   # torch: (D_out, D_in)
            lin.bias.copy_(torch.from_numpy(numpy.array(d.params["b"])))
        mods.append(lin)
        act = _activation(torch, d.activation)
        if act is not None:
            mods.append(act)
    return torch.nn.Sequential(*mods)


def torch_optimizer(torch, params, opt, impl="default"):
    """The torch optimizer with a minivae optimizer's settings (Adam, RMSProp, SGD); impl: default|foreach|fused."""
    kw = {} if impl == "default" else {impl: True}
    if opt.clip_norm is not None:
        raise ConfigError("the torch side does not clip gradient norms; train without clip_norm")
    if isinstance(opt, Adam):
        return torch.optim.Adam(params, lr=opt.lr, betas=(opt.beta1, opt.beta2), eps=opt.eps, **kw)
    if impl == "fused":
        raise ConfigError(f"PyTorch has no fused {type(opt).__name__} on the CPU: use --torch-adam default or foreach")
    if isinstance(opt, RMSProp):        # both: r <- rho r + (1 - rho) g^2; p <- p - lr g / (sqrt(r) + eps)
        return torch.optim.RMSprop(params, lr=opt.lr, alpha=opt.rho, eps=opt.eps, **kw)
    if isinstance(opt, SGD):
        return torch.optim.SGD(params, lr=opt.lr, momentum=opt.momentum, **kw)
    raise ConfigError(f"--vs torch has no counterpart of the optimizer {type(opt).__name__}")


def copy_rng(rng):
    """A new NumPy Generator in the same state as ``rng`` (which is left alone)."""
    twin = numpy.random.Generator(type(rng.bit_generator)())
    twin.bit_generator.state = rng.bit_generator.state
    return twin


class TorchGANTrainer:
    """A minivae GAN (NumPy backend, float32 or float64) rebuilt in PyTorch, trained step for step like it.

    ``optimizers``: the GAN's own ``configure_optimizers(...)`` result, whose
    kinds and settings the torch optimizers take; ``impl``: PyTorch's
    implementation of them (default, foreach, fused).
    """

    name = "torch"

    def __init__(self, gan, x, optimizers, threads=None, impl="default"):
        torch = self.torch = import_torch()
        if gan.backend.name != "numpy":
            raise ConfigError(f"--vs torch compares against minivae's NumPy backend, not {gan.backend.name!r}")
        if threads is not None:
            torch.set_num_threads(threads)
        c = self.config = gan.config
        self.dtype = {"float32": torch.float32, "float64": torch.float64}[c.dtype]
        self.np_dtype = gan.dtype
        self.G = torch_mlp(torch, gan.generator, self.dtype)
        self.D = torch_mlp(torch, gan.discriminator, self.dtype)
        self.d_opt = torch_optimizer(torch, self.D.parameters(), optimizers["discriminator"], impl)
        self.g_opt = torch_optimizer(torch, self.G.parameters(), optimizers["generator"], impl)
        self.rng = copy_rng(gan.rng)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)      # "the given NumPy array is not writable": only read
            self.x = None if x is None else torch.from_numpy(numpy.asarray(x, dtype=self.np_dtype))
        self.t = 0                                  # critic steps taken, as the critic optimizer's t in minivae
        self._bufs = {}

    # ---------------------------------------------------------------- noise
    def noise(self, n):
        """z as GAN.noise draws it: U(-1, 1) as rng.random * 2 - 1, or N(0, I)."""
        if self.config.noise == "uniform":
            z = self.rng.random((n, self.config.noise_dim), dtype=self.np_dtype)
            z *= 2
            z -= 1
        else:
            z = self.rng.standard_normal((n, self.config.noise_dim), dtype=self.np_dtype)
        return self.torch.from_numpy(z)

    def _tensor(self, a):
        return self.torch.from_numpy(numpy.asarray(a, dtype=self.np_dtype))

    # --------------------------------------------------------------- losses
    def d_loss(self, s_r, s_f):
        """The critic's loss of minivae.adversarial, as a torch expression of the raw scores."""
        torch, F, loss = self.torch, self.torch.nn.functional, self.config.loss
        if loss in ("minimax", "ns"):
            return (F.binary_cross_entropy_with_logits(s_r, torch.ones_like(s_r))
                    + F.binary_cross_entropy_with_logits(s_f, torch.zeros_like(s_f)))
        if loss == "lsgan":
            return 0.5 * ((s_r - 1) ** 2).mean() + 0.5 * (s_f ** 2).mean()
        return s_f.mean() - s_r.mean()                                      # wgan, wgan-gp

    def g_loss(self, s_f):
        """The generator's loss of minivae.adversarial."""
        torch, F, loss = self.torch, self.torch.nn.functional, self.config.loss
        if loss == "ns":
            return F.binary_cross_entropy_with_logits(s_f, torch.ones_like(s_f))
        if loss == "minimax":
            return -F.binary_cross_entropy_with_logits(s_f, torch.zeros_like(s_f))
        if loss == "lsgan":
            return 0.5 * ((s_f - 1) ** 2).mean()
        return -s_f.mean()

    def gradient_penalty(self, x_hat):
        """lambda E (||dD(x_hat)/dx_hat||_2 - 1)^2, differentiable (create_graph=True)."""
        torch = self.torch
        x_hat.requires_grad_(True)
        g, = torch.autograd.grad(self.D(x_hat).sum(), x_hat, create_graph=True)
        return self.config.gp_lambda * ((g.norm(2, dim=1) - 1) ** 2).mean()

    # ---------------------------------------------------------------- steps
    def critic_step(self, xs, z=None, alpha=None):
        """One critic step on real images xs (N, D) already in [-1, 1]; z, alpha drawn as minivae's when None.

        Returns the critic's loss (with the penalty) as a float.
        """
        torch, n = self.torch, xs.shape[0]
        z = self.noise(n) if z is None else self._tensor(z)
        with torch.no_grad():
            fake = self.G(z)
        s = self.D(torch.cat([xs, fake]))                                   # (2N, 1), as minivae's one batch
        loss = self.d_loss(s[:n], s[n:])
        if self.config.loss == "wgan-gp":
            alpha = self._tensor(self.rng.random((n, 1), dtype=self.np_dtype) if alpha is None else alpha)
            loss = loss + self.gradient_penalty(alpha * xs + (1 - alpha) * fake)
        self.d_opt.zero_grad(set_to_none=True)
        loss.backward()
        self.d_opt.step()
        if self.config.clip is not None:                                    # WGAN's weight clipping
            with torch.no_grad():
                for p in self.D.parameters():
                    p.clamp_(-self.config.clip, self.config.clip)
        self.t += 1
        return loss.item()

    def generator_step(self, n, z=None):
        """One generator step on n fresh z (or the given z); returns its loss."""
        z = self.noise(n) if z is None else self._tensor(z)
        self.D.requires_grad_(False)                                        # only dL/dG(z) passes through D
        try:
            loss = self.g_loss(self.D(self.G(z)))
            self.g_opt.zero_grad(set_to_none=True)
            loss.backward()
        finally:
            self.D.requires_grad_(True)
        self.g_opt.step()
        return loss.item()

    def step(self, xs):
        """GAN.train_step's sequence: a critic step; after every n_critic-th, a generator step.

        Returns (critic loss, generator loss or None).
        """
        d = self.critic_step(xs)
        g = self.generator_step(xs.shape[0]) if self.t % self.config.n_critic == 0 else None
        return d, g

    def epoch(self, order, batch_size):
        """One pass over x[order]: gather (index_select into a buffer), scale to [-1, 1], step.

        Returns (seconds, {"d_loss": mean over the critic steps, "g_loss": mean over the generator steps}).
        """
        torch, x_t = self.torch, self.x
        order_t = torch.from_numpy(numpy.asarray(order, dtype=numpy.int64))
        d_sum = g_sum = 0.0
        g_steps = 0
        t0 = time.perf_counter()
        for s in range(0, len(order), batch_size):
            xs = gather(torch, x_t, order_t[s:s + batch_size], self._bufs)
            xs.mul_(2).sub_(1)                                              # [0, 1] -> [-1, 1]
            d, g = self.step(xs)
            d_sum += d
            if g is not None:
                g_sum, g_steps = g_sum + g, g_steps + 1
        sec = time.perf_counter() - t0
        steps = -(-len(order) // batch_size)
        return sec, {"d_loss": d_sum / steps, "g_loss": g_sum / g_steps if g_steps else float("nan")}

    def sample(self, z, batch_size=1000):
        """G(z) as images in [0, 1]: (N, data_dim) NumPy, for z (N, noise_dim)."""
        out = []
        with self.torch.no_grad():
            for s in range(0, len(z), batch_size):
                out.append(((self.G(self._tensor(z[s:s + batch_size])) + 1) * 0.5).numpy())
        return numpy.concatenate(out)

    # ------------------------------------------------------- minivae layout
    def _named(self, part, attr):
        mods = [m for m in (self.G if part == "generator" else self.D) if isinstance(m, self.torch.nn.Linear)]
        out = {}
        for i, lin in enumerate(mods):
            w, b = getattr(lin.weight, attr), getattr(lin.bias, attr)
            out[f"{part}.{i}.W"] = None if w is None else w.detach().numpy().T.copy()
            out[f"{part}.{i}.b"] = None if b is None else b.detach().numpy().copy()
        return out

    def parameters(self):
        """Every weight, keyed and laid out as ``gan.params`` (W: (D_in, D_out)), as NumPy copies."""
        return {**self._named("generator", "data"), **self._named("discriminator", "data")}

    def gradients(self, part):
        """The last backward's gradients of ``part`` ("generator" or "discriminator"), minivae's layout."""
        return self._named(part, "grad")


def _serve(conn, arch, seed, lr, threads, limit, impl):
    """The child process: build the trainer, then answer (method, args) requests until None."""
    try:
        from ..models.gan import GAN
        from ..train import TrainConfig
        from .workload import load_data

        x, _, _ = load_data(limit)
        gan = GAN(**arch, seed=seed)
        trainer = TorchGANTrainer(gan, x, gan.configure_optimizers(TrainConfig(lr=lr)), threads, impl)
        conn.send(("ok", None))
        for method, args in iter(conn.recv, None):
            result = getattr(trainer, method)(*args)
            conn.send(("ok", (result, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)))
    except Exception as exc:        # noqa: BLE001 (reported to the parent, which raises it)
        conn.send(("error", f"{type(exc).__name__}: {exc}"))


class TorchGANProcess(TorchProcess):
    """A :class:`TorchGANTrainer` in a child process, with ``epoch`` and ``sample``.

    The child loads the same MNIST images (the first ``limit``) and builds
    ``GAN(**arch, seed=seed)``: the parent's initial weights and noise state.
    """

    def __init__(self, arch, seed, lr, threads=2, limit=None, impl="default"):
        if not torch_available():
            import_torch()                  # raises the ConfigError that says how to install it
        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=_serve, args=(child, arch, seed, lr, threads, limit, impl), daemon=True)
        self._proc.start()
        self.peak_rss_mb = None
        self._answer()

    def sample(self, z):
        return self._call("sample", z)
