"""The same VAE in PyTorch eager, for ``bench --vs torch``.

The architecture, initial weights (copied from the minivae model), data
order, batch size, loss (batch mean of the negative ELBO with a Bernoulli
decoder on logits) and optimizer (Adam) are minivae's. PyTorch is not a
dependency of minivae: :func:`import_torch` says how to get it.
"""
from __future__ import annotations

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

    def __init__(self, vae, lr=1e-3, adam="default", threads=2):
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

    def epoch(self, x_t, order, batch_size):
        """One pass over x_t[order]: gather (index_select into a buffer), loss, backward, Adam step."""
        torch, total = self.torch, 0.0
        order_t = torch.from_numpy(order)
        t0 = time.perf_counter()
        for s in range(0, len(order), batch_size):
            idx = order_t[s:s + batch_size]
            n = len(idx)
            if n not in self._bufs:
                self._bufs[n] = torch.empty((n, x_t.shape[1]), dtype=x_t.dtype)
            xb = torch.index_select(x_t, 0, idx, out=self._bufs[n])
            self.opt.zero_grad(set_to_none=True)
            loss = self.loss(xb)
            loss.backward()
            self.opt.step()
            total += loss.item() * n
        return time.perf_counter() - t0, total / len(order)

    def test_loss(self, x_t, eps, batch_size=500):
        torch, total = self.torch, 0.0
        with torch.no_grad():
            for s in range(0, x_t.shape[0], batch_size):
                xb = x_t[s:s + batch_size]
                total += float(self.loss(xb, torch.from_numpy(eps[s:s + batch_size]))) * xb.shape[0]
        return total / x_t.shape[0]
