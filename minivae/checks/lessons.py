"""Two small helpers the lessons use: quick mode for CI and where figures go."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path


# ------------------------------------------------------------ lesson helpers
def quick_mode():
    """True when the environment variable MINIVAE_QUICK is "1" (CI: short training)."""
    return os.environ.get("MINIVAE_QUICK") == "1"


def figure_path(name):
    """Where a lesson saves the figure ``name``.

    In full mode: ``figures/lessons/name`` in the repository (found from the
    working directory, the repository root or ``lessons/``; a working directory
    that holds ``lessons/`` is the root, whatever its own name). In quick mode: a
    temporary directory, so CI runs leave the committed figures alone.
    """
    if quick_mode():
        root = Path(tempfile.gettempdir()) / "minivae-lesson-figures"
    else:
        cwd = Path.cwd()
        repo = cwd.parent if cwd.name == "lessons" and not (cwd / "lessons").is_dir() else cwd
        root = repo / "figures" / "lessons"
    root.mkdir(parents=True, exist_ok=True)
    return root / name

