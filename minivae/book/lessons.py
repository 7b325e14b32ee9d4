"""The lessons a book holds: found by glob, picked by number, executed once (and kept for the next build).

Each lesson is executed top to bottom by nbclient, from the repository's root
(as the lesson tests run them), with figures shown inline, in quick mode
(``MINIVAE_QUICK=1``) unless ``full``. An executed notebook is kept in the
book's folder with a key: the notebook's bytes, the mode, where its figures
go and the source of the ``minivae`` package. A later build into the same folder takes a kept notebook
whose key still matches instead of executing it again; any change to the
lesson or the library executes it anew.
"""
from __future__ import annotations

import hashlib
import os
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

from ..errors import ConfigError

#: the library's source, part of every kept notebook's key
PACKAGE = Path(__file__).resolve().parents[1]
BLAS_THREADS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
KEY = "minivae_book"                                   # the notebook metadata field that holds the key
STOPPED = "minivae_book_stopped"                       # ... and where a lesson stopped (with keep_going)
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def find_lessons(lesson_dir, wanted=None):
    """The lesson notebooks of ``lesson_dir`` in lesson order (``NN_topic.ipynb``), or those numbered in ``wanted``.

    wanted: None (all) or numbers as text (``["01", "5"]``); an unknown number
    is a ConfigError naming ``--lessons`` and the numbers there are.
    """
    found = sorted(p for p in Path(lesson_dir).glob("[0-9]*.ipynb"))
    if not found:
        raise ConfigError(f"no lesson notebooks in {lesson_dir} (expected NN_topic.ipynb files; run from a clone)")
    if wanted is None:
        return found
    by_number = {int(p.name.split("_", 1)[0]): p for p in found}
    picked = []
    for w in wanted:
        if not w.strip().isdigit() or int(w) not in by_number:
            raise ConfigError(f"--lessons: no lesson {w.strip()!r}; the lessons are "
                              f"{', '.join(f'{n:02d}' for n in sorted(by_number))}")
        if by_number[int(w)] not in picked:
            picked.append(by_number[int(w)])
    return sorted(picked)


def library_digest():
    """A SHA-256 of the ``minivae`` package's Python source but the book's own (a changed library re-executes)."""
    h = hashlib.sha256()
    for p in sorted(p for p in PACKAGE.rglob("*.py") if "book" not in p.relative_to(PACKAGE).parts[:1]):
        h.update(p.relative_to(PACKAGE).as_posix().encode() + b"\0" + p.read_bytes())
    return h.hexdigest()


def lesson_key(path, full, figures, library):
    """The key of an executed ``path``: its bytes, the mode, where its figures go and the library's digest."""
    return hashlib.sha256(Path(path).read_bytes() + f"\0{bool(full)}\0{figures}\0{library}".encode()).hexdigest()


def lesson_env(root, full, figures=None):
    """The kernel's environment: quick or full mode, inline figures, the source tree first on the path."""
    env = dict(os.environ)
    env.pop("MINIVAE_QUICK", None)
    if not full:
        env["MINIVAE_QUICK"] = "1"
    if figures is not None:
        env["MINIVAE_FIGURES"] = str(figures)
    env["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"     # the figures become outputs
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(root), os.environ.get("PYTHONPATH", "")) if p)
    for var in BLAS_THREADS:
        env.setdefault(var, "1")
    return env


def execute(path, root, full=False, figures=None, timeout=None, keep_going=False):
    """The notebook ``path`` executed top to bottom (an nbformat notebook); ConfigError names a failing cell.

    keep_going: a failing cell ends the lesson there instead, and the notebook (outputs up to the error, which
    it shows) is returned with ``metadata[STOPPED]`` saying where.

    Ctrl-C (SIGINT) is a KeyboardInterrupt, however nbclient and the kernel took it (while a kernel runs,
    nbclient's own handler shuts it down; the dead kernel's errors then mean an interrupt).
    """
    import nbclient
    import nbformat
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=timeout, kernel_name="python3",
                                     resources={"metadata": {"path": str(root)}})
    interrupted = []

    def on_sigint(signum, frame):
        interrupted.append(signum)
        raise KeyboardInterrupt
    # only in the main thread, and never where SIGINT is ignored on purpose (a background job)
    main = (threading.current_thread() is threading.main_thread()
            and signal.getsignal(signal.SIGINT) is not signal.SIG_IGN)
    previous = signal.signal(signal.SIGINT, on_sigint) if main else None
    try:
        client.execute(env=lesson_env(root, full, figures), stderr=subprocess.DEVNULL)   # the kernel's log
        if interrupted or signalled(client):          # taken and swallowed while the kernel started
            raise KeyboardInterrupt
    except BaseException as exc:       # a failing cell, a dead kernel, or what asyncio and nbclient made of Ctrl-C
        if interrupted or signalled(client):
            raise KeyboardInterrupt from None
        if not isinstance(exc, Exception):
            raise
        if isinstance(exc, nbclient.exceptions.CellExecutionError):
            where = stopped_at(nb, exc)
            if keep_going:
                nb.metadata[STOPPED] = where
                return nb
            raise ConfigError(f"lesson {Path(path).name} stopped at {where}; pass --keep-going to build the book "
                              "with the lesson shown up to its error") from None
        raise ConfigError(f"lesson {Path(path).name}: its kernel failed ({type(exc).__name__}: {exc})") from None
    finally:
        if main:
            signal.signal(signal.SIGINT, previous)
    return nb


def stopped_at(nb, exc):
    """``cell K (Error: message)``: the first code cell with an error output, and the error, without colours."""
    cells = [k for k, c in enumerate(nb.cells) if c.cell_type == "code"
             and any(o.get("output_type") == "error" for o in c.get("outputs", []))]
    error = ANSI.sub("", f"{getattr(exc, 'ename', type(exc).__name__)}: {getattr(exc, 'evalue', '')}").strip()
    return f"cell {cells[0] if cells else '?'} ({error.rstrip(':')})"


def signalled(client):
    """True if nbclient took a SIGINT or SIGTERM: its own handler shuts the kernel down and records a future."""
    return getattr(client, "_async_cleanup_kernel_future", None) is not None


def executed_lessons(paths, root, kept_dir, full=False, figures=None, timeout=None, report=None, keep_going=False):
    """Each lesson of ``paths`` executed (or its kept copy in ``kept_dir`` reused): yields (path, notebook file,
    where it stopped or None).

    report: called as ``report(line, final)``: a lesson being executed (final False; a terminal may show it until
    the final line replaces it), then one final line per lesson (the time it took, or that it was kept).
    keep_going: a lesson that fails is kept up to its error (see :func:`execute`); without it, a kept lesson
    that had stopped is executed again.
    """
    import nbformat
    kept_dir = Path(kept_dir)
    kept_dir.mkdir(parents=True, exist_ok=True)
    library = library_digest()
    for n, path in enumerate(paths, 1):
        key, kept = lesson_key(path, full, figures, library), kept_dir / path.name
        where = f"[{n}/{len(paths)}] {path.stem}"
        old = nbformat.read(kept, as_version=4).metadata if kept.is_file() else {}
        if old.get(KEY) == key and (keep_going or STOPPED not in old):
            stop = f" (stopped at {old[STOPPED]})" if STOPPED in old else ""
            _say(report, f"{where}: unchanged, executed before{stop}")
            yield path, kept, old.get(STOPPED)
            continue
        _say(report, f"{where}: executing ...", final=False)
        t0 = time.perf_counter()
        nb = execute(path, root, full, figures, timeout, keep_going)
        nb.metadata[KEY] = key
        nbformat.write(nb, kept)
        took = f"{time.perf_counter() - t0:.1f} s"
        _say(report, f"{where}: stopped at {nb.metadata[STOPPED]} after {took}; the book shows it up to there"
             if STOPPED in nb.metadata else f"{where}: executed in {took}")
        yield path, kept, nb.metadata.get(STOPPED)


def _say(report, line, final=True):
    if report is not None:
        report(line, final)
