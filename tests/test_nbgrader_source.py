"""nbgrader's source folder: every lesson with exercises carries the cell metadata nbgrader 0.9 needs.

nbgrader strips a solution only in a cell marked ``solution: true``, removes
hidden tests only from a ``grade: true`` cell, and refuses a graded cell
without points; the guide's commands (minivae/INSTRUCTORS.md) rely on that.
None of these tests needs nbgrader, except the last, which skips without it.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from minivae.cli.assignments import AssignmentError, has_exercises
from minivae.cli.nbgrader_source import nbgrader_notebook, problems, role

ROOT = Path(__file__).resolve().parents[1]
LESSON_DIR = ROOT / "lessons"
WITH_EXERCISES = sorted(p for p in LESSON_DIR.glob("*.ipynb")
                        if has_exercises(json.loads(p.read_text(encoding="utf-8"))))


def _run_source(src, out):
    """``python -m minivae assignments source SRC --out OUT`` with this checkout's minivae."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-m", "minivae", "assignments", "source", str(src), "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, env=env)


def _meta(cell):
    return cell.get("metadata", {}).get("nbgrader")


def _code(source, nbgrader=None):
    return {"cell_type": "code", "source": source, "metadata": {"nbgrader": nbgrader} if nbgrader else {},
            "outputs": [], "execution_count": None}


SOLUTION = "def f(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION"
CHECK = "assert checks.check_f(f)\n### BEGIN HIDDEN TESTS\nassert f(1) == 2\n### END HIDDEN TESTS"


@pytest.mark.parametrize("path", WITH_EXERCISES, ids=lambda p: p.stem)
def test_every_lesson_with_exercises_has_complete_nbgrader_metadata(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    assert problems(nb, path.name) == []
    roles = [role(c) for c in nb["cells"]]
    assert "solution" in roles and "test" in roles
    for cell, r in zip(nb["cells"], roles):
        if r == "test":
            assert _meta(cell)["grade"] and _meta(cell)["points"] > 0


def test_the_source_command_writes_nbgraders_layout_with_the_lessons_metadata(tmp_path):
    proc = _run_source(LESSON_DIR, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert f"wrote {len(WITH_EXERCISES)} nbgrader assignments" in proc.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == [p.stem for p in WITH_EXERCISES]
    for path in WITH_EXERCISES:
        copy = json.loads((tmp_path / path.stem / path.name).read_text(encoding="utf-8"))
        lesson = json.loads(path.read_text(encoding="utf-8"))
        assert copy == lesson                                 # complete already: copied unchanged


def test_marked_cells_without_metadata_are_given_it():
    nb = {"cells": [{"cell_type": "markdown", "source": "# Lesson", "metadata": {}}, _code(SOLUTION), _code(CHECK),
                    _code("print(1)")]}
    assert problems(nb) == ["notebook, cell 1: a solution cell without nbgrader metadata",
                            "notebook, cell 2: a test cell without nbgrader metadata"]
    out = nbgrader_notebook(nb)
    assert problems(out) == [] and "nbgrader" not in nb["cells"][1]["metadata"]     # the input is left alone
    sol, test = _meta(out["cells"][1]), _meta(out["cells"][2])
    assert (sol["solution"], sol["grade"], sol["locked"], sol["grade_id"]) == (True, False, False, "f")
    assert (test["solution"], test["grade"], test["locked"], test["points"]) == (False, True, True, 1)
    assert _meta(out["cells"][0]) is None and _meta(out["cells"][3]) is None


GOOD_TEST = {"schema_version": 3, "grade": True, "locked": True, "solution": False, "grade_id": "t", "points": 1}
GOOD_SOLUTION = {"schema_version": 3, "grade": False, "locked": False, "solution": True, "grade_id": "s"}


@pytest.mark.parametrize("cells, says", [
    ([_code(CHECK, {**GOOD_TEST, "points": None})], "needs points > 0"),
    ([_code(CHECK, {k: v for k, v in GOOD_TEST.items() if k != "points"})], "needs points > 0"),
    ([_code(SOLUTION, {**GOOD_SOLUTION, "solution": False})], "expected solution: true"),
    ([_code(CHECK, {**GOOD_TEST, "grade": False})], "expected grade: true"),
    ([_code(SOLUTION, GOOD_SOLUTION), _code(CHECK, {**GOOD_TEST, "grade_id": "s"})], "is cell 0's too"),
    ([_code(CHECK, {**GOOD_TEST, "grade_id": "test kl"})], "expected letters, digits"),
    ([_code(CHECK, {**GOOD_TEST, "schema_version": 2})], "expected 3"),
    ([_code(CHECK, {"grade": True, "grade_id": "t"})], "lacks schema_version, locked, solution"),
])
def test_metadata_nbgrader_would_refuse_is_named_with_its_cell(cells, says):
    found = problems({"cells": cells}, "lesson.ipynb")
    assert len(found) == 1 and says in found[0] and found[0].startswith(f"lesson.ipynb, cell {len(cells) - 1}: ")
    with pytest.raises(AssignmentError, match=says):
        nbgrader_notebook({"cells": cells}, "lesson.ipynb")


def test_the_command_reports_incomplete_metadata_in_one_line(tmp_path):
    (tmp_path / "20_x.ipynb").write_text(json.dumps({"cells": [_code(SOLUTION, GOOD_SOLUTION),
                                                               _code(CHECK, {**GOOD_TEST, "points": None})]}))
    proc = _run_source(tmp_path, tmp_path / "out")
    assert proc.returncode == 2
    assert proc.stderr == "error: 20_x.ipynb, cell 1: a graded cell needs points > 0 (has None)\n"


def test_nbgraders_own_validator_accepts_every_lesson():
    pytest.importorskip("nbgrader")
    import nbformat
    from nbgrader.nbgraderformat import MetadataValidator
    for path in WITH_EXERCISES:
        MetadataValidator().validate_nb(nbformat.read(path, as_version=4))
