"""``python -m minivae train --resume DIR``: continue the run saved in DIR, exactly where it stopped.

The run's checkpoint (``DIR/model.npz``, rewritten after every epoch and at a
Ctrl-C or SIGTERM) holds the weights, the options the run was started with
and its state (:mod:`minivae.train.resume`). Resuming rebuilds the model,
the data and the options from it; an option given on the command line that
contradicts the saved run is refused, except ``--epochs``, which may extend
it. On the CPU the resumed run's weights and ``metrics.json`` (timings
aside) are those of the run that was never interrupted.
"""
from __future__ import annotations

import dataclasses
import os

from ..models.checkpoint import load_checkpoint
from ..datasets import load_data
from ..errors import ConfigError
from ..train import TrainConfig, load_run
from ..models.vae import VAE

#: options that may differ from the saved run's, or that the run does not record
FREE = {"resume", "epochs", "quiet", "no_figures", "out"}
#: command-line destinations whose saved name differs
SAVED_AS = {"min_logvar": "min_obs_logvar"}


def given_options(parser, argv):
    """The destinations of the options that appear in ``argv`` (not those left at their defaults)."""
    given = set()
    for action in parser._actions:
        for opt in action.option_strings:
            if any(t == opt or t.startswith(opt + "=") for t in argv):
                given.add(action.dest)
    return given


def resume_run(a, given):
    """(vae, train, val, test, config, info, state) of the run saved in ``a.resume``, checked against ``a``."""
    path = os.path.join(a.resume, "model.npz")
    if not os.path.isfile(path):
        raise ConfigError(f"--resume {a.resume}: no model.npz there (a run's folder, the --out of `train`)")
    _, _, info = load_checkpoint(path)
    conflicts = []
    for dest in sorted(given - FREE):
        key = SAVED_AS.get(dest, dest)
        mine = getattr(a, dest)
        mine = list(mine) if isinstance(mine, (list, tuple)) else mine
        if key in info and mine != info[key] and not (dest == "train_size" and mine is None):
            conflicts.append(f"--{dest.replace('_', '-')} {mine} (the run has {info[key]})")
    if conflicts:
        raise ConfigError(f"--resume {a.resume}: these options contradict the saved run: {', '.join(conflicts)}; "
                          "leave them out (only --epochs may change, to extend the run)")
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    options = {k: info[k] for k in fields if k in info}
    if "epochs" in given:
        options["epochs"] = info["epochs"] = a.epochs          # metrics.json's config says the extended count
    cfg = TrainConfig(**options)
    vae = VAE.load(path, backend=info.get("backend", "numpy"))
    train, val, test = load_data(info["dataset"], info.get("data_dir"), cfg.binarize, info["train_size"],
                                 info["val_size"], info["seed"])
    test = test.first(info["test_size"])
    state = load_run(vae, cfg, path)
    a.out = a.resume
    return vae, train, val, test, cfg, info, state
