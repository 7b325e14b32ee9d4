"""Student versions of the lesson notebooks (nbgrader conventions, without nbgrader).

The lessons mark their exercises the way nbgrader does, so instructors who use
nbgrader can take the notebooks as they are:

* in a code cell, the lines between ``### BEGIN SOLUTION`` and
  ``### END SOLUTION`` are the reference answer; the student version replaces
  them with ``# YOUR CODE HERE`` and ``raise NotImplementedError()`` at the
  marker's indentation (in a markdown cell, with ``YOUR ANSWER HERE``);
* the lines between ``### BEGIN HIDDEN TESTS`` and ``### END HIDDEN TESTS``
  are removed from the student version.

Solution and test cells also carry nbgrader's metadata
(``{"nbgrader": {"grade_id": ..., "solution": ..., "grade": ...}}``).

Command line::

    python -m minivae assignments build lessons/ --out DIR

writes ``DIR/NN_topic.ipynb`` for every notebook in ``lessons/``, with
outputs cleared; ``python -m minivae assignments source lessons/ --out
course/source/`` writes nbgrader's source folder instead
(:mod:`minivae.cli.nbgrader_source`). Only the standard library is needed (notebooks are JSON). The old spelling
``python -m minivae.assignments build ...`` still works (:mod:`minivae.assignments`).
"""
from __future__ import annotations

import copy
import json
import sys
from pathlib import Path

from ..errors import ConfigError
from .nbgrader_source import (BEGIN_HIDDEN, BEGIN_SOLUTION, END_HIDDEN, END_SOLUTION, AssignmentError,
                              cell_source, has_exercises, write_source)

CODE_STUB = ("# YOUR CODE HERE", "raise NotImplementedError()")
MARKDOWN_STUB = ("YOUR ANSWER HERE",)


def _blocks(lines, begin, end, where):
    """[(i_begin, i_end)] line indices of each marked block; AssignmentError if unbalanced."""
    blocks, start = [], None
    for i, line in enumerate(lines):
        tag = line.strip()
        if tag == begin:
            if start is not None:
                raise AssignmentError(f"{where}: line {i + 1}: {begin!r} inside an open block (opened at line {start + 1})")
            start = i
        elif tag == end:
            if start is None:
                raise AssignmentError(f"{where}: line {i + 1}: {end!r} without a {begin!r} before it")
            blocks.append((start, i))
            start = None
    if start is not None:
        raise AssignmentError(f"{where}: line {start + 1}: {begin!r} is never closed by {end!r}")
    return blocks


def strip_source(source, cell_type="code", where="cell"):
    """The student version of one cell's source: solutions stubbed, hidden tests removed."""
    lines = source.split("\n")
    for begin, end in ((BEGIN_SOLUTION, END_SOLUTION), (BEGIN_HIDDEN, END_HIDDEN)):
        for i, j in reversed(_blocks(lines, begin, end, where)):
            if begin == BEGIN_HIDDEN:
                lines[i:j + 1] = []
            else:
                indent = lines[i][: len(lines[i]) - len(lines[i].lstrip())]
                stub = CODE_STUB if cell_type == "code" else MARKDOWN_STUB
                lines[i:j + 1] = [indent + s for s in stub]
    return "\n".join(lines)


def solution_blocks(source, where="cell"):
    """The reference answers of one cell: the text between each pair of solution markers."""
    lines = source.split("\n")
    return ["\n".join(lines[i + 1:j]) for i, j in _blocks(lines, BEGIN_SOLUTION, END_SOLUTION, where)]


def fill_in(student_source, answers):
    """Put ``answers`` (one per stub, in order) in place of the ``raise NotImplementedError()`` stubs.

    This is what a student does; with the reference answers it restores runnable code.
    """
    lines, out, k = student_source.split("\n"), [], 0
    i = 0
    while i < len(lines):
        if lines[i].strip() == CODE_STUB[0] and i + 1 < len(lines) and lines[i + 1].strip() == CODE_STUB[1]:
            if k >= len(answers):
                raise AssignmentError(f"more stubs than answers ({len(answers)})")
            out.extend(answers[k].split("\n"))
            k, i = k + 1, i + 2
        else:
            out.append(lines[i])
            i += 1
    if k != len(answers):
        raise AssignmentError(f"{len(answers)} answers for {k} stubs")
    return "\n".join(out)


def student_notebook(nb, name="notebook"):
    """A copy of notebook ``nb`` (a dict) as students get it, outputs cleared."""
    nb = copy.deepcopy(nb)
    for k, cell in enumerate(nb.get("cells", [])):
        src = cell_source(cell)
        cell["source"] = strip_source(src, cell.get("cell_type", "code"), where=f"{name}, cell {k}")
        if cell.get("cell_type") == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
    return nb


def build(src_dir, out_dir):
    """Write the student version of every ``*.ipynb`` in ``src_dir`` to ``out_dir``; returns the paths."""
    src_dir, out_dir = Path(src_dir), Path(out_dir)
    paths = sorted(src_dir.glob("*.ipynb"))
    if not paths:
        raise FileNotFoundError(f"no notebooks (*.ipynb) in {src_dir}")
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for path in paths:
        nb = json.loads(path.read_text(encoding="utf-8"))
        target = out_dir / path.name
        target.write_text(json.dumps(student_notebook(nb, path.name), indent=1, ensure_ascii=False) + "\n",
                          encoding="utf-8")
        written.append(target)
    return written


EXAMPLES = """examples:
  python -m minivae assignments build lessons/ --out student/
  python -m minivae assignments source lessons/ --out course/source/"""


def add_parser(sub):
    p = sub.add_parser("assignments", help="build student versions of the lesson notebooks",
                       description="Build student versions of the lesson notebooks: solutions stubbed, hidden "
                                   "tests removed, outputs cleared.", epilog=EXAMPLES)
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    b = actions.add_parser("build", help="write student notebooks: solutions stubbed, hidden tests removed",
                           description="write the student version of every notebook in SRC to --out",
                           epilog=EXAMPLES)
    b.add_argument("src", help="directory of lesson notebooks, e.g. lessons/")
    b.add_argument("--out", required=True, help="directory for the student versions")
    s = actions.add_parser("source", help="write nbgrader's source folder: one assignment per lesson with exercises",
                           description="copy every lesson of SRC that has exercises to --out/NN_topic/NN_topic.ipynb, "
                                       "nbgrader's source/<assignment>/ layout, with complete nbgrader cell metadata",
                           epilog=EXAMPLES)
    s.add_argument("src", help="directory of lesson notebooks, e.g. lessons/")
    s.add_argument("--out", required=True, help="nbgrader's source folder, e.g. course/source/")
    return p


def run(args):
    """``build``: write the student notebooks; ``source``: nbgrader's source folder; returns 0."""
    from .common import out_folder
    try:
        paths = [Path(p) for p in sorted(Path(args.src).glob("*.ipynb"))]
        if not paths:
            raise ConfigError(f"{args.src}: no notebooks (*.ipynb) there; give the lessons' folder, e.g. lessons/")
        out_folder(args.out)
        if args.action == "source":
            written = write_source(args.src, args.out)
            n = len(written)
            print(f"wrote {n} nbgrader assignment{'s' * (n != 1)} (one folder per lesson with exercises) to {args.out}")
            return 0
        written = build(args.src, args.out)
        n_ex = sum(has_exercises(json.loads(p.read_text(encoding="utf-8"))) for p in paths)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{args.src}: a notebook is not valid JSON ({exc})") from exc
    print(f"wrote {len(written)} student notebooks ({n_ex} with exercises) to {args.out}")
    return 0

