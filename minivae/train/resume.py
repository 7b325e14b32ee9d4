"""A run's state in a checkpoint: written after every epoch (and at a stop), read back to resume it exactly.

:func:`state_record` turns a :class:`TrainState` into a JSON-able record
and host arrays (the optimizers' moments, the best and last good weights,
the current epoch's order); :func:`restore_state` puts them back into the
state of a new run (``TrainState.start``), so that the resumed run draws
the same batches, eps and noise and takes the same steps as the one that
was interrupted: bit-identical weights on the CPU.
"""
from __future__ import annotations

import math

import numpy

from ..errors import CheckpointError


def _rng_state(rng):
    """A NumPy generator's state as JSON-able data; None for any other (CuPy's cannot be saved)."""
    return rng.bit_generator.state if isinstance(rng, numpy.random.Generator) else None


def state_record(state, backend):
    """(record, arrays): everything of ``state`` but the generators' objects, for a checkpoint."""
    host = backend.to_numpy
    arrays = {}
    for name, opt in state.optimizers.items():
        arrays.update({f"opt.{name}.{k}": host(v) for k, v in opt.state_dict().items() if k != "t"})
    for prefix, weights in (("best", state.best_params), ("good", state.last_good)):
        arrays.update({f"{prefix}.{k}": host(v) for k, v in (weights or {}).items()})
    if state.order is not None:
        arrays["order"] = numpy.asarray(state.order)
    record = {"epoch": state.epoch, "step": state.step, "seconds": state.seconds,
              "train_seconds": state.train_seconds, "sessions": state.sessions,
              "best_loss": None if math.isinf(state.best_loss) else state.best_loss, "best_epoch": state.best_epoch,
              "history": state.history, "base_lr": state.base_lr, "batch": state.batch,
              "sums": {k: float(v) for k, v in state.sums.items()}, "counts": dict(state.counts),
              "last": dict(state.last),
              "optimizers": {name: {"t": opt.t, "lr": opt.lr} for name, opt in state.optimizers.items()},
              "rngs": {k: _rng_state(r) for k, r in (("order", state.order_rng), ("noise", state.noise_rng),
                                                      ("model", state.model_rng))},
              "has_best": state.best_params is not None}
    return record, arrays


def restore_state(state, record, arrays, backend, source="checkpoint"):
    """Put a checkpoint's ``record`` and ``arrays`` back into ``state`` (a new run of the same model)."""
    for key, rng in (("order", state.order_rng), ("noise", state.noise_rng), ("model", state.model_rng)):
        saved = record["rngs"].get(key)
        if saved is None or not isinstance(rng, numpy.random.Generator):
            raise CheckpointError(f"{source}: the run's {key} generator was not saved (a CuPy generator cannot be): "
                                  "it cannot be resumed exactly")
        rng.bit_generator.state = saved
    if set(record["optimizers"]) != set(state.optimizers):
        raise CheckpointError(f"{source}: its run has the optimizers {sorted(record['optimizers'])}, this model "
                              f"makes {sorted(state.optimizers)}")
    for name, opt in state.optimizers.items():
        prefix = f"opt.{name}."
        opt.load_state_dict({"t": record["optimizers"][name]["t"],
                             **{k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}})
        opt.lr = record["optimizers"][name]["lr"]
    state.epoch, state.step, state.seconds = record["epoch"], record["step"], record["seconds"]
    state.train_seconds = record.get("train_seconds", record["seconds"])   # a run saved before it was kept
    state.sessions = list(record.get("sessions", []))
    state.best_loss = math.inf if record["best_loss"] is None else record["best_loss"]
    state.best_epoch, state.history, state.base_lr = record["best_epoch"], record["history"], record["base_lr"]
    weights = lambda prefix: {k[len(prefix):]: backend.asarray(v) for k, v in arrays.items()  # noqa: E731
                              if k.startswith(prefix)}
    state.best_params = weights("best.") if record["has_best"] else None
    state.last_good = weights("good.")
    state.order = arrays.get("order")
    state.batch, state.last = record["batch"], dict(record["last"])
    state.sums = {k: backend.xp.asarray(v, dtype="float64")[()] for k, v in record["sums"].items()}
    state.counts = dict(record.get("counts", {}))         # none before counts were kept: the loop fills them in
    return state


def load_run(model, config, path):
    """A :class:`TrainState` for ``model`` (its weights already loaded) that continues the run saved at ``path``."""
    from ..models.checkpoint import load_train_state
    from .state import TrainState

    saved = load_train_state(path)
    if saved is None:
        raise CheckpointError(f"{path}: no training state in it (written by save(), not by a training run); "
                              "it can be loaded, not resumed")
    return restore_state(TrainState.start(model, config), *saved, model.backend, source=str(path))
