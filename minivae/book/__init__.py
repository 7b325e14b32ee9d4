"""The lessons as a book: a static HTML site of every lesson, executed, with the guides and an API reference.

    python -m minivae book --out DIR          # quick mode; --full for the full runs

:func:`build_book` finds the lessons (``lessons/NN_topic.ipynb``), executes
each (:mod:`.lessons`: quick mode unless ``full``; an unchanged lesson is
taken from the previous build in the same folder) and has Sphinx build the
site (:mod:`.site`). The result is a folder to host anywhere: it loads
nothing from outside itself (MathJax is served from ``_static/mathjax``).

The folder follows the run folders' spirit: a folder that holds a previous
book (``.minivae-book/book.json``, which lists what the book made there) is
replaced; a non-empty folder that is not a book is refused unless
``overwrite`` (the book is then written over it, and files the book does not
write stay, then and at every rebuild).
"""
from __future__ import annotations

import datetime
import json
import shutil
import tempfile
from pathlib import Path

from ..errors import ConfigError
from ..version import __version__
from .lessons import executed_lessons, find_lessons
from .site import build_html, missing_tools, stage

ROOT = Path(__file__).resolve().parents[2]        # the repository: lessons/, figures/, the guides
STATE = ".minivae-book"                           # the book's own folder inside --out: marker and kept notebooks


def is_book(folder):
    """True if ``folder`` holds a book this command built (its marker file)."""
    return (Path(folder) / STATE / "book.json").is_file()


def claim_book_folder(out, overwrite=False):
    """The folder ``out`` made ready for a book (a Path); ConfigError naming --out when it is not usable."""
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise ConfigError(f"--out {out}: a file, not a folder; name a folder for the book")
    if path.is_dir() and any(path.iterdir()):
        if is_book(path):                                # the previous book's files, not its kept notebooks
            try:
                made = json.loads((path / STATE / "book.json").read_text(encoding="utf-8"))["entries"]
            except (OSError, ValueError, KeyError, TypeError):
                made = [e.name for e in path.iterdir()]
            for name in made:
                entry = path / name
                if name != STATE and name == Path(name).name and (entry.exists() or entry.is_symlink()):
                    shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()
        elif not overwrite:
            raise ConfigError(f"--out {out}: not empty and not a book built by this command; pass --overwrite to "
                              "write the book over it (other files stay), or another --out")
    try:
        (path / STATE).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"--out {out}: cannot make the folder ({exc.strerror or exc})") from exc
    return path


def build_book(out, lessons=None, full=False, figures=None, overwrite=False, root=ROOT, report=None,
               keep_going=False):
    """Build the book into ``out``; returns a summary dict (pages, lessons, seconds, warnings, index).

    lessons: None (all) or lesson numbers as text (``["01", "05"]``); full:
    the lessons' full runs instead of quick mode; figures: where full-mode
    lessons save their figures (None: the lessons' default,
    ``runs/lesson-figures/``); report: called as ``report(line, final)`` for each step
    (see :func:`.lessons.executed_lessons`); keep_going: a lesson that fails is shown up to its error
    (``summary["stopped"]`` says where) instead of stopping the build.
    """
    missing = missing_tools()
    if missing:
        raise ConfigError(f"the book needs the docs extra ({', '.join(missing)} missing): install it with "
                          "pip install -e '.[docs]'")
    if figures is not None and not full:
        raise ConfigError("--figures: only full mode writes figures to a folder you choose (add --full); quick "
                          "mode writes them to a temporary folder")
    root = Path(root)
    paths = find_lessons(root / "lessons", lessons)
    t0 = datetime.datetime.now()
    folder = claim_book_folder(out, overwrite)
    before = {e.name for e in folder.iterdir()}                 # what stays: the book's state, others' files
    figures = None if figures is None else Path(figures).resolve()
    done = list(executed_lessons(paths, root, folder / STATE / "executed", full, figures, report=report,
                                 keep_going=keep_going))
    executed = [kept for _, kept, _ in done]
    stopped = {path.stem: where for path, _, where in done if where}
    if report:
        report(f"building the HTML of {len(paths)} lessons, the guides and the API reference (Sphinx)", True)
    with tempfile.TemporaryDirectory(prefix="minivae-book-") as tmp:
        src = Path(tmp) / "src"
        src.mkdir()
        stage(root, src, paths, executed)
        status, warnings = build_html(src, folder, Path(tmp) / "doctrees", folder / STATE / "sphinx-warnings.txt")
    if status:
        raise ConfigError(f"Sphinx failed to build the book (see {folder / STATE / 'sphinx-warnings.txt'})")
    pages = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.html") if STATE not in p.parts)
    summary = {"built": t0.isoformat(timespec="seconds"), "minivae": __version__, "mode": "full" if full else "quick",
               "lessons": [p.stem for p in paths], "stopped": stopped, "pages": len(pages), "warnings": warnings,
               "seconds": round((datetime.datetime.now() - t0).total_seconds(), 1),
               "index": str(folder / "index.html"),
               "entries": sorted(e.name for e in folder.iterdir() if e.name not in before)}
    (folder / STATE / "book.json").write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    return summary
