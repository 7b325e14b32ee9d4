"""Run folders: where a training command writes, so that no run silently replaces another.

The policy, the same for every training command (``train``, ``vqvae``,
``gan``, ``vaegan``):

- **Without ``--out``, each run gets a new folder**
  ``runs/<command>-<YYYYmmdd-HHMMSS>`` (``-2``, ``-3``, ... when two runs
  start in the same second), and ``runs/latest`` then points to it: a
  relative symlink, or, where symlinks cannot be made, a one-line text file
  naming the folder. Readers accept both (:func:`resolve_run`). A
  ``runs/latest`` that is a real folder (a run of an older minivae) is left
  alone.
- **An explicit ``--out`` that already holds a run is refused**, unless
  ``--resume`` (the run goes on there) or ``--overwrite`` (its files are
  removed first: only the files a run writes, :func:`run_files`; anything
  else in the folder stays). An empty or missing folder is fine, and so is
  a folder holding only files no run writes.
- A folder "holds a run" when it has a file a run writes (``model.npz``,
  ``metrics.json``, ...). So two runs' files never mix in one folder.

Every mistake is one line (:class:`minivae.errors.ConfigError`) naming the
flag: an ``--out`` that is a file, or that cannot be made, a used ``--out``
without ``--overwrite``/``--resume``, ``--resume`` of a folder with no run.
"""
from __future__ import annotations

import datetime
import fnmatch
import json
import os
import re
from pathlib import Path

from ..errors import ConfigError

#: what a run writes in its folder (glob patterns); --overwrite removes these and nothing else
RUN_FILE_PATTERNS = ("model.npz", "model.prev.npz", "model.npz.tmp*", "*.npz.tmp", "metrics.json", "metrics.json.tmp",
                     "steps.json", "steps.json.tmp", "samples_by_epoch.npz", "samples_by_epoch.npz.tmp",
                     "samples_epoch_[0-9][0-9][0-9].png", "compare.json", "compare.png",
                     "reconstructions.png", "samples.png", "samples_per_class.png", "loss_curves.png",
                     "denoising.png", "kl_per_dim.png", "latent_diagnostics.png", "latent.png", "manifold.png",
                     "losses.png", "discriminator.png", "samples_by_epoch.png", "codebook_usage.png")
#: the files whose presence means that a folder holds a run
RUN_MARKERS = ("model.npz", "model.prev.npz", "metrics.json", "steps.json")
LATEST = "latest"
_COMMAND = re.compile(r"[a-z][a-z0-9_-]*")


def run_files(folder):
    """The files of a run in ``folder`` (sorted names): the patterns above and the figures its metrics.json lists."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    names = {p.name for p in folder.iterdir() if p.is_file() or p.is_symlink()}
    listed = set()
    try:
        figures = json.loads((folder / "metrics.json").read_text()).get("figures", [])
        listed = {f for f in figures if isinstance(f, str) and f == os.path.basename(f)}
    except (OSError, ValueError, AttributeError):
        pass
    return sorted(n for n in names if n in listed or any(fnmatch.fnmatchcase(n, p) for p in RUN_FILE_PATTERNS))


def holds_run(folder):
    """True if ``folder`` has a file that only a run writes (see RUN_MARKERS)."""
    return any((Path(folder) / m).is_file() for m in RUN_MARKERS)


def claim_run_folder(out, command, overwrite=False, resume=False, runs_dir="runs", now=None):
    """The folder a run of ``command`` writes into, made and checked as the module docstring says.

    out: the ``--out`` given (None: a new folder ``runs_dir/<command>-<time>``,
    and ``runs_dir/latest`` points to it); overwrite: remove the old run's
    files first; resume: the run in ``out`` goes on (``out`` may also name
    its ``model.npz``); now: the time for the folder's name (a datetime; the
    local time when None). Returns the folder as a :class:`pathlib.Path`.
    """
    if not isinstance(command, str) or not _COMMAND.fullmatch(command):
        raise ConfigError(f"command must be a lower-case word such as 'train', got {command!r}")
    if overwrite and resume:
        raise ConfigError("--overwrite and --resume exclude each other: replace the run, or continue it")
    if out is None:
        if resume:
            raise ConfigError("--resume needs the run's folder (or its model.npz)")
        return _new_folder(Path(runs_dir), command, now or datetime.datetime.now())
    path = resolve_run(out)
    if resume:
        if path.is_file() and path.name == "model.npz":
            path = path.parent
        if not (path / "model.npz").is_file():
            raise ConfigError(f"--resume {out}: no run there (expected a run's folder holding model.npz, "
                              "or that model.npz)")
        return path
    if path.exists() and not path.is_dir():
        raise ConfigError(f"--out {out}: a file, not a folder; name a folder (or leave --out out: each run "
                          f"then gets a new folder under {runs_dir}/)")
    if path.is_dir() and holds_run(path):
        if not overwrite:
            found = ", ".join(m for m in RUN_MARKERS if (path / m).is_file())
            raise ConfigError(f"--out {out}: already holds a run ({found}); pass --resume to continue it, "
                              "--overwrite to replace it, or another --out")
        for name in run_files(path):
            (path / name).unlink()
    _make(path, out)
    return path


def _make(path, out):
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"--out {out}: cannot make the folder ({exc.strerror or exc})") from exc
    if not os.access(path, os.W_OK | os.X_OK):
        raise ConfigError(f"--out {out}: the folder is not writable")


def _new_folder(root, command, now):
    if root.exists() and not root.is_dir():
        raise ConfigError(f"{root}: a file, where the runs' folder should be; pass --out DIR")
    _make(root, root)
    stem = f"{command}-{now:%Y%m%d-%H%M%S}"
    for k in range(1, 10000):
        path = root / (stem if k == 1 else f"{stem}-{k}")
        try:
            path.mkdir()                                  # atomic: two runs never get the same folder
        except FileExistsError:
            continue
        except OSError as exc:
            raise ConfigError(f"{path}: cannot make the run's folder ({exc.strerror or exc}); pass --out DIR") from exc
        point_latest(root, path.name)
        return path
    raise ConfigError(f"{root}: too many runs named {stem}-*; pass --out DIR")


def point_latest(root, name):
    """Make ``root/latest`` name the folder ``root/name``: a symlink, else a text file. False if left alone."""
    latest = Path(root) / LATEST
    if latest.is_dir() and not latest.is_symlink():
        return False                                      # an older minivae's run: never replaced
    tmp = Path(root) / f".{LATEST}.{os.getpid()}.tmp"
    try:
        if tmp.is_symlink() or tmp.exists():
            tmp.unlink()
        os.symlink(name, tmp, target_is_directory=True)
    except (OSError, NotImplementedError):
        tmp.write_text(name + "\n")
    os.replace(tmp, latest)
    return True


def resolve_run(path):
    """``path`` with a ``latest`` text file (where symlinks fail) in it followed: ``runs/latest[/model.npz]``.

    A symlink needs nothing (the OS follows it); any other path is returned as it is.
    """
    path = Path(path)
    for i, part in enumerate(path.parts):
        head = Path(*path.parts[:i + 1])
        if part == LATEST and head.is_file() and not head.is_symlink():
            name = head.read_text().strip()
            if name and name == os.path.basename(name) and (head.parent / name).is_dir():
                return (head.parent / name).joinpath(*path.parts[i + 1:])
    return path
