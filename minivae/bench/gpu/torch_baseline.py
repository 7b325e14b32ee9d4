"""The PyTorch CUDA eager baseline of the GPU benchmark (:mod:`minivae.bench.gpu.speed`).

The same pytorch/examples VAE in PyTorch eager, timed like minivae: step time
on a fixed batch and the time of a shuffled epoch with the data on the device.
PyTorch is imported only when :func:`bench_torch` runs.
"""
from __future__ import annotations

import statistics
import time

from .config import LR
from .timing import wall_per_call


def torch_trainer(torch, device, seed=0):
    """The same model in PyTorch eager: encoder 784-400 ReLU, heads 400-20, decoder 20-400 ReLU-784 logits."""
    nn = torch.nn
    torch.manual_seed(seed)

    class TorchVAE(nn.Module):
        def __init__(self):
            super().__init__()
            self.enc, self.mu, self.logvar = nn.Linear(784, 400), nn.Linear(400, 20), nn.Linear(400, 20)
            self.dec1, self.dec2 = nn.Linear(20, 400), nn.Linear(400, 784)

        def forward(self, x):
            h = torch.relu(self.enc(x))
            mu, logvar = self.mu(h), self.logvar(h)
            z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
            logits = self.dec2(torch.relu(self.dec1(z)))
            recon = nn.functional.binary_cross_entropy_with_logits(logits, x, reduction="sum")
            kl = 0.5 * torch.sum(mu * mu + logvar.exp() - logvar - 1)
            return (recon + kl) / x.shape[0]          # minivae's batch mean of the negative ELBO

    model = TorchVAE().to(device)
    opt = torch.optim.Adam(model.parameters(), lr=LR)

    def step(xb):
        opt.zero_grad(set_to_none=True)
        loss = model(xb)
        loss.backward()
        opt.step()
        return {"loss": loss.detach()}

    return step


def bench_torch(x_host, batch_sizes, steps, repeats, epochs, device="cuda"):
    """PyTorch eager step and epoch times per batch size, or {"error": why} when it cannot run."""
    try:
        import torch
    except ImportError as exc:
        return {"error": f"PyTorch is not installed ({exc})"}
    if device == "cuda" and not torch.cuda.is_available():
        return {"error": "PyTorch sees no CUDA device (a CPU-only build, or no GPU)"}
    device = torch.device(device)
    x_dev = torch.tensor(x_host, device=device)          # a copy (x_host may be read-only)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    out = {}
    for batch in batch_sizes:
        step = torch_trainer(torch, device)
        xb = x_dev[:batch]
        res = {"step_ms": 1e3 * wall_per_call(lambda: step(xb), sync, steps, repeats)}
        times = []
        for e in range(epochs):
            gen = torch.Generator(device=device).manual_seed(e)
            perm = torch.randperm(x_dev.shape[0], device=device, generator=gen)
            total = torch.zeros((), device=device)
            sync()
            t0 = time.perf_counter()
            for s in range(0, x_dev.shape[0], batch):
                idx = perm[s:s + batch]
                total += step(x_dev[idx])["loss"] * idx.shape[0]
            loss = float(total) / x_dev.shape[0]
            times.append(time.perf_counter() - t0)
        res["epoch_s"] = statistics.median(times)
        res["epoch_loss"] = loss
        out[batch] = res
    return out
