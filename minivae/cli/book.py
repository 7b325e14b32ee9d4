"""``python -m minivae book``: the lessons as a static HTML site (:mod:`minivae.book`)."""
from __future__ import annotations

import sys
import time

from ..book import build_book

EXAMPLES = """examples:
  python -m minivae book --out book/                      # every lesson, quick mode; open book/index.html
  python -m minivae book --out book/ --lessons 01,05      # two lessons (a quick look)
  python -m minivae book --out book/ --full               # the lessons' full runs
  python -m minivae book --out book/ --full --figures figures/lessons --keep-going
                                                          # regenerate the committed figures (on purpose)"""


def add_parser(sub):
    p = sub.add_parser("book", help="build the lessons, guides and API reference as a static HTML site",
                       description="build a static HTML site of every lesson, executed (quick mode unless --full), "
                                   "with the lesson map, the guides and an API reference; it loads nothing from "
                                   "outside itself. Needs the docs extra: pip install -e '.[docs]'",
                       epilog=EXAMPLES)
    p.add_argument("--out", required=True, metavar="DIR",
                   help="the book's folder (open DIR/index.html, or host the folder anywhere). A folder holding a "
                        "previous book is replaced (unchanged lessons are not executed again); a non-empty folder "
                        "that is not a book is refused unless --overwrite")
    p.add_argument("--overwrite", action="store_true",
                   help="write the book into a non-empty --out that is not a book (files the book does not write stay)")
    p.add_argument("--full", action="store_true",
                   help="execute the lessons' full runs (minutes per lesson that trains on MNIST) instead of quick "
                        "mode (MINIVAE_QUICK=1, seconds per lesson)")
    p.add_argument("--lessons", default=None, metavar="NN,NN",
                   help="only these lessons, by number (e.g. 01,05); none: every lessons/NN_*.ipynb")
    p.add_argument("--figures", default=None, metavar="DIR",
                   help="with --full: where the lessons save their figures (none: runs/lesson-figures/); "
                        "--figures figures/lessons regenerates the repository's committed figures")
    p.add_argument("--keep-going", action="store_true",
                   help="a lesson whose cell fails (a full run stopping at a check) is shown up to its error, and "
                        "the build goes on; without it, the build stops there with one line")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    return p


def run(a):
    wanted = None if a.lessons is None else [w for w in a.lessons.split(",") if w.strip()]
    if wanted == []:
        from ..errors import ConfigError
        raise ConfigError("--lessons: expected lesson numbers such as 01,05")
    t0 = time.perf_counter()

    tty = sys.stderr.isatty()

    def report(line, final=True):
        """One line per step; in a terminal, the lesson being executed until its final line replaces it."""
        if a.quiet or not (final or tty):
            return
        sys.stderr.write(("\r\033[K" if tty else "") + f"book: {line}" + ("\n" if final else ""))
        sys.stderr.flush()
    s = build_book(a.out, lessons=wanted, full=a.full, figures=a.figures, overwrite=a.overwrite, report=report,
                   keep_going=a.keep_going)
    stopped = f", {len(s['stopped'])} of them stopped at an error ({', '.join(s['stopped'])})" if s["stopped"] else ""
    report(f"{s['pages']} pages, {len(s['lessons'])} lessons ({s['mode']} mode{stopped}) in "
           f"{time.perf_counter() - t0:.0f} s"
           + (f"; {s['warnings']} Sphinx warnings in {a.out}/.minivae-book/sphinx-warnings.txt"
              if s["warnings"] else ""))
    print(s["index"])
    return 0
