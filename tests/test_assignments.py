"""Student versions: built by `python -m minivae assignments build`, exercises open, solutions restore them."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from minivae.cli import assignments
from minivae.cli.assignments import AssignmentError, fill_in, solution_blocks, strip_source

ROOT = Path(__file__).resolve().parents[1]
LESSON_DIR = ROOT / "lessons"
MUST_HAVE_EXERCISES = {"02", "04", "05", "06", "08", "09", "13", "14", "15", "16", "17", "18"}


def test_strip_source_stubs_solutions_and_removes_hidden_tests():
    src = ("def f(x):\n    # doc\n    ### BEGIN SOLUTION\n    y = 2 * x\n    return y\n    ### END SOLUTION\n"
           "assert f(1) == 2\n### BEGIN HIDDEN TESTS\nassert f(2) == 4\n### END HIDDEN TESTS\nprint('done')")
    out = strip_source(src)
    assert out == ("def f(x):\n    # doc\n    # YOUR CODE HERE\n    raise NotImplementedError()\n"
                   "assert f(1) == 2\nprint('done')")
    assert solution_blocks(src) == ["    y = 2 * x\n    return y"]
    restored = fill_in(out, solution_blocks(src))
    ns = {}
    exec(restored, ns)
    assert ns["f"](3) == 6


def test_markdown_solutions_become_answer_stubs():
    assert strip_source("Why?\n### BEGIN SOLUTION\nBecause.\n### END SOLUTION", "markdown") == "Why?\nYOUR ANSWER HERE"


@pytest.mark.parametrize("src", ["### BEGIN SOLUTION\nx = 1", "x = 1\n### END SOLUTION",
                                 "### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION",
                                 "### BEGIN HIDDEN TESTS\nassert True"])
def test_unbalanced_markers_are_errors(src):
    with pytest.raises(AssignmentError, match="line"):
        strip_source(src)


def test_fill_in_counts_answers():
    with pytest.raises(AssignmentError):
        fill_in("# YOUR CODE HERE\nraise NotImplementedError()", [])
    with pytest.raises(AssignmentError):
        fill_in("x = 1", ["y = 2"])


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("student")
    proc = subprocess.run([sys.executable, "-m", "minivae", "assignments", "build", str(LESSON_DIR), "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])})
    assert proc.returncode == 0, proc.stderr
    assert f"wrote {len(list(LESSON_DIR.glob('*.ipynb')))} student notebooks" in proc.stdout
    return out


def _load(path):
    return json.loads(Path(path).read_text(encoding="utf-8"))


def _src(cell):
    return "".join(cell["source"])


def test_cli_reports_errors_in_one_line(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "minivae", "assignments", "build", str(tmp_path), "--out",
                           str(tmp_path / "o")], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stderr.startswith("error: ") and "no notebooks" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_the_old_spelling_builds_too_and_names_the_new_one(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "minivae.assignments", "build", str(LESSON_DIR), "--out",
                           str(tmp_path)], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "is now spelled `python -m minivae assignments`" in proc.stderr
    assert sorted(p.name for p in tmp_path.glob("*.ipynb")) == sorted(p.name for p in LESSON_DIR.glob("*.ipynb"))


def test_every_lesson_has_a_student_version(built):
    assert sorted(p.name for p in built.glob("*.ipynb")) == sorted(p.name for p in LESSON_DIR.glob("*.ipynb"))


def test_required_lessons_have_exercises(built):
    with_ex = {p.name[:2] for p in LESSON_DIR.glob("*.ipynb") if assignments.has_exercises(_load(p))}
    assert MUST_HAVE_EXERCISES <= with_ex


def test_student_versions_hide_solutions_and_hidden_tests(built):
    for path in built.glob("*.ipynb"):
        source_nb = _load(LESSON_DIR / path.name)
        for cell, orig in zip(_load(path)["cells"], source_nb["cells"]):
            src = _src(cell)
            assert "### BEGIN" not in src and "### END" not in src, path.name
            if cell["cell_type"] == "code":
                assert cell["outputs"] == []
            if "### BEGIN SOLUTION" in _src(orig):
                assert "raise NotImplementedError()" in src
                assert cell["metadata"]["nbgrader"]["solution"] is True


def _exercise_notebook(paths, fill=False):
    """One notebook holding, per lesson, its setup cell, exercise cells and their check cells."""
    nbformat = pytest.importorskip("nbformat")
    cells = []
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        source = nbformat.read(LESSON_DIR / Path(path).name, as_version=4)
        answers = {c.metadata.get("nbgrader", {}).get("grade_id"): solution_blocks(c.source)
                   for c in source.cells if c.metadata.get("nbgrader", {}).get("solution")}
        for cell in nb.cells:
            tags = set(cell.metadata.get("tags", []))
            if tags & {"setup", "exercise", "exercise-check"}:
                cell.metadata["lesson"] = Path(path).name
                gid = cell.metadata.get("nbgrader", {}).get("grade_id")
                if fill and cell.metadata.get("nbgrader", {}).get("solution"):
                    cell.source = fill_in(cell.source, answers[gid])
                cells.append(cell)
    out = nbformat.v4.new_notebook(cells=cells)
    out.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return out


def _execute(nb, monkeypatch, allow_errors):
    nbclient = pytest.importorskip("nbclient")
    monkeypatch.setenv("MINIVAE_QUICK", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.setenv(var, "1")
    nbclient.NotebookClient(nb, timeout=120, kernel_name="python3", allow_errors=allow_errors,
                            resources={"metadata": {"path": str(ROOT)}}).execute()
    return nb


def _errors(cell):
    return [o for o in cell.get("outputs", []) if o["output_type"] == "error"]


def test_student_exercises_raise_not_implemented(built, monkeypatch):
    paths = sorted(p for p in built.glob("*.ipynb") if assignments.has_exercises(_load(LESSON_DIR / p.name)))
    nb = _execute(_exercise_notebook(paths), monkeypatch, allow_errors=True)
    checks_run = 0
    for cell in nb.cells:
        tags = set(cell.metadata.get("tags", []))
        if "exercise-check" in tags:
            errs = _errors(cell)
            assert errs and errs[0]["ename"] == "NotImplementedError", (cell.metadata["lesson"], cell.source, errs)
            checks_run += 1
        elif cell.cell_type == "code":
            assert not _errors(cell), (cell.metadata["lesson"], cell.source, _errors(cell))
    assert checks_run >= len(MUST_HAVE_EXERCISES)


def test_reference_solutions_filled_in_pass_every_check(built, monkeypatch):
    paths = sorted(p for p in built.glob("*.ipynb") if assignments.has_exercises(_load(LESSON_DIR / p.name)))
    nb = _execute(_exercise_notebook(paths, fill=True), monkeypatch, allow_errors=False)
    outs = "".join(o.get("text", "") for c in nb.cells if "exercise-check" in c.metadata.get("tags", [])
                   for o in c.outputs if o["output_type"] == "stream")
    assert "FAIL" not in outs and "cases pass" in outs
