"""The training loop, written once for every model.

``fit`` knows nothing of what it trains. It owns the data order, the
batches (gathered into reused buffers, dynamically binarized, corrupted for
a denoising model), the learning-rate schedule and the warm-up, the progress
bar, the time budget, the NaN guard, evaluation, early stopping and model
selection, checkpoints and the history; a model owns its training step.
What ``fit`` asks of a model (:class:`minivae.VAE` has it all):

    model.backend, model.params                  where arrays live; the weights to snapshot
    model.check_data(x, y=None, name)            validate a dataset, move it to the backend
    model.configure_optimizers(config)           {name: optimizer}, one or several
    model.train_step(batch, optimizers)          forward, backward, every update: {metric: value}
    model.eval_step(batch)                       {metric: value} on held-out data ("loss" first)
    model.save(path, extra)                      when ``out_dir`` is given
    model.step_values                            (optional) metrics kept as their last value, not a mean

A GAN's ``train_step`` (k discriminator steps, then a generator step, two
optimizers) or a VAE-GAN's (three losses, three parameter groups) fits the
same seam. The run's state (epoch, step, generators, optimizers, best
weights, history) is one :class:`minivae.train.TrainState`.

What a caller adds to the loop, without patching the model: callbacks,
objects with ``on_step(step, metrics, model)`` and/or
``on_epoch_end(entry, model)`` (e.g. :class:`minivae.train.StepLog`).
"""
from __future__ import annotations

import dataclasses
import math
import os
import time

import numpy

from ..errors import ConfigError, NonFiniteGradientError, TrainingDivergedError, TrainingInterrupted
from .batches import Batch, BatchMaker
from .config import TrainConfig
from .progress import Progress
from .resume import state_record
from .run_record import provenance, write_metrics
from .schedules import learning_rate, warmup_fraction
from .state import TrainState, restore, snapshot
from .stop import StopOnSignal


def evaluate(model, x, y=None, batch_size=1000, seed=1234):
    """Mean test figures of ``model.eval_step`` over x (nats per example for a VAE), eps from a fixed seed.

    Uses its own generator, so evaluating never changes the training stream.
    """
    totals, n = {}, x.shape[0]
    saved, model.rng = model.rng, model.backend.default_rng(seed)
    try:
        for s in range(0, n, batch_size):
            xb = x[s:s + batch_size]
            out = model.eval_step(Batch(x=xb, target=xb, y=None if y is None else y[s:s + batch_size]))
            for k, v in out.items():
                totals[k] = totals.get(k, 0.0) + float(v) * xb.shape[0]
    finally:
        model.rng = saved
    return {k: v / n for k, v in totals.items()}


def fit(model, train_x, test_x=None, train_y=None, test_y=None, val_x=None, val_y=None,
        config=None, progress=True, on_epoch_end=None, out_dir=None, extra=None, state=None, callbacks=(),
        **options):
    """Train ``model`` on ``train_x`` (N, D); return the history (one dict per epoch).

    Each history entry has ``epoch``, ``train_<metric>`` for each metric of
    ``train_step`` (running means over the epoch's steps that report it; for a VAE ``train_loss``,
    ``train_recon``, ``train_kl``: the training objective per example and
    its plain terms), the value at the epoch's end of each of the model's
    ``step_values`` (a VAE's KL weight ``beta``), ``lr`` (the learning rate
    of its last step), ``epoch_time_s`` (training only), and
    ``val_<metric>`` / ``test_<metric>`` figures when that data is given.
    Evaluation (``model.eval_step``) scores the full objective, at the full
    KL weight even during a warm-up, so that validation losses compare
    across epochs (early stopping, ``keep_best``).
    ``callbacks``: objects with ``on_step(step, metrics, model)`` (after
    each optimizer step: the steps taken so far and what ``train_step``
    returned, not yet read to the host) and/or ``on_epoch_end(entry, model)``
    (after each epoch, before its checkpoint is written), called in order;
    ``on_epoch_end(entry, model)``, a plain function, is called after them.
    With ``out_dir``, ``model.npz`` (with ``extra`` stored in it) and
    ``metrics.json`` (the history so far) are rewritten there after every
    epoch, and once more at the end (after model selection);
    ``metrics.json`` has the layout of :mod:`minivae.train.run_record`
    (``{"kind", "provenance", "config": {TrainConfig's fields, **extra},
    "history", "final": {"epochs", "train_seconds", "sessions"}}``), its
    totals over every session of the run.
    ``state``: a :class:`TrainState` to continue (its epoch, step,
    generators, optimizers, best weights and history), e.g. one made by
    ``TrainState.start(model, config)`` and passed to an earlier ``fit``;
    it is updated in place. ``options`` are :class:`TrainConfig` fields (or
    pass ``config``).
    """
    if config is not None and options:
        raise ConfigError("pass either config or keyword options to fit, not both")
    cfg = config or TrainConfig(**options)
    if (cfg.patience is not None or cfg.keep_best) and val_x is None:
        raise ConfigError("patience (early stopping) and keep_best need validation data: pass val_x")
    shape = numpy.shape(train_x)
    n = shape[0] if shape else 0
    if train_y is not None:
        train_y = numpy.asarray(train_y)
        if train_y.shape != (n,):
            raise ConfigError(f"train_y must have shape ({n},) (one label per training image), got {train_y.shape}")
    train_x = model.check_data(train_x, train_y, "train_x")     # validated, and moved to the device once
    evals = {name: (model.check_data(x, y, f"{name}_x"), y)
             for name, x, y in (("val", val_x, val_y), ("test", test_x, test_y)) if x is not None}
    state = TrainState.start(model, cfg) if state is None else state
    if out_dir is not None:
        state.sessions.append(provenance(model.backend, from_epoch=state.epoch))
    callbacks = [*callbacks, *([_EpochEnd(on_epoch_end)] if on_epoch_end is not None else [])]
    clock = time.process_time if cfg.budget_clock == "cpu" else time.perf_counter
    run = _Run(model=model, state=state, cfg=cfg, evals=evals,
               batches=BatchMaker(train_x, train_y, cfg, state.noise_rng, model.backend),
               bar=Progress(math.ceil(n / cfg.batch_size), progress), clock=clock, start=clock() - state.seconds,
               wall_start=time.perf_counter() - state.train_seconds,
               on_step=[cb.on_step for cb in callbacks if hasattr(cb, "on_step")],
               on_epoch_end=[cb.on_epoch_end for cb in callbacks if hasattr(cb, "on_epoch_end")],
               out_dir=out_dir, extra=extra)
    with StopOnSignal() as run.stop:
        _run_epochs(run)
    return state.history


@dataclasses.dataclass
class _Run:
    """One call of ``fit``: what its helpers share (the model, its state and options, the data, the clocks)."""

    model: object
    state: TrainState
    cfg: TrainConfig
    evals: dict                     # {"val"/"test": (x on the device, y)}
    batches: BatchMaker
    bar: Progress
    clock: object                   # the budget's clock (wall or CPU seconds)
    start: float                    # clock() when the run would have started, had it never stopped
    wall_start: float               # the same on the wall clock (time.perf_counter)
    on_step: list                   # the callbacks' on_step(step, metrics, model)
    on_epoch_end: list              # the callbacks' on_epoch_end(entry, model)
    out_dir: object = None
    extra: dict | None = None
    stop: object = None             # the StopOnSignal of this call

    def spent(self):
        """Seconds on the budget's clock, over every session of the run."""
        return self.clock() - self.start

    def count_time(self):
        """Bring the state's budget seconds and wall-clock training seconds up to now."""
        self.state.seconds, self.state.train_seconds = self.spent(), time.perf_counter() - self.wall_start

    def save(self):
        """The checkpoint and metrics.json, when the run has a folder."""
        if self.out_dir is not None:
            write_run(self.model, self.state, self.cfg, self.out_dir, self.extra)


class _EpochEnd:
    """A plain ``on_epoch_end(entry, model)`` function as a callback."""

    def __init__(self, fn):
        self.on_epoch_end = fn


def _run_epochs(run):
    model, state, cfg = run.model, run.state, run.cfg
    for epoch in range(state.epoch + 1, cfg.epochs + 1):
        t0, c0 = time.perf_counter(), run.clock()
        try:
            entry = {"epoch": epoch, **_train_epoch(run)}
        except _Stopped:
            run.count_time()
            run.save()
            raise TrainingInterrupted(run.stop.signal, state.epoch + 1, state.batch, run.out_dir) from None
        entry["lr"] = next(iter(state.optimizers.values())).lr
        if len(state.optimizers) > 1:
            entry.update({f"lr_{name}": opt.lr for name, opt in state.optimizers.items()})
        entry["epoch_time_s"] = time.perf_counter() - t0
        # stop before an epoch that would end past the budget (predicted from this one's length)
        now = run.clock()
        run.count_time()
        out_of_time = cfg.time_budget is not None and state.seconds + (now - c0) > cfg.time_budget
        last = epoch == cfg.epochs or out_of_time
        if epoch % cfg.eval_every == 0 or last:
            for name, (x, y) in run.evals.items():
                entry.update({f"{name}_{k}": v for k, v in evaluate(model, x, y, cfg.eval_batch_size).items()})
        state.epoch = epoch
        state.history.append(entry)
        state.last_good = snapshot(model)
        run.bar.end_epoch(" ".join(f"{k} {v:.3g}" if k.startswith("lr") else f"{k} {v:.3f}" if isinstance(v, float)
                                   else f"{k} {v}" for k, v in entry.items() if k not in _step_values(model)))
        for callback in run.on_epoch_end:
            callback(entry, model)
        if "val_loss" in entry and entry["val_loss"] < state.best_loss:
            state.best_loss, state.best_params, state.best_epoch = entry["val_loss"], state.last_good, epoch
        run.save()
        if (cfg.patience is not None and epoch - state.best_epoch >= cfg.patience) or out_of_time:
            break
        if run.stop.signal is not None:
            raise TrainingInterrupted(run.stop.signal, epoch, 0, run.out_dir)
    if state.best_params is not None and (cfg.patience is not None or cfg.keep_best):
        restore(model, state.best_params)              # model selection on the validation set
        run.count_time()
        run.save()


def _step_values(model):
    return tuple(getattr(model, "step_values", ()))


def _train_epoch(run):
    """One pass over the data in a new order; returns the epoch's train_* means and step values."""
    model, state, cfg, batches, bar = run.model, run.state, run.cfg, run.batches, run.bar
    backend, xp, n = model.backend, model.backend.xp, batches.x.shape[0]
    steps = math.ceil(n / cfg.batch_size)
    warmup_steps = cfg.warmup_epochs * steps
    keep_last = _step_values(model)
    sync_every = 1 if backend.name == "numpy" else 50  # one host read per sync_every steps
    if state.order is None:                             # a new epoch (else: one stopped between two steps)
        state.order, state.batch, state.sums, state.counts, state.last = state.order_rng.permutation(n), 0, {}, {}, {}
    for k in state.sums.keys() - state.counts.keys():   # a run saved before counts: every step had every metric
        state.counts[k] = min(state.batch * cfg.batch_size, n)
    perm, sums, counts, last = state.order, state.sums, state.counts, state.last
    perm_dev = backend.asarray(perm)                    # one host-to-device copy per epoch
    for i in range(state.batch + 1, steps + 1):
        s = (i - 1) * cfg.batch_size
        if cfg.lr_schedule != "constant":
            progress = state.step / (cfg.epochs * steps)
            if cfg.time_budget is not None:
                progress = max(progress, run.spent() / cfg.time_budget)
            state.set_lr_factor(learning_rate(cfg, state.step / steps, progress) / cfg.lr)
        idx = perm[s:s + cfg.batch_size]
        batch = batches(idx, perm_dev[s:s + cfg.batch_size], warmup_fraction(state.step, warmup_steps))
        try:
            out = model.train_step(batch, state.optimizers)
        except NonFiniteGradientError as exc:
            restore(model, state.last_good)
            raise TrainingDivergedError(_diverged(state, f"batch {i}", steps, f" ({exc})")) from exc
        state.step, state.batch = state.step + 1, i
        for callback in run.on_step:
            callback(state.step, out, model)
        for k, v in out.items():
            if k in keep_last:
                last[k] = v
            elif k in sums:
                sums[k] += v * len(idx)
                counts[k] += len(idx)
            else:
                sums[k] = xp.zeros((), dtype="float64") + v * len(idx)
                counts[k] = len(idx)
        if i % sync_every == 0 or i == steps:
            if not all(math.isfinite(float(v)) for v in sums.values()):
                restore(model, state.last_good)
                where = f"batch {i}" if sync_every == 1 else f"a batch in {max(1, i - sync_every + 1)}..{i}"
                raise TrainingDivergedError(_diverged(state, where, steps))
            bar.update(state.epoch + 1, cfg.epochs, i, float(out.get("loss", next(iter(out.values()), math.nan))))
        if run.stop.signal is not None and i < steps:
            raise _Stopped
        if run.out_dir is not None and cfg.checkpoint_every and state.step % cfg.checkpoint_every == 0 and i < steps:
            run.count_time()
            run.save()                                  # the run as it is between two steps of this epoch
    backend.synchronize()
    state.order = None
    return {**{f"train_{k}": float(v) / counts[k] for k, v in sums.items()}, **{k: float(v) for k, v in last.items()}}


def _diverged(state, where, steps, cause=""):
    return (f"the loss became NaN or infinite at epoch {state.epoch + 1}, {where} of {steps}{cause}; the model "
            f"was restored to its weights after epoch {state.epoch} (the last checkpoint on disk is kept). "
            "Try a smaller learning rate (--lr) or gradient clipping (--clip-norm).")


class _Stopped(Exception):
    """Raised between two steps of an epoch when a stop signal came."""


def write_run(model, state, cfg, out_dir, extra=None):
    """``model.npz`` (weights and the run's state; the one before kept as ``model.prev.npz``) and
    ``metrics.json`` (:mod:`minivae.train.run_record`: options, history and totals so far) into ``out_dir``,
    each atomically."""
    os.makedirs(out_dir, exist_ok=True)
    model.save(os.path.join(out_dir, "model.npz"), extra, train_state=state_record(state, model.backend),
               keep_previous=True)
    write_metrics(out_dir, model, state, cfg, extra)
