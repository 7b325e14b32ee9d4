"""Schedules of a run: the learning rate and the KL warm-up, as functions of its progress."""
from __future__ import annotations

import math

LR_SCHEDULES = ("constant", "exponential", "cosine")


def learning_rate(cfg, epochs_done, progress):
    """The learning rate after ``epochs_done`` (fractional) epochs, at ``progress`` in [0, 1] of the run.

    constant:     lr
    exponential:  max(lr_min, lr * lr_decay ** epochs_done)
    cosine:       lr_min + (lr - lr_min) (1 + cos(pi * progress)) / 2
    """
    if cfg.lr_schedule == "exponential":
        return max(cfg.lr_min, cfg.lr * cfg.lr_decay ** epochs_done)
    if cfg.lr_schedule == "cosine":
        t = min(1.0, max(0.0, progress))
        return cfg.lr_min + (cfg.lr - cfg.lr_min) * 0.5 * (1 + math.cos(math.pi * t))
    return cfg.lr


def warmup_fraction(step, warmup_steps):
    """Linear warm-up: min(1, step / warmup_steps), 1 from the first step without warm-up."""
    return 1.0 if warmup_steps <= 0 else min(1.0, step / warmup_steps)


def kl_weight(beta, step, warmup_steps):
    """Linear KL warm-up: beta * min(1, step / warmup_steps) (beta itself without warm-up)."""
    return beta * warmup_fraction(step, warmup_steps)
