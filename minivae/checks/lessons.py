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
    """Where a lesson saves the figure ``name``; never the committed ``figures/`` unless asked by name.

    Quick mode: a temporary folder. Full mode: the folder named by the
    environment variable MINIVAE_FIGURES (a relative path is taken from the
    repository's root), else ``runs/lesson-figures/`` in the repository. The
    root is found from the working directory: the root itself or ``lessons/``
    (a working directory that holds ``lessons/`` is the root, whatever its own
    name). The committed ``figures/lessons/`` are regenerated only on purpose:
    ``MINIVAE_FIGURES=figures/lessons`` (or ``python -m minivae book --full
    --figures figures/lessons``).
    """
    if quick_mode():
        root = Path(tempfile.gettempdir()) / "minivae-lesson-figures"
    else:
        cwd = Path.cwd()
        repo = cwd.parent if cwd.name == "lessons" and not (cwd / "lessons").is_dir() else cwd
        chosen = os.environ.get("MINIVAE_FIGURES", "").strip()          # an absolute path stays as it is
        root = repo / chosen if chosen else repo / "runs" / "lesson-figures"
    root.mkdir(parents=True, exist_ok=True)
    return root / name
