"""``--resume RUN``: continue a stopped run of any training command, exactly where it stopped.

The run's checkpoint (``RUN/model.npz``, rewritten after every epoch and at a
Ctrl-C or SIGTERM; ``RUN`` may also name that file, or be ``runs/latest``) holds the weights, the
options the run was started with and its state (:mod:`minivae.train.resume`).
Resuming rebuilds the model (of the checkpoint's kind, which must be the
command's), the data and the options from it; an option given on the command
line that contradicts the saved run is refused, except ``--epochs``, which
may extend it. On the CPU the resumed run's weights and ``metrics.json``
(timings aside) are those of the run that was never interrupted.
"""
from __future__ import annotations

import dataclasses
import os
import sys

from ..datasets import load_data
from ..errors import ConfigError
from ..models.checkpoint import checkpoint_kind, load_checkpoint
from ..models.registry import load
from ..train import TrainConfig, load_run
from .common import run_folder
from .parser import given

#: options that may differ from the saved run's, or that the run does not record
FREE = {"resume", "epochs", "quiet", "no_figures", "out", "overwrite", "samples"}
#: command-line destinations whose saved name differs
SAVED_AS = {"min_logvar": "min_obs_logvar"}
#: the command that trains each kind of model
COMMAND_OF = {"vae": "train", "vae2": "train", "gan": "gan", "vaegan": "vaegan", "vqvae": "vqvae", "ae": "ae"}


def resume_run(a, kind):
    """(model, train, val, test, config, info, state) of the ``kind`` run saved in ``a.resume``, checked against ``a``.

    ``a.out`` becomes the run's folder (:func:`minivae.cli.common.run_folder`).
    """
    options = given(a)
    out = a.out if "out" in options else None
    folder = run_folder(a)                           # the run's folder, checked: it holds a model.npz
    if out is not None and os.path.realpath(out) != os.path.realpath(folder):
        raise ConfigError(f"--out {out}: a resumed run goes on in its own folder, --resume {a.resume}")
    path = os.path.join(folder, "model.npz")
    saved = checkpoint_kind(path)
    if saved != kind:
        other = COMMAND_OF.get(saved)
        raise ConfigError(f"--resume {a.resume}: a {saved!r} run, not a {kind!r} one"
                          + (f"; resume it with `python -m minivae {other} --resume {a.resume}`" if other else ""))
    info = load_checkpoint(path)[2]
    conflicts = []
    for dest in sorted(options - FREE):
        key = SAVED_AS.get(dest, dest)
        mine = getattr(a, dest, None)
        mine = list(mine) if isinstance(mine, (list, tuple)) else mine
        if key in info and mine != info[key] and not (dest == "train_size" and mine is None):
            conflicts.append(f"--{dest.replace('_', '-')} {mine} (the run has {info[key]})")
    if conflicts:
        raise ConfigError(f"--resume {a.resume}: these options contradict the saved run: {', '.join(conflicts)}; "
                          "leave them out (only --epochs may change, to extend the run)")
    if "epochs" in options:
        info["epochs"] = a.epochs                      # metrics.json's config says the extended count
    cfg = TrainConfig(**{f.name: info[f.name] for f in dataclasses.fields(TrainConfig) if f.name in info})
    model = load(path, backend=info.get("backend", "numpy"))
    train, val, test = load_data(info["dataset"], info.get("data_dir"), cfg.binarize, info["train_size"],
                                 info.get("val_size", 0), info["seed"])
    test = test.first(info["test_size"])
    state = load_run(model, cfg, path)
    if state.epoch >= cfg.epochs and not a.quiet:
        print(f"note: {folder} has trained its {state.epoch} epochs: nothing to train (pass --epochs N > "
              f"{state.epoch} to go on); scoring it again", file=sys.stderr)
    return model, train, val, test, cfg, info, state
