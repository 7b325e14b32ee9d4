"""The documentation a clone holds: no dead link, and a README read in five minutes.

Checked in README.md, every Markdown guide inside the repository's folders
and the Markdown cells of the lesson notebooks:

- every relative link ``[text](target)`` / ``![alt](target)`` names a file or
  folder of the repository (``#anchor`` parts must name a heading of the
  target); http(s) links are skipped, and nothing may need them;
- every backticked repository path (one that starts at a top-level entry:
  ``minivae/...``, ``lessons/...``, ``tests/...``, ``figures/...``, ``.ci/...``,
  ``README.md``, ``setup.cfg``, ``pyproject.toml``) exists (globs must match);
- README.md stays under ~12 KB and has a table of contents that links to
  each of its sections.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
README_LIMIT = 12_500                       # bytes: "at most ~12 KB"
TOP_LEVEL = ("minivae/", "lessons/", "tests/", "figures/", ".ci/", "README.md", "setup.cfg", "pyproject.toml")
#: paths the documents name as a command's output, which a clone does not hold until that command runs
WRITTEN_BY_COMMANDS = {"figures/lessons/12_gpu_benchmark.json"}   # lesson 12: a saved `bench --backend cupy` result
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
CODE_SPAN = re.compile(r"`([^`\n]+)`")
FENCE = re.compile(r"^```.*?^```", re.S | re.M)


def guides():
    """README.md and every Markdown file inside the repository's folders (not the lecture notes' folder)."""
    found = [README] + sorted(p for top in ("minivae", "lessons", "tests", "figures", ".ci")
                              for p in (ROOT / top).rglob("*.md"))
    return [p for p in found if ".ipynb_checkpoints" not in p.parts]


def lesson_markdown():
    """(notebook, the text of its Markdown cells) for every lesson."""
    for nb in sorted((ROOT / "lessons").glob("*.ipynb")):
        cells = json.loads(nb.read_text(encoding="utf-8"))["cells"]
        yield nb, "\n\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")


def documents():
    """(path, Markdown text) of everything the checks read."""
    return [(p, p.read_text(encoding="utf-8")) for p in guides()] + list(lesson_markdown())


def slug(heading):
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(text):
    """The anchors of every heading of a Markdown text (outside code blocks)."""
    return {slug(m.group(1)) for m in re.finditer(r"^#{1,6}\s+(.+?)\s*#*$", FENCE.sub("", text), re.M)}


def relative_links(text):
    """Every link target that is not a web address."""
    return [t for t in LINK.findall(text) if not re.match(r"(https?|mailto):", t)]


def repository_paths(text):
    """Every backticked word that starts at a top-level entry of the repository (code blocks included)."""
    spans = CODE_SPAN.findall(text) + [w for block in FENCE.findall(text) for w in block.split()]
    paths = []
    for span in spans:
        for word in span.split():
            word = word.strip("\"'(),;:")
            if word.startswith(TOP_LEVEL) and not word.startswith(("tests/test_x", "README.md.")):
                paths.append(word.split("::")[0])
    return paths


def dead_links(path, text):
    """The relative links of ``text`` (read from ``path``) whose file or anchor does not exist."""
    dead = []
    for target in relative_links(text):
        where, _, anchor = target.partition("#")
        file = (path.parent / where).resolve()
        if where and not file.exists():
            dead.append(target)
        elif anchor and (not where or file.suffix == ".md"):
            if anchor not in anchors(file.read_text(encoding="utf-8") if where else text):
                dead.append(target)
    return dead


def missing_paths(text):
    """The backticked repository paths of ``text`` that name nothing in the repository."""
    return [p for p in repository_paths(text) if p not in WRITTEN_BY_COMMANDS and not any(ROOT.glob(p.rstrip("/")))]


@pytest.mark.parametrize("path,text", documents(), ids=lambda v: v.relative_to(ROOT).as_posix()
                         if isinstance(v, Path) else "")
def test_every_relative_link_names_a_file_of_the_repository(path, text):
    assert dead_links(path, text) == []


@pytest.mark.parametrize("path,text", documents(), ids=lambda v: v.relative_to(ROOT).as_posix()
                         if isinstance(v, Path) else "")
def test_every_backticked_repository_path_exists(path, text):
    assert missing_paths(text) == []


def test_the_checks_find_a_dead_link_a_dead_anchor_and_a_missing_path(tmp_path):
    doc = tmp_path / "guide.md"
    text = "# Title\n[ok](#title) [gone](nowhere.md) [bad anchor](#nope) [web](https://example.org/x)\n" \
           "`minivae/kl.py` `minivae/no_such_module.py` `figures/lessons/*.png` `runs/latest`"
    assert dead_links(doc, text) == ["nowhere.md", "#nope"]
    assert missing_paths(text) == ["minivae/no_such_module.py"]


def test_the_readme_is_short():
    size = len(README.read_bytes())
    assert size <= README_LIMIT, f"README.md is {size} bytes; keep it under ~12 KB (move detail to a guide)"


def test_the_readme_has_a_table_of_contents_linking_every_section():
    text = README.read_text(encoding="utf-8")
    assert re.search(r"^## Contents\s*$", text, re.M), "README.md has no '## Contents' section"
    contents = text.split("## Contents", 1)[1].split("\n## ", 1)[0]
    sections = [slug(h) for h in re.findall(r"^## (.+)$", FENCE.sub("", text), re.M) if h.strip() != "Contents"]
    linked = {t[1:] for t in relative_links(contents) if t.startswith("#")}
    assert sections and set(sections) <= linked, f"sections missing from the contents: {set(sections) - linked}"


def test_the_readme_gives_the_install_and_test_commands_that_ci_runs():
    text = README.read_text(encoding="utf-8")
    install = 'python -m pip install -e . && python -m minivae train'
    test = 'python -m pip install -e ".[test,lessons,docs]" && python -m pytest'
    assert install in text and test in text
    assert test in (ROOT / ".ci" / "run").read_text(encoding="utf-8"), "CI no longer runs the README's test command"


def test_no_merge_conflict_markers_are_left_in_the_sources_and_docs():
    for folder in ("minivae", "lessons", "tests", ".ci"):
        paths = [*(ROOT / folder).rglob("*"), *ROOT.glob("*.*")] if folder == "minivae" else (ROOT / folder).rglob("*")
        for path in paths:
            if path.suffix in (".py", ".md", ".ipynb", ".cfg", ".toml", ".txt") or path.name == "run":
                _assert_no_markers(path)


def _assert_no_markers(path):
    for n, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        assert not line.startswith(("<<<<<<< ", ">>>>>>> ")), f"{path.relative_to(ROOT)}:{n}: {line}"
