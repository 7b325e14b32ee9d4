"""An exact count of the matrix-product FLOPs of one VAE training step.

For a dense layer y = x @ W + b with x: (N, D_in), W: (D_in, D_out):

    forward   y  = x W        2 N D_in D_out
    backward  dW = x^T dy     2 N D_in D_out
              dx = dy W^T     2 N D_in D_out   (not for the first layer: x is data)

Elementwise work (biases, activations, the loss, Adam) is not counted: the
share of the matrix-product peak measures how much of a step is spent in
anything but the products.
"""
from __future__ import annotations

import math


def layer_dims(vae):
    """[(D_in, D_out, needs dx)] for every dense layer of a VAE, in forward order."""
    enc = [(d.d_in, d.d_out) for d in vae.encoder.dense]
    heads = [(vae.mu_head.d_in, vae.mu_head.d_out), (vae.logvar_head.d_in, vae.logvar_head.d_out)]
    dec = [(d.d_in, d.d_out) for d in vae.decoder.dense]
    dims = [(i, o, k > 0) for k, (i, o) in enumerate(enc)]
    dims += [(i, o, bool(enc)) for i, o in heads]      # dh is needed only if an encoder layer follows
    dims += [(i, o, True) for i, o in dec]             # dz flows back into the heads
    return dims


def step_flops(vae, n):
    """Matrix-product FLOPs of loss + backward on a batch of n examples (iwae_k = 1)."""
    total = 0
    for d_in, d_out, needs_dx in layer_dims(vae):
        total += 2 * n * d_in * d_out * (3 if needs_dx else 2)
    return total


def epoch_flops(vae, n_examples, batch_size):
    """FLOPs of one epoch: full batches plus the last, smaller one."""
    full, rest = divmod(n_examples, batch_size)
    return full * step_flops(vae, batch_size) + (step_flops(vae, rest) if rest else 0)


def steps_per_epoch(n_examples, batch_size):
    return math.ceil(n_examples / batch_size)
