"""The model every part of the GPU benchmark (:mod:`minivae.bench.gpu.speed`) trains or sizes its arrays by.

The pytorch/examples VAE (784-400-20, ReLU, Bernoulli decoder) and its Adam
learning rate, shared by the minivae timings, the PyTorch baseline and the
kernel cases.
"""
from __future__ import annotations

CONFIG = dict(input_dim=784, hidden_dims=(400,), latent_dim=20, activation="relu", likelihood="bernoulli")
LR = 1e-3
