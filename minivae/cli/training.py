"""What a one-model training command (``vqvae``, ``ae``) does before its own figures: start or resume, then fit.

    new_run(a, model, **train_options)       a new run: its folder claimed, its data, TrainConfig and record
    fit_run(a, kind, new)                    a new run (``new(a)``) or the ``--resume`` of a ``kind`` run,
                                             announced on stderr and trained by :func:`minivae.train.fit`

The run folder policy is :func:`minivae.cli.common.run_folder`'s; resuming is
:func:`minivae.cli.resume.resume_run`'s.
"""
from __future__ import annotations

import sys

from ..datasets import load_data
from ..train import TrainConfig, TrainState, fit
from .common import run_folder, train_config_args
from .resume import resume_run


def new_run(a, model, **train_options):
    """(train, test, config, info) of a new run of ``model``: ``a``'s data and run options, its folder claimed.

    ``train_options``: the command's own TrainConfig fields (``lr``); ``a``
    must carry the data group with ``--binarize`` and the run group.
    """
    cfg = TrainConfig(**train_config_args(a), binarize=a.binarize, **train_options)
    run_folder(a)                                  # an unusable --out fails now, not after an epoch
    train, test, info = run_data(a, model, cfg)
    return train, test, cfg, info


def run_data(a, model, cfg, **more):
    """(train, test, info) of a new run: ``a``'s data (binarized as ``cfg`` says) and the run's record ``info``
    (``cfg``'s fields, ``model``'s architecture, the data and backend, and ``more``), as a checkpoint keeps it."""
    train, _, test = load_data(a.dataset, a.data_dir, cfg.binarize, a.train_size, 0, a.seed)
    test = test.first(a.test_size)
    info = {**vars(cfg), **model.architecture(), "dataset": a.dataset, "data_dir": a.data_dir,
            "train_size": len(train.y), "test_size": len(test.y), "backend": a.backend, **more}
    return train, test, info


def fit_run(a, kind, new):
    """(model, train, test, config, state, history): the run ``a`` describes, trained to its epochs.

    ``new(a)`` builds a new run's ``(model, train, test, config, info)``;
    with ``a.resume`` the saved ``kind`` run goes on instead. ``state`` is
    the run's :class:`minivae.train.TrainState` (a final checkpoint may hold it).
    """
    if a.resume:
        model, train, _, test, cfg, info, state = resume_run(a, kind)
    else:
        model, train, test, cfg, info = new(a)
        state = TrainState.start(model, cfg)
    if not a.quiet:
        print(f"{model}\ntraining on {len(train.y)} {info['dataset']} images, {cfg.epochs} epochs, writing to {a.out}"
              + (f" (resuming after epoch {state.epoch}, step {state.step})" if state.epoch or state.step else ""),
              file=sys.stderr)
    history = fit(model, train.x, test.x, config=cfg, progress=not a.quiet, out_dir=a.out, extra=info, state=state)
    return model, train, test, cfg, info, state, history
