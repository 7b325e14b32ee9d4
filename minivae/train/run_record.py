"""A run's ``metrics.json``: one layout for every model, written by the loop, read back by one function.

The layout (every training command, every model)::

    {"kind":       the model's kind ("vae", "gan", "vaegan", "vqvae", "classifier"),
     "provenance": [one record per session of the run (a resumed run adds one):
                    {"minivae", "python", "numpy", "blas" (NumPy's BLAS and its version),
                     "blas_threads" (None where unreadable), "backend", "command" (sys.argv),
                     "started" (UTC, ISO 8601), "from_epoch" (epochs done when it started)}],
     "config":     {TrainConfig's fields, **the command's options},
     "history":    [fit's entries, one per epoch, over every session],
     "final":      {"epochs": epochs done, "steps": optimizer steps taken, "train_seconds": wall-clock
                    seconds inside fit summed over every session (evaluation included), "sessions": how many,
                    **the command's end figures (test_*, fid, ...)},
     "figures":    [file names of the run's figures] (when it drew them)}

:func:`minivae.train.fit` writes it (with ``out_dir``) after every epoch;
a command adds its end figures with :func:`update_metrics`. Every
cumulative figure comes from the run's :class:`minivae.train.TrainState`,
which the checkpoint carries across a resume, so it adds up.
:func:`read_metrics` reads any run's file, older layouts too (the VAE's
top-level ``wall_time_s``, the GAN's ``final.wall_time_s``, which counted
only the last session).
"""
from __future__ import annotations

import datetime
import json
import os
import platform
import sys
import numpy

from ..errors import DataError
from ..models.checkpoint import write_json
from .run_folder import resolve_run

METRICS = "metrics.json"
#: the loop's totals in "final", over every session of the run
TOTALS = ("epochs", "steps", "train_seconds", "sessions")


def blas_name():
    """NumPy's BLAS as "name version" (e.g. "scipy-openblas 0.3.31"), or "unknown"."""
    try:
        blas = numpy.show_config(mode="dicts")["Build Dependencies"]["blas"]
        return f"{blas.get('name', '?')} {blas.get('version', '?')}"
    except Exception:                                       # older NumPy: no mode="dicts"
        return "unknown"


def command_line(argv):
    """``argv`` as the user typed it: ``python -m minivae train ...`` rather than the path of ``__main__.py``."""
    argv = [str(a) for a in argv]
    if argv and os.path.basename(os.path.dirname(argv[0])) == "minivae" and argv[0].endswith("__main__.py"):
        return ["python", "-m", "minivae", *argv[1:]]
    return argv


def provenance(backend=None, argv=None, from_epoch=0):
    """Where and how a session of a run was made (the module docstring lists the fields)."""
    from ..backend.threads import blas_threads
    from ..version import __version__

    return {"minivae": __version__, "python": platform.python_version(), "numpy": numpy.__version__,
            "blas": blas_name(), "blas_threads": blas_threads(), "backend": getattr(backend, "name", backend),
            "command": command_line(sys.argv if argv is None else argv),
            "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "from_epoch": int(from_epoch)}


def metrics_record(model, state, config, extra=None, final=None, figures=None):
    """The metrics.json of a run (module docstring): ``model``'s kind, ``state``'s history and totals."""
    record = {"kind": getattr(model, "kind", None), "provenance": list(state.sessions),
              "config": {**vars(config), **(extra or {})}, "history": state.history,
              "final": {**(final or {}), "epochs": len(state.history), "steps": state.step,
                        "train_seconds": state.train_seconds,
                        "sessions": len(state.sessions)}}
    if figures is not None:
        record["figures"] = list(figures)
    return record


def write_metrics(out_dir, model, state, config, extra=None, final=None, figures=None):
    """Write ``metrics_record(...)`` to ``out_dir/metrics.json`` atomically; returns the path."""
    path = os.path.join(out_dir, METRICS)
    write_json(metrics_record(model, state, config, extra, final, figures), path)
    return path


def update_metrics(out_dir, final=None, figures=None):
    """Add a finished run's end figures (``final``) and its figure names to the metrics.json fit wrote.

    The loop's totals (:data:`TOTALS`) are kept: a key of
    ``final`` never replaces them. Returns the record written.
    """
    path = os.path.join(out_dir, METRICS)
    record = _load(path)
    totals = {k: record.get("final", {}).get(k) for k in TOTALS if k in record.get("final", {})}
    record["final"] = {**record.get("final", {}), **(final or {}), **totals}
    if figures is not None:
        record["figures"] = [os.path.basename(os.fspath(f)) for f in figures]
    write_json(record, path)
    return record


def read_metrics(path):
    """A run's metrics.json in the layout above, from the run's folder, its model.npz or the file itself.

    Older files are brought to it: ``final.train_seconds`` from the VAE's
    top-level ``wall_time_s`` or the GAN's ``final.wall_time_s`` (the last
    session only; ``final.train_seconds_partial`` is then True), an empty
    ``provenance``, ``kind`` None when the file does not say.
    """
    path = resolve_run(path)
    if path.is_dir():
        path = path / METRICS
    elif path.suffix == ".npz":
        path = path.parent / METRICS
    record = _load(path)
    final = dict(record.get("final") or {})
    if "train_seconds" not in final:
        old = record.get("wall_time_s", final.get("wall_time_s"))
        final["train_seconds"] = float(old) if isinstance(old, (int, float)) else None
        final["train_seconds_partial"] = final["train_seconds"] is not None
    final.setdefault("epochs", len(record.get("history") or []))
    return {"kind": record.get("kind"), "provenance": record.get("provenance") or [],
            "config": record.get("config") or {}, "history": record.get("history") or [], "final": final,
            **({"figures": record["figures"]} if "figures" in record else {})}


def train_seconds(path):
    """The run's training time in seconds over every session (see :func:`read_metrics`), or None."""
    try:
        return read_metrics(path)["final"]["train_seconds"]
    except DataError:
        return None


def _load(path):
    try:
        with open(path) as f:
            record = json.load(f)
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: not a readable metrics.json ({getattr(exc, 'strerror', None) or exc})") from exc
    if not isinstance(record, dict):
        raise DataError(f"{path}: not a run's metrics.json (expected a JSON object)")
    return record


__all__ = ["provenance", "metrics_record", "write_metrics", "update_metrics", "read_metrics", "train_seconds",
           "blas_name", "METRICS"]
