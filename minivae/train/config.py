"""The options of the training loop, validated in one place."""
from __future__ import annotations

import dataclasses

from ..errors import ConfigError, finite_number
from ..optim import OPTIMIZERS
from .schedules import LR_SCHEDULES


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
    checkpoint_every: with ``fit(out_dir=...)``, also write the checkpoint
    (and the run's state) every this many steps inside an epoch, so a kill
    loses at most that many steps (None: after every epoch only).
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
    checkpoint_every: int | None = None

    def __post_init__(self):
        def need(ok, msg):
            if not ok:
                raise ConfigError(msg)
        need(isinstance(self.epochs, int) and self.epochs >= 1, f"epochs must be an integer >= 1, got {self.epochs!r}")
        need(isinstance(self.batch_size, int) and self.batch_size >= 1,
             f"batch_size must be an integer >= 1, got {self.batch_size!r}")
        finite_number("lr", self.lr, "> 0", lambda v: v > 0)
        finite_number("warmup_epochs", self.warmup_epochs, ">= 0", lambda v: v >= 0)
        finite_number("denoise (noise std)", self.denoise, ">= 0", lambda v: v >= 0)
        finite_number("mask_noise", self.mask_noise, "in [0, 1)", lambda v: 0 <= v < 1)
        finite_number("momentum", self.momentum, "in [0, 1)", lambda v: 0 <= v < 1)
        if self.clip_norm is not None:
            finite_number("clip_norm", self.clip_norm, "> 0 (or None)", lambda v: v > 0)
        if self.time_budget is not None:
            finite_number("time_budget", self.time_budget, "> 0 seconds (or None: no budget)", lambda v: v > 0)
        need(self.patience is None or (isinstance(self.patience, int) and self.patience >= 1),
             f"patience must be an integer >= 1 or None, got {self.patience!r}")
        need(self.lr_schedule in LR_SCHEDULES,
             f"lr_schedule must be one of {LR_SCHEDULES}, got {self.lr_schedule!r}")
        finite_number("lr_min", self.lr_min, f"in [0, lr={self.lr}]", lambda v: 0 <= v <= self.lr)
        finite_number("lr_decay (factor per epoch)", self.lr_decay, "in (0, 1]", lambda v: 0 < v <= 1)
        need(self.budget_clock in ("wall", "cpu"), f"budget_clock must be 'wall' or 'cpu', got {self.budget_clock!r}")
        need(isinstance(self.eval_every, int) and self.eval_every >= 1,
             f"eval_every must be an integer >= 1, got {self.eval_every!r}")
        need(self.checkpoint_every is None or (isinstance(self.checkpoint_every, int) and self.checkpoint_every >= 1),
             f"checkpoint_every must be an integer >= 1 (steps) or None, got {self.checkpoint_every!r}")
        need(self.optimizer in OPTIMIZERS, f"optimizer must be one of {sorted(OPTIMIZERS)}, got {self.optimizer!r}")

    def optimizer_options(self):
        """Keyword arguments for the optimizer :attr:`optimizer` names (lr, clip_norm, and SGD's momentum)."""
        options = {"lr": self.lr, "clip_norm": self.clip_norm}
        if self.optimizer == "sgd":
            options["momentum"] = self.momentum
        return options
