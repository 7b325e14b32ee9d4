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

from .errors import CheckpointError

FORMAT = "minivae-checkpoint-1"


def save_checkpoint(path, config, arrays, extra=None):
    """Write ``config`` (JSON-able dict), ``arrays`` (name -> host array) and ``extra`` to ``path``."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    meta = json.dumps({"format": FORMAT, "config": config, "extra": extra or {}})
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".npz", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            numpy.savez(f, __meta__=numpy.array(meta), **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path


def load_checkpoint(path):
    """Read ``(config, arrays, extra)`` from ``path``; CheckpointError if it is not a valid checkpoint."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise CheckpointError(f"no checkpoint file at {path!r}")
    try:
        with numpy.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError) as exc:
        raise CheckpointError(
            f"{path!r} is not a readable minivae checkpoint (.npz written by VAE.save): {exc}"
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
    return meta["config"], arrays, meta.get("extra", {})
