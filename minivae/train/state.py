"""The state of a run: everything but the model's weights, in one object.

A run is reproducible from its seed, and everything it carries from one
step to the next is in this object: where the run is (epoch, step, the
budget spent), every random generator it draws from, the optimizers
(moments and step counts), the best weights so far and the history. Passed
back to ``fit``, it continues the run exactly; written into the checkpoint
(:mod:`minivae.train.resume`), it continues the run after a kill.
"""
from __future__ import annotations

import dataclasses
import math

import numpy


@dataclasses.dataclass
class TrainState:
    """Where a run of ``fit`` is, and everything it needs to go on.

    epoch, step: epochs finished and optimizer steps taken (the schedules'
    position); seconds: time spent on the budget's clock; train_seconds:
    wall-clock seconds inside ``fit``, over every session (what
    metrics.json reports); sessions: the provenance of each session that
    wrote the run to a folder (:func:`minivae.train.run_record.provenance`); order_rng: the
    data order (a NumPy generator); noise_rng: binarization and corruption
    (the model's backend); model_rng: the model's own generator (eps,
    prior samples), the very object ``model.rng``; optimizers: what
    ``model.configure_optimizers`` made, by name; base_lr: each optimizer's
    learning rate before any schedule; best_loss, best_epoch, best_params:
    model selection on the validation loss; last_good: the weights after
    the last finished epoch (what a diverged run falls back to); history:
    one dict per finished epoch; order, batch, sums, counts, last: inside an
    epoch (a run stopped between two steps), its data order, the batches
    done, the running sums of its metrics with the examples each covers (a
    GAN's generator loss comes every n_critic steps) and its step values.
    """

    order_rng: object
    noise_rng: object
    model_rng: object
    optimizers: dict
    base_lr: dict
    epoch: int = 0
    step: int = 0
    seconds: float = 0.0
    train_seconds: float = 0.0
    sessions: list = dataclasses.field(default_factory=list)
    best_loss: float = math.inf
    best_epoch: int = 0
    best_params: dict | None = None
    last_good: dict | None = None
    history: list = dataclasses.field(default_factory=list)
    order: object = None
    batch: int = 0
    sums: dict = dataclasses.field(default_factory=dict)
    counts: dict = dataclasses.field(default_factory=dict)
    last: dict = dataclasses.field(default_factory=dict)

    @classmethod
    def start(cls, model, config):
        """A new run of ``model`` with the options ``config``: generators seeded from config.seed."""
        optimizers = model.configure_optimizers(config)
        return cls(order_rng=numpy.random.default_rng(config.seed),
                   noise_rng=model.backend.default_rng(config.seed + 1),
                   model_rng=getattr(model, "rng", None), optimizers=optimizers,
                   base_lr={name: opt.lr for name, opt in optimizers.items()},
                   last_good=snapshot(model))

    def set_lr_factor(self, factor):
        """Every optimizer's learning rate: its base rate times ``factor`` (a schedule's value)."""
        for name, opt in self.optimizers.items():
            opt.lr = self.base_lr[name] * factor


def snapshot(model):
    """Copies of the model's parameters, by name."""
    return {k: v.copy() for k, v in model.params.items()}


def restore(model, weights):
    """Write the snapshot ``weights`` back into the model's parameters."""
    for k, v in model.params.items():
        v[...] = weights[k]
