"""Checkpoints: one ``.npz`` holding the architecture (as JSON) and the arrays.

Written atomically: to a temporary file in the target's folder, then renamed
over the target, so a crash never leaves a half-written checkpoint. Read with
``allow_pickle=False``: a checkpoint can never run code.
"""
from __future__ import annotations

import json
import os
import tempfile
import zipfile

import numpy

from ..errors import CheckpointError, ConfigError

FORMAT = "minivae-checkpoint-1"


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


RUN = "__run__."           # the prefix of the training state's arrays


def save_checkpoint(path, config, arrays, extra=None, train_state=None, keep_previous=False, kind="vae"):
    """Write ``config`` (JSON-able dict), ``arrays`` (name -> host array) and ``extra`` to ``path``.

    ``kind`` names the model class (``"vae"``, ``"gan"``, ...; see
    :func:`checkpoint_kind`), so a checkpoint is never loaded as another model.

    ``train_state``: (record, arrays) of the run (:mod:`minivae.train.resume`),
    stored beside the weights. ``keep_previous``: the file already at
    ``path`` stays, as ``model.prev.npz`` beside ``model.npz``, until the new
    one has replaced it. Refuses arrays with NaN or infinite values
    (CheckpointError, naming the first; the file at ``path`` is left as it
    was). The file gets the mode the umask gives a new file (0644 under the
    usual 022), not the 0600 of the temporary file it is written to. At
    every moment ``path`` holds a complete checkpoint, the old or the new.
    """
    path = os.fspath(path)
    for name, a in arrays.items():
        if a.dtype.kind == "f" and not numpy.isfinite(a).all():
            raise CheckpointError(f"not saving {path!r}: {name} has {int((~numpy.isfinite(a)).sum())} non-finite "
                                  "values (a diverged model); the file there, if any, is kept")
    folder = os.path.dirname(os.path.abspath(path))
    meta = {"format": FORMAT, "model": kind, "config": config, "extra": extra or {}}
    if train_state is not None:
        meta["train_state"] = train_state[0]
        arrays = {**arrays, **{RUN + k: v for k, v in train_state[1].items()}}
    try:
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".npz", dir=folder)
    except OSError as exc:
        raise CheckpointError(f"cannot write {path!r}: {exc.strerror or exc} (the folder is missing, read-only or "
                              "full); the file there, if any, is kept") from exc
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as f:
            numpy.savez(f, __meta__=numpy.array(json.dumps(meta)), **arrays)
            f.flush()
            os.fsync(f.fileno())
        if keep_previous and os.path.exists(path):
            root, ext = os.path.splitext(path)
            link = f"{tmp}.prev"
            os.link(path, link)                       # the old file under a second name, then atomically
            os.replace(link, f"{root}.prev{ext}")     # model.prev.npz
        os.replace(tmp, path)
    except BaseException as exc:
        for leftover in (tmp, f"{tmp}.prev"):
            if os.path.exists(leftover):
                os.remove(leftover)
        if isinstance(exc, OSError):
            raise CheckpointError(f"cannot write {path!r}: {exc.strerror or exc} (the disk may be full); the file "
                                  "there, if any, is kept") from exc
        raise
    return path


def write_json(obj, path):
    """Write ``obj`` as indented JSON to ``path`` atomically (a temporary file beside it, then a rename)."""
    tmp = f"{os.fspath(path)}.tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=2)
    os.replace(tmp, path)


def load_checkpoint(path):
    """Read ``(config, arrays, extra)`` from ``path``; CheckpointError if it is not a valid checkpoint."""
    meta, arrays = _read(path)
    model_arrays = {k: v for k, v in arrays.items() if not k.startswith(RUN)}
    return meta["config"], model_arrays, meta.get("extra", {})


def checkpoint_kind(path):
    """The kind of model saved at ``path``: ``"vae"`` (also for checkpoints older than the record), ``"gan"``, ..."""
    return _read(path)[0].get("model", "vae")


def load_train_state(path):
    """The run's (record, arrays) stored in the checkpoint at ``path`` by the training loop, or None."""
    meta, arrays = _read(path)
    if "train_state" not in meta:
        return None
    return meta["train_state"], {k[len(RUN):]: v for k, v in arrays.items() if k.startswith(RUN)}


def _read(path):
    """The checked (meta record, every array) of the checkpoint at ``path``, in one read of the file."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise CheckpointError(f"no checkpoint file at {path!r}")
    try:
        with numpy.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except ValueError as exc:               # e.g. a pickle or a JSON file: NumPy's advice (allow_pickle) is not ours
        raise CheckpointError(f"{path!r} is not a minivae checkpoint (the model.npz a training run or save() "
                              "writes)") from exc
    except (zipfile.BadZipFile, OSError, EOFError, KeyError) as exc:
        raise CheckpointError(
            f"{path!r} is not a readable minivae checkpoint (the model.npz a training run or save() writes): {exc}"
        ) from exc
    if "__meta__" not in arrays:
        raise CheckpointError(f"{path!r} has no '__meta__' entry: not written by VAE.save")
    try:
        meta = json.loads(str(arrays.pop("__meta__")))
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{path!r}: its architecture record is corrupted ({exc})") from exc
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{path!r}: format {meta.get('format')!r}, expected {FORMAT!r}")
    if not isinstance(meta.get("config"), dict):
        raise CheckpointError(f"{path!r}: its architecture record is missing")
    return meta, arrays


def save_model(model, config, path, extra=None, train_state=None, keep_previous=False):
    """Write a model's architecture record ``config`` and its parameters (as host arrays) to ``path``."""
    return save_checkpoint(path, config, model.state_arrays(), extra, train_state, keep_previous, model.kind)


def load_state(model, arrays, source="arrays", hint=None):
    """Copy ``arrays`` (name -> host array) into ``model.params``; CheckpointError unless they fit exactly.

    Every name must be there and no other, each with the parameter's shape and
    only finite values. ``hint(name, saved_shape, expected_shape)`` may add a
    sentence to a shape error (why such a checkpoint could exist).
    """
    missing = sorted(set(model.params) - set(arrays))
    unexpected = sorted(set(arrays) - set(model.params))
    if missing or unexpected:
        raise CheckpointError(f"{source} is of another architecture: missing {missing}, unexpected {unexpected}")
    for name, p in model.params.items():
        a = arrays[name]
        if a.shape != p.shape:
            more = hint(name, a.shape, p.shape) if hint else ""
            raise CheckpointError(f"{source}: {name} has shape {a.shape}, this model expects {p.shape}{more}")
        if not numpy.isfinite(a).all():
            raise CheckpointError(f"{source}: {name} contains non-finite values")
        p[...] = model.backend.asarray(a, dtype=p.dtype)


def load_model(cls, path, backend=None, expected=None, tuples=()):
    """Build ``cls(**config, seed=..., backend=backend)`` from the checkpoint at ``path`` and load its weights.

    ``expected`` options must match the checkpoint's record, else
    CheckpointError (a conditional model is not silently loaded as an
    unconditional one); ``tuples`` names the options stored as JSON lists.
    """
    meta, arrays = _read(path)
    kind = meta.get("model", "vae")
    if kind != cls.kind:
        raise CheckpointError(f"{path}: a {kind.upper()} checkpoint, not a {cls.kind.upper()} one "
                              "(minivae.load reads a model of any kind)")
    config = dict(meta["config"])
    arrays = {k: v for k, v in arrays.items() if not k.startswith(RUN)}
    seed = config.pop("seed", 0)
    for key in tuples:
        config[key] = tuple(config.get(key, ()))
    for key, want in (expected or {}).items():
        if key in tuples:
            want = tuple(want)
        if key not in config:
            raise ConfigError(f"unknown option {key!r} to check against the checkpoint")
        if config[key] != want:
            raise CheckpointError(f"{path}: checkpoint has {key}={config[key]!r}, expected {want!r}")
    try:
        model = cls(**config, seed=seed, backend=backend)
    except (ConfigError, TypeError) as exc:
        raise CheckpointError(f"{path}: its architecture record is invalid: {exc}") from exc
    model.load_state(arrays, source=str(path))
    return model
