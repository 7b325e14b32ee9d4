"""The lessons' nbgrader conventions, and nbgrader's source folder written from them.

``python -m minivae assignments source lessons/ --out course/source/`` runs
:func:`write_source`. The text markers (``### BEGIN SOLUTION`` ...) are defined
here and read by :mod:`minivae.cli.assignments` too, which builds student
versions without nbgrader. nbgrader (0.9) takes an assignment's notebooks from ``source/<assignment>/``
and acts only on cells whose metadata (``cell.metadata["nbgrader"]``, schema
version 3) says what they are; the text markers alone are not enough:

* a cell holding ``### BEGIN SOLUTION`` is a solution cell
  (``"solution": true, "locked": false``; nbgrader refuses to strip an unmarked
  one). A markdown answer is graded by hand, so it is ``"grade": true`` too;
* a code cell holding ``### BEGIN HIDDEN TESTS`` or calling a
  ``checks.check_*`` checker is a test cell (``"grade": true, "points": N,
  "locked": true, "solution": false``): its points go to a submission whose
  cell runs without an error;
* each of them has a ``grade_id`` of letters, digits, ``_`` and ``-``,
  unique in its notebook.

:func:`problems` lists what breaks these rules, without nbgrader installed.
:func:`nbgrader_notebook` copies a lesson and gives a marked cell that has no
metadata at all the metadata above (1 point per test cell), so a lesson added
without it still goes through nbgrader; a cell that has some keeps it, and it
must be complete.
"""
from __future__ import annotations

import copy
import json
import re
from pathlib import Path

from ..errors import MiniVAEError

BEGIN_SOLUTION, END_SOLUTION = "### BEGIN SOLUTION", "### END SOLUTION"
BEGIN_HIDDEN, END_HIDDEN = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
REQUIRED = ("schema_version", "grade", "locked", "solution")
KNOWN = {*REQUIRED, "task", "grade_id", "points", "checksum", "cell_type"}
GRADE_ID = re.compile(r"^[A-Za-z0-9_\-]+$")
CHECK_CALL = re.compile(r"\bchecks\.check_\w+\(")


class AssignmentError(MiniVAEError, ValueError):
    """A notebook's nbgrader markers are unbalanced or nested, or its nbgrader metadata is incomplete."""


def cell_source(cell):
    """A cell's source as one string (notebooks store it as a string or a list of lines)."""
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def has_exercises(nb):
    """True when any cell of the notebook holds a solution block."""
    return any(BEGIN_SOLUTION in cell_source(c) for c in nb.get("cells", []))


def role(cell):
    """``"solution"``, ``"test"`` or None: what the cell's text makes it."""
    src = cell_source(cell)
    if BEGIN_SOLUTION in src:
        return "solution"
    if cell.get("cell_type") == "code" and (BEGIN_HIDDEN in src or CHECK_CALL.search(src)):
        return "test"
    return None


def _cell_problems(cell, meta, where):
    r = role(cell)
    if meta is None:
        return [f"{where}: a {r} cell without nbgrader metadata"] if r else []
    missing = [key for key in REQUIRED if key not in meta]
    if missing:
        return [f"{where}: nbgrader metadata lacks {', '.join(missing)}"]
    found = [f"{where}: unknown nbgrader key {key!r}" for key in sorted(set(meta) - KNOWN)]
    if meta["schema_version"] != 3:
        found.append(f"{where}: nbgrader schema_version {meta['schema_version']!r}, expected 3")
    found += [f"{where}: nbgrader {key!r} is {meta[key]!r}, expected true or false"
              for key in ("grade", "locked", "solution", "task") if key in meta and not isinstance(meta[key], bool)]
    if r == "solution" and (not meta["solution"] or meta["locked"]):
        found.append(f"{where}: holds a solution, so expected solution: true, locked: false")
    if r == "test" and (not meta["grade"] or not meta["locked"] or meta["solution"]):
        found.append(f"{where}: holds tests, so expected grade: true, locked: true, solution: false")
    points = meta.get("points")
    if meta["grade"] and (isinstance(points, bool) or not isinstance(points, (int, float)) or points <= 0):
        found.append(f"{where}: a graded cell needs points > 0 (has {points!r})")
    if cell.get("cell_type") == "markdown" and meta["solution"] != meta["grade"] and not meta.get("task"):
        found.append(f"{where}: a markdown answer must be both solution and grade (graded by hand)")
    return found


def problems(nb, name="notebook"):
    """What nbgrader 0.9 (or this workflow) would reject in a notebook's nbgrader metadata: one line each."""
    found, ids = [], {}
    for k, cell in enumerate(nb.get("cells", [])):
        where = f"{name}, cell {k}"
        meta = cell.get("metadata", {}).get("nbgrader")
        found += _cell_problems(cell, meta, where)
        if not meta or not any(meta.get(key) for key in ("grade", "solution", "locked")):
            continue
        gid = meta.get("grade_id")
        if not isinstance(gid, str) or not GRADE_ID.match(gid):
            found.append(f"{where}: grade_id {gid!r}: expected letters, digits, _ or -")
        elif gid in ids:
            found.append(f"{where}: grade_id {gid!r} is cell {ids[gid]}'s too; each must be unique")
        else:
            ids[gid] = k
    return found


def _inferred(cell, k, r, used):
    """nbgrader metadata for a marked cell that has none: named after its first ``def`` or its index."""
    names = re.findall(r"^def (\w+)", cell_source(cell), re.M)
    gid = names[0] if r == "solution" and names else f"{r}_cell_{k}"
    gid = gid if gid not in used else f"{gid}_{k}"
    graded = r == "test" or cell.get("cell_type") == "markdown"
    meta = {"schema_version": 3, "solution": r == "solution", "grade": graded, "locked": r == "test",
            "task": False, "grade_id": gid}
    if graded:
        meta["points"] = 1
    return meta


def nbgrader_notebook(nb, name="notebook"):
    """A copy of lesson ``nb`` (a dict) with complete nbgrader metadata; AssignmentError naming the first problem."""
    nb = copy.deepcopy(nb)
    cells = nb.get("cells", [])
    used = {c["metadata"]["nbgrader"].get("grade_id") for c in cells if "nbgrader" in c.get("metadata", {})}
    for k, cell in enumerate(cells):
        r = role(cell)
        if r and "nbgrader" not in cell.setdefault("metadata", {}):
            cell["metadata"]["nbgrader"] = _inferred(cell, k, r, used)
            used.add(cell["metadata"]["nbgrader"]["grade_id"])
    found = problems(nb, name)
    if found:
        more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
        raise AssignmentError(found[0] + more)
    return nb


def write_source(src_dir, out_dir):
    """Write ``out_dir/NN_topic/NN_topic.ipynb`` for every lesson with exercises; returns the paths."""
    written = []
    for path in sorted(Path(src_dir).glob("*.ipynb")):
        nb = json.loads(path.read_text(encoding="utf-8"))
        if not has_exercises(nb):
            continue
        target = Path(out_dir) / path.stem / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(nbgrader_notebook(nb, path.name), indent=1, ensure_ascii=False) + "\n",
                          encoding="utf-8")
        written.append(target)
    return written
