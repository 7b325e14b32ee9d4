"""Records kept while a run trains, as callbacks of :func:`minivae.train.fit`.

    StepLog     the mean of each step metric over windows of k steps (a GAN's losses.png and
                discriminator.png draw them as thin lines); written as ``steps.json``
    EpochRows   the first images of a fixed z after each epoch, in an .npz (``samples_by_epoch.png``)

A callback is any object with ``on_step(step, metrics, model)`` and/or
``on_epoch_end(entry, model)`` (see :mod:`minivae.train.loop`); ``fit``
calls them in the order given, with nothing patched on the model.
"""
from __future__ import annotations

import json
import os
import zipfile

import numpy as np

from ..errors import DataError
from ..models.checkpoint import write_json


class StepLog:
    """The means of the training step's metrics ``keys`` over windows of ``every`` steps, as columns.

    As a callback, ``on_step`` sums each step's metrics where they are (no
    host read); a window is read once, by ``flush()``, which ``on_epoch_end``
    calls to close a shorter window (no window crosses an epoch) before it
    writes ``record()`` to ``path`` (when given). ``columns`` continue a saved
    record (a resumed run: its windows up to ``step``, the steps already
    taken); :meth:`resume` reads them from ``path``. ``record()``: the
    JSON-able record the figures take as ``steps``:
    ``{"log_every": k, "steps_per_epoch": S, "step": [...], key: [...]}``,
    ``None`` where a window had no value of that key.
    """

    def __init__(self, keys, every, steps_per_epoch, step=0, columns=None, path=None):
        self.keys, self.every, self.steps_per_epoch, self.step = tuple(keys), every, steps_per_epoch, step
        self.path = path
        saved = columns or {}
        keep = sum(1 for s in saved.get("step", ()) if s <= step)
        self.columns = {k: list(saved.get(k, ()))[:keep] for k in ("step", *self.keys)}
        self._sums, self._counts, self._n = {}, {}, 0

    @classmethod
    def resume(cls, path, keys, every, steps_per_epoch, step=0):
        """A log continuing the record saved at ``path`` after ``step`` steps (a new one if there is no file)."""
        columns = None
        if step and os.path.isfile(path):
            try:
                with open(path) as f:
                    columns = json.load(f)
            except (OSError, ValueError) as exc:
                raise DataError(f"{path}: not readable ({exc}); delete it to resume without the earlier steps") from exc
        return cls(keys, every, steps_per_epoch, step, columns, path)

    def on_step(self, step, metrics, model=None):
        """Add one step's ``metrics``; close the window after ``every`` steps."""
        self.step, self._n = step, self._n + 1
        for k in self.keys:
            if k in metrics:
                self._sums[k] = self._sums.get(k, 0.0) + metrics[k]
                self._counts[k] = self._counts.get(k, 0) + 1
        if self._n == self.every:
            self.flush()

    def on_epoch_end(self, entry=None, model=None):
        """Close the epoch's last window and write the record to ``path``."""
        self.flush()
        if self.path is not None:
            write_json(self.record(), self.path)

    def flush(self):
        if self._n:
            self.columns["step"].append(self.step)
            for k in self.keys:
                self.columns[k].append(float(self._sums[k]) / self._counts[k] if self._counts.get(k) else None)
        self._sums, self._counts, self._n = {}, {}, 0

    def record(self):
        return {"log_every": self.every, "steps_per_epoch": self.steps_per_epoch, **self.columns}


class EpochRows:
    """The first images of a fixed z after each epoch, rewritten to ``path`` (.npz) at each ``add``.

    ``upto``: the epochs a resumed run has finished, whose rows are read
    back from ``path`` (0, a new run: nothing is read). As a callback, give
    ``images(model)`` (the row to keep, (n, D)): ``on_epoch_end`` adds it.
    """

    def __init__(self, path, upto=0, images=None):
        self.path, self.make_images = path, images
        saved = None
        if upto and os.path.isfile(path):
            try:
                saved = dict(np.load(path, allow_pickle=False))
            except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
                raise DataError(f"{path}: not readable ({exc}); delete it to resume without the earlier rows") from exc
        keep = [] if saved is None else [i for i, e in enumerate(saved["epochs"]) if e <= upto]
        self.epochs = [int(saved["epochs"][i]) for i in keep]
        self.images = [saved["images"][i] for i in keep]

    def on_epoch_end(self, entry, model):
        if self.make_images is not None:
            self.add(entry["epoch"], self.make_images(model))

    def add(self, epoch, images):
        self.epochs.append(epoch)
        self.images.append(np.asarray(images, dtype=np.float32))
        tmp = f"{self.path}.tmp"
        with open(tmp, "wb") as f:
            np.savez(f, epochs=np.asarray(self.epochs), images=np.stack(self.images))
        os.replace(tmp, self.path)
