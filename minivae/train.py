"""Training: minibatch Adam/SGD on the negative ELBO, with a history per epoch.

``fit`` owns its random generator (seeded; nothing global): it shuffles the
data, resamples dynamically binarized pixels and corrupts inputs for a
denoising VAE; the model's own generator draws eps. A NaN or inf loss stops
training with the epoch and batch named, and the model is put back to its
last good weights (the last checkpoint on disk is never overwritten by a
diverged model).
"""
from __future__ import annotations

import dataclasses
import math
import sys
import time

import numpy

from .backend import array_module
from .datasets import binarize, validate_images
from .errors import ConfigError, TrainingDivergedError
from .optim import make_optimizer


@dataclasses.dataclass
class TrainConfig:
    """Options of ``fit`` (all validated).

    time_budget: seconds of training (evaluation included); ``fit`` stops
    before an epoch that would end past it, predicting its length from the
    last epoch's training time.
    warmup_epochs: the KL weight rises linearly from 0 to beta over this many
    epochs (counted in steps). denoise: std of Gaussian input noise (pixels
    clipped to [0, 1]); mask_noise: probability of zeroing an input pixel.
    patience: stop when the validation loss has not improved for this many
    epochs, and keep the best weights (needs validation data).
    lr_schedule: ``"constant"``; ``"exponential"`` (lr * lr_decay**(steps /
    steps_per_epoch), so lr_decay per epoch, never below lr_min); or
    ``"cosine"`` from lr down to lr_min over the run, where the run's progress
    is the larger of the fraction of epochs done and the fraction of
    time_budget spent (see :func:`learning_rate`).
    eval_every: evaluate the validation/test data every this many epochs (and
    always after the last one).
    keep_best: end with the weights of the best validation loss (model
    selection; implied by patience; needs validation data).
    budget_clock: what time_budget (and a cosine schedule's progress) counts:
    ``"wall"`` seconds, or ``"cpu"`` seconds of this process
    (``time.process_time``, all threads), fairer on a machine shared with
    other jobs.
    """

    epochs: int = 10
    batch_size: int = 128
    lr: float = 1e-3
    optimizer: str = "adam"
    momentum: float = 0.0
    clip_norm: float | None = None
    binarize: bool = False
    warmup_epochs: float = 0.0
    denoise: float = 0.0
    mask_noise: float = 0.0
    time_budget: float | None = None
    patience: int | None = None
    seed: int = 0
    eval_batch_size: int = 1000
    lr_schedule: str = "constant"
    lr_min: float = 0.0
    lr_decay: float = 1.0
    eval_every: int = 1
    keep_best: bool = False
    budget_clock: str = "wall"

    def __post_init__(self):
        def need(ok, msg):
            if not ok:
                raise ConfigError(msg)
        need(isinstance(self.epochs, int) and self.epochs >= 1, f"epochs must be an integer >= 1, got {self.epochs!r}")
        need(isinstance(self.batch_size, int) and self.batch_size >= 1,
             f"batch_size must be an integer >= 1, got {self.batch_size!r}")
        need(self.lr > 0, f"lr must be > 0, got {self.lr!r}")
        need(self.warmup_epochs >= 0, f"warmup_epochs must be >= 0, got {self.warmup_epochs!r}")
        need(self.denoise >= 0, f"denoise (noise std) must be >= 0, got {self.denoise!r}")
        need(0 <= self.mask_noise < 1, f"mask_noise must be in [0, 1), got {self.mask_noise!r}")
        need(self.time_budget is None or self.time_budget > 0,
             f"time_budget must be > 0 seconds or None, got {self.time_budget!r}")
        need(self.patience is None or (isinstance(self.patience, int) and self.patience >= 1),
             f"patience must be an integer >= 1 or None, got {self.patience!r}")
        need(self.lr_schedule in LR_SCHEDULES,
             f"lr_schedule must be one of {LR_SCHEDULES}, got {self.lr_schedule!r}")
        need(0 <= self.lr_min <= self.lr, f"lr_min must be in [0, lr={self.lr}], got {self.lr_min!r}")
        need(0 < self.lr_decay <= 1, f"lr_decay (factor per epoch) must be in (0, 1], got {self.lr_decay!r}")
        need(self.budget_clock in ("wall", "cpu"), f"budget_clock must be 'wall' or 'cpu', got {self.budget_clock!r}")
        need(isinstance(self.eval_every, int) and self.eval_every >= 1,
             f"eval_every must be an integer >= 1, got {self.eval_every!r}")


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


def kl_weight(beta, step, warmup_steps):
    """Linear KL warm-up: beta * min(1, step / warmup_steps) (beta itself without warm-up)."""
    return beta if warmup_steps <= 0 else beta * min(1.0, step / warmup_steps)


def corrupt(x, rng, sigma=0.0, mask=0.0):
    """A denoising VAE's input: x + N(0, sigma^2) clipped to [0, 1], then pixels zeroed with probability mask."""
    xp = array_module(x)
    out = x.copy()
    if sigma > 0:
        out += sigma * rng.standard_normal(x.shape, dtype=x.dtype)
        xp.clip(out, 0, 1, out=out)
    if mask > 0:
        out *= rng.random(x.shape, dtype=x.dtype) >= mask
    return out


def evaluate(vae, x, y=None, batch_size=1000, seed=1234):
    """Test figures {loss, recon, kl} (nats per example), with eps from a fixed seed.

    Uses its own generator, so evaluating never changes the training stream.
    """
    rng = vae.backend.default_rng(seed)
    totals = {"loss": 0.0, "recon": 0.0, "kl": 0.0}
    n = x.shape[0]
    saved_rng, vae.rng = vae.rng, rng
    try:
        for s in range(0, n, batch_size):
            xb = x[s:s + batch_size]
            out = vae.loss(xb, y=None if y is None else y[s:s + batch_size], check=False)
            for k in totals:
                totals[k] += float(out[k]) * xb.shape[0]
    finally:
        vae.rng = saved_rng
    return {k: v / n for k, v in totals.items()}


class Progress:
    """A one-line progress bar on stderr (one line per epoch when not a terminal)."""

    def __init__(self, total, enabled=True, stream=sys.stderr):
        self.total, self.enabled, self.stream = total, enabled, stream
        self.tty = enabled and getattr(stream, "isatty", lambda: False)()
        self.last = 0.0

    def update(self, epoch, epochs, i, loss):
        now = time.perf_counter()
        if self.tty and (now - self.last > 0.2 or i == self.total):
            self.last = now
            done = int(30 * i / self.total)
            self.stream.write(f"\repoch {epoch}/{epochs} [{'#' * done}{'.' * (30 - done)}] "
                              f"{i}/{self.total}  loss {loss:8.3f}")
            self.stream.flush()

    def end_epoch(self, text):
        if self.enabled:
            self.stream.write(("\r" if self.tty else "") + text + " " * 10 + "\n")
            self.stream.flush()


def _snapshot(vae):
    return {k: v.copy() for k, v in vae.params.items()}


def _restore(vae, snapshot):
    for k, v in vae.params.items():
        v[...] = snapshot[k]


def fit(vae, train_x, test_x=None, train_y=None, test_y=None, val_x=None, val_y=None,
        config=None, progress=True, on_epoch_end=None, **options):
    """Train ``vae`` on ``train_x`` (N, D); return the history (one dict per epoch).

    Losses are the training objective per example: the negative ELBO with
    the current KL weight (warm-up), with the free-bits floor, or the negative
    K-sample bound -L_K for ``iwae_k = K > 1`` (``recon`` and ``kl`` are the
    plain terms; their sum is the -ELBO at beta = 1).
    Each history entry has ``epoch``, ``train_loss``, ``train_recon``,
    ``train_kl`` (running means over the epoch), ``beta`` (the KL weight at
    the epoch's end), ``lr`` (the learning rate of its last step),
    ``epoch_time_s`` (training only), and ``val_*`` /
    ``test_*`` figures when that data is given. ``on_epoch_end(entry, vae)``
    is called after each epoch (e.g. to write a checkpoint).
    ``options`` are :class:`TrainConfig` fields (or pass ``config``).
    """
    cfg = config or TrainConfig(**options)
    if config is not None and options:
        raise ConfigError("pass either config or keyword options to fit, not both")
    if (cfg.patience is not None or cfg.keep_best) and val_x is None:
        raise ConfigError("patience (early stopping) and keep_best need validation data: pass val_x")
    backend, xp = vae.backend, vae.xp
    like, d = vae.config.likelihood, vae.config.input_dim
    train_x = backend.asarray(train_x, dtype=vae.dtype)   # moved to the device once
    validate_images(train_x, d, like)
    evals = {}
    for name, x, y in (("val", val_x, val_y), ("test", test_x, test_y)):
        if x is not None:
            x = backend.asarray(x, dtype=vae.dtype)
            validate_images(x, d, like)
            evals[name] = (x, y)
    n = train_x.shape[0]
    if train_y is not None:
        train_y = numpy.asarray(train_y)
        if train_y.shape != (n,):
            raise ConfigError(f"train_y must have shape ({n},), got {train_y.shape}")
    opt_kwargs = {"lr": cfg.lr, "clip_norm": cfg.clip_norm}
    if cfg.optimizer == "sgd":
        opt_kwargs["momentum"] = cfg.momentum
    opt = make_optimizer(cfg.optimizer, vae.params, **opt_kwargs)
    rng = numpy.random.default_rng(cfg.seed)              # data order
    noise_rng = backend.default_rng(cfg.seed + 1)         # binarization and corruption
    steps_per_epoch = math.ceil(n / cfg.batch_size)
    warmup_steps = cfg.warmup_epochs * steps_per_epoch
    beta = vae.config.beta
    bar = Progress(steps_per_epoch, progress)
    history, good = [], _snapshot(vae)
    best = (math.inf, None, 0)                             # (val loss, weights, epoch)
    sync_every = 1 if backend.name == "numpy" else 50
    batch_buf = {}
    clock = time.process_time if cfg.budget_clock == "cpu" else time.perf_counter
    step, start = 0, clock()
    for epoch in range(1, cfg.epochs + 1):
        t0, c0 = time.perf_counter(), clock()
        sums = xp.zeros(3, dtype="float64")
        perm = rng.permutation(n)
        perm_dev = backend.asarray(perm)                  # one host-to-device copy per epoch
        for i, s in enumerate(range(0, n, cfg.batch_size), start=1):
            idx = perm[s:s + cfg.batch_size]
            nb = len(idx)
            if nb not in batch_buf:                       # one buffer per batch size, reused every step
                batch_buf[nb] = xp.empty((nb, d), dtype=vae.dtype)
            xb = xp.take(train_x, perm_dev[s:s + cfg.batch_size], axis=0, out=batch_buf[nb])
            if cfg.binarize:
                xb = binarize(xb, noise_rng, out=xb)
            xin = corrupt(xb, noise_rng, cfg.denoise, cfg.mask_noise) if (cfg.denoise or cfg.mask_noise) else xb
            vae.beta = kl_weight(beta, step, warmup_steps)
            if cfg.lr_schedule != "constant":
                progress = step / (cfg.epochs * steps_per_epoch)
                if cfg.time_budget is not None:
                    progress = max(progress, (clock() - start) / cfg.time_budget)
                opt.lr = learning_rate(cfg, step / steps_per_epoch, progress)
            out = vae.loss(xin, y=None if train_y is None else train_y[idx],
                           target=None if xin is xb else xb, check=False)
            for j, key in enumerate(("loss", "recon", "kl")):
                sums[j] += out[key] * xb.shape[0]
            if i % sync_every == 0 or i == steps_per_epoch:   # one host read per sync_every steps
                loss = float(out["loss"])
                if not math.isfinite(float(sums[0])):
                    _restore(vae, good)
                    vae.beta = beta
                    where = f"batch {i}" if sync_every == 1 else f"a batch in {max(1, i - sync_every + 1)}..{i}"
                    raise TrainingDivergedError(
                        f"the loss became NaN or infinite at epoch {epoch}, {where} of {steps_per_epoch}; the "
                        f"model was restored to its weights after epoch {epoch - 1} (the last checkpoint on disk "
                        "is kept). Try a smaller learning rate (--lr) or gradient clipping (--clip-norm).")
                bar.update(epoch, cfg.epochs, i, loss)
            vae.backward()
            opt.step(vae.grads)
            vae.apply_constraints()
            step += 1
        backend.synchronize()
        train = backend.to_numpy(sums) / n
        entry = {"epoch": epoch, "train_loss": float(train[0]), "train_recon": float(train[1]),
                 "train_kl": float(train[2]), "beta": vae.beta, "lr": opt.lr,
                 "epoch_time_s": time.perf_counter() - t0}
        # stop before an epoch that would end past the budget (predicted from this one's length)
        now = clock()
        out_of_time = cfg.time_budget is not None and (now - start) + (now - c0) > cfg.time_budget
        last = epoch == cfg.epochs or out_of_time
        if epoch % cfg.eval_every == 0 or last:
            for name, (x, y) in evals.items():
                for k, v in evaluate(vae, x, y, cfg.eval_batch_size).items():
                    entry[f"{name}_{k}"] = v
        history.append(entry)
        good = _snapshot(vae)
        bar.end_epoch(" ".join(f"{k} {v:.3g}" if k == "lr" else f"{k} {v:.3f}" if isinstance(v, float)
                               else f"{k} {v}" for k, v in entry.items() if k != "beta"))
        if on_epoch_end is not None:
            on_epoch_end(entry, vae)
        if "val_loss" in entry and entry["val_loss"] < best[0]:
            best = (entry["val_loss"], good, epoch)
        if cfg.patience is not None and epoch - best[2] >= cfg.patience:
            break
        if out_of_time:
            break
    vae.beta = beta
    if best[1] is not None and (cfg.patience is not None or cfg.keep_best):
        _restore(vae, best[1])              # model selection on the validation set
    return history
