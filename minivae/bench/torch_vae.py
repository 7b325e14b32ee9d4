"""The same VAE in PyTorch eager, for ``bench --vs torch``, in a process of its own.

The architecture, initial weights (copied from the minivae model), data
order, batch size, loss (batch mean of the negative ELBO with a Bernoulli
decoder on logits) and optimizer (Adam) are minivae's. PyTorch is not a
dependency of minivae: :func:`import_torch` says how to get it.

PyTorch runs in a child process (:class:`TorchProcess`) that the benchmark
asks for one epoch at a time, alternating with minivae's epochs. In one
process, the two libraries' thread pools (OpenBLAS's and PyTorch's OpenMP
threads) spin-wait for work after every call and take the CPUs from each
other; apart, and with a short pause before each timed epoch so that the
other side's threads have gone to sleep, each gets the whole machine.
"""
from __future__ import annotations

import importlib.util
import multiprocessing
import resource
import time
import warnings

import numpy

from ..errors import ConfigError


def import_torch():
    try:
        import torch
    except ImportError as exc:
        raise ConfigError("--vs torch needs PyTorch, which minivae does not depend on: "
                          "pip install torch (the CPU build is enough)") from exc
    return torch


def gather(torch, x_t, idx, bufs):
    """x_t[idx] into a buffer kept per batch size in ``bufs`` (index_select with out=: no allocation per step)."""
    n = len(idx)
    if n not in bufs:
        bufs[n] = torch.empty((n, x_t.shape[1]), dtype=x_t.dtype)
    return torch.index_select(x_t, 0, idx, out=bufs[n])


ACTS = {"relu": "ReLU", "tanh": "Tanh", "sigmoid": "Sigmoid", "leaky_relu": "LeakyReLU"}


def _mlp(torch, layers, act, final_act):
    """nn.Sequential of Linear layers (weights from minivae's Dense) with activations."""
    mods = []
    for i, d in enumerate(layers):
        lin = torch.nn.Linear(d.d_in, d.d_out)
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(numpy.ascontiguousarray(d.params["W"].T)))  # torch: (D_out, D_in)
            lin.bias.copy_(torch.from_numpy(numpy.array(d.params["b"])))
        mods.append(lin)
        if i < len(layers) - 1 or final_act:
            mods.append(getattr(torch.nn, ACTS[act])())
    return torch.nn.Sequential(*mods)


class TorchTrainer:
    """minivae's VAE rebuilt in PyTorch, with its Adam (``adam``: default, foreach or fused)."""

    name = "torch"

    def __init__(self, vae, x, x_test, lr=1e-3, adam="default", threads=2):
        torch = self.torch = import_torch()
        torch.set_num_threads(threads)
        act = vae.config.activation
        if act not in ACTS:
            raise ConfigError(f"--vs torch supports activations {sorted(ACTS)}, not {act!r}")
        self.enc = _mlp(torch, vae.encoder.dense, act, final_act=True)
        self.mu = _mlp(torch, [vae.mu_head], act, final_act=False)
        self.logvar = _mlp(torch, [vae.logvar_head], act, final_act=False)
        self.dec = _mlp(torch, vae.decoder.dense, act, final_act=False)
        self.beta = vae.config.beta
        params = [p for m in (self.enc, self.mu, self.logvar, self.dec) for p in m.parameters()]
        kwargs = {} if adam == "default" else {adam: True}
        self.opt = torch.optim.Adam(params, lr=lr, **kwargs)
        self.x, self.x_test = self.tensor(x), self.tensor(x_test)
        self._bufs = {}

    def loss(self, x, eps=None):
        """Batch mean of BCE(logits, x) + beta KL, as minivae's ``loss`` (pytorch/examples' VAE)."""
        torch, F = self.torch, self.torch.nn.functional
        h = self.enc(x)
        mu, logvar = self.mu(h), self.logvar(h)
        eps = torch.randn_like(mu) if eps is None else eps
        z = mu + torch.exp(0.5 * logvar) * eps
        logits = self.dec(z)
        bce = F.binary_cross_entropy_with_logits(logits, x, reduction="sum")
        kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
        return (bce + self.beta * kld) / x.shape[0]

    def tensor(self, x):
        """A torch view of a NumPy array (no copy; read-only arrays are fine: torch only reads it)."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)      # "the given NumPy array is not writable"
            return self.torch.from_numpy(x)

    def epoch(self, order, batch_size):
        """One pass over x[order]: gather (index_select into a buffer), loss, backward, Adam step."""
        torch, total, x_t = self.torch, 0.0, self.x
        order_t = torch.from_numpy(order)
        t0 = time.perf_counter()
        for s in range(0, len(order), batch_size):
            xb = gather(torch, x_t, order_t[s:s + batch_size], self._bufs)
            self.opt.zero_grad(set_to_none=True)
            loss = self.loss(xb)
            loss.backward()
            self.opt.step()
            total += loss.item() * len(xb)
        return time.perf_counter() - t0, total / len(order)

    def test_loss(self, eps, batch_size=500):
        torch, total, x_t = self.torch, 0.0, self.x_test
        with torch.no_grad():
            for s in range(0, x_t.shape[0], batch_size):
                xb = x_t[s:s + batch_size]
                total += float(self.loss(xb, torch.from_numpy(eps[s:s + batch_size]))) * xb.shape[0]
        return total / x_t.shape[0]


def torch_available():
    """Whether ``import torch`` would find PyTorch (without importing it here)."""
    try:
        return importlib.util.find_spec("torch") is not None
    except (ImportError, ValueError):
        return False


def _serve(conn, arch, seed, lr, adam, threads, limit, test_limit):
    """The child process: build the TorchTrainer, then answer (method, args) requests until None."""
    try:
        from ..models.vae import VAE
        from .workload import load_data

        x, x_test, _ = load_data(limit, test_limit)
        trainer = TorchTrainer(VAE(**arch, seed=seed), x, x_test, lr=lr, adam=adam, threads=threads)
        conn.send(("ok", None))
        for request in iter(conn.recv, None):
            method, args = request
            result = getattr(trainer, method)(*args)
            conn.send(("ok", (result, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)))
    except Exception as exc:        # noqa: BLE001 (reported to the parent, which raises it)
        conn.send(("error", f"{type(exc).__name__}: {exc}"))


class TorchProcess:
    """A :class:`TorchTrainer` in a child process, with the same ``epoch`` and ``test_loss``.

    The child loads the same MNIST arrays and builds the same initial
    weights from ``arch`` and ``seed``; each call sends the epoch's order (or
    the test eps) and waits for the answer. ``peak_rss_mb``: the child's.
    """

    name = "torch"

    def __init__(self, arch, seed, lr=1e-3, adam="default", threads=2, limit=None, test_limit=None):
        if not torch_available():
            import_torch()                  # raises the ConfigError that says how to install it
        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=_serve, args=(child, arch, seed, lr, adam, threads, limit, test_limit),
                                 daemon=True)
        self._proc.start()
        self.peak_rss_mb = None
        self._answer()

    def _answer(self):
        try:
            status, value = self._conn.recv()
        except (EOFError, ConnectionError):
            self._proc.join(5)
            status, value = "error", f"it ended without an answer (exit code {self._proc.exitcode})"
        if status != "ok":
            self.close()
            raise ConfigError(f"the PyTorch process failed: {value}")
        return value

    def _call(self, method, *args):
        try:
            self._conn.send((method, args))
        except OSError:                     # the child is gone: _answer says so
            pass
        result, self.peak_rss_mb = self._answer()
        return result

    def epoch(self, order, batch_size):
        return self._call("epoch", order, batch_size)

    def test_loss(self, eps):
        return self._call("test_loss", eps)

    def close(self):
        if self._proc.is_alive():
            try:
                self._conn.send(None)
            except (BrokenPipeError, OSError):
                pass
            self._proc.join(10)
        if self._proc.is_alive():
            self._proc.terminate()
