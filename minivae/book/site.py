"""The book's HTML: the guides, the executed lessons and an API reference, built by Sphinx into a static folder.

The sources are laid out in a temporary folder as they are in the repository
(``README.md``, ``lessons/``, ``minivae/*.md``, ``figures/``), so every link
between the guides and the lessons resolves as it does in a clone. The README
is the front page (``index.html``); its table of contents gains the book's
navigation: the lesson map and the lessons in order, the guides, the API
reference (Sphinx autodoc, one page per part of the package).

Nothing is fetched: the theme (Furo) has no web fonts, and MathJax 2 is copied
from the ``jupyter-server-mathjax`` package into ``_static/mathjax``.
"""
from __future__ import annotations

import shutil
from pathlib import Path

#: the guides, in the order of the navigation (the README is the front page)
GUIDES = ("README.md", "lessons/README.md", "minivae/INSTRUCTORS.md", "minivae/cli/README.md",
          "minivae/models/README.md", "minivae/PERFORMANCE.md", "minivae/MODULES.md", "minivae/CHANGELOG.md")
#: the API reference's pages: title -> the modules (a package name takes the package and its modules)
API = {"The lecture's mathematics": "math", "Array backends": "backend", "Datasets": "datasets", "Models": "models",
       "The training loop": "train", "Metrics": "metrics", "Exercise checkers": "checks", "Figures": "figures"}
#: what the docs extra brings (the module each needs), for the one-line error when it is missing
NEEDS = {"sphinx": "sphinx", "myst-nb": "myst_nb", "furo": "furo", "jupyter-server-mathjax": "jupyter_server_mathjax",
         "nbclient": "nbclient", "nbformat": "nbformat", "ipykernel": "ipykernel"}
#: MathJax 2 typesets only Sphinx's math elements (myst marks the rest of a page mathjax_ignore)
MATHJAX_CONFIG = {
    "tex2jax": {"inlineMath": [["\\(", "\\)"]], "displayMath": [["\\[", "\\]"]], "processEscapes": True,
                "processEnvironments": True, "processClass": "math", "ignoreClass": "tex2jax_ignore|mathjax_ignore"},
    "displayAlign": "center", "messageStyle": "none", "fast-preview": {"disabled": True},
    "HTML-CSS": {"availableFonts": [], "imageFont": None, "preferredFont": None, "webFont": "STIX-Web",
                 "linebreaks": {"automatic": True}},
}


def missing_tools():
    """The docs extra's packages that cannot be imported here (an empty list when the book can be built)."""
    import importlib.util
    return [name for name, module in NEEDS.items() if importlib.util.find_spec(module) is None]


def modules(package_dir, part):
    """The modules of one part of the package: the top-level lecture modules for ``math``, else a subpackage's."""
    package_dir = Path(package_dir)
    if part == "math":
        return [f"minivae.{p.stem}" for p in sorted(package_dir.glob("*.py"))
                if not p.stem.startswith("_") and p.stem not in ("errors", "version", "assignments")]
    names = []
    for p in sorted((package_dir / part).rglob("*.py")):
        rel = p.relative_to(package_dir.parent).with_suffix("").parts
        names.append(".".join(rel[:-1] if rel[-1] == "__init__" else rel))
    return sorted(names)


def api_pages(package_dir):
    """{page name: Markdown} of the API reference: an index and one page of autodoc per part."""
    pages, entries = {}, []
    for title, part in API.items():
        blocks = "\n".join(f"```{{eval-rst}}\n.. automodule:: {m}\n   :members:\n   :show-inheritance:\n```\n"
                           for m in modules(package_dir, part))
        pages[f"api/{part}"] = f"# {title}\n\n{blocks}"
        entries.append(part)
    pages["api/index"] = ("# API reference\n\nDrawn from the docstrings of each part of the package, in the order of "
                          "its layers (see the module map).\n\n```{toctree}\n:maxdepth: 1\n\n" + "\n".join(entries)
                          + "\n```\n")
    return pages


def navigation(lessons, guides):
    """The toctrees appended to the front page: the lessons in order, the guides, the reference."""
    def tree(caption, docs):
        return "\n```{toctree}\n:hidden:\n:caption: " + caption + "\n\n" + "\n".join(docs) + "\n```\n"
    return (tree("Lessons", ["lessons/README"] + [f"lessons/{p.stem}" for p in lessons])
            + tree("Guides", [g[:-3] for g in guides if g not in ("README.md", "lessons/README.md")])
            + tree("Reference", ["api/index"]))


def stage(root, src, lessons, executed):
    """Lay out the book's sources in ``src``: guides, figures, the executed lessons, the API pages and conf.py."""
    root, src = Path(root), Path(src)
    guides = [g for g in GUIDES if (root / g).is_file()]
    for g in guides:
        (src / g).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(root / g, src / g)
    if (root / "figures").is_dir():
        shutil.copytree(root / "figures", src / "figures", ignore=shutil.ignore_patterns("*.json"))
    for path, notebook in zip(lessons, executed):
        shutil.copyfile(notebook, src / "lessons" / path.name)
    with open(src / "README.md", "a", encoding="utf-8") as f:
        f.write(navigation(lessons, guides))
    for name, text in api_pages(root / "minivae").items():
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / f"{name}.md").write_text(text, encoding="utf-8")
    (src / "conf.py").write_text(conf(root), encoding="utf-8")


def conf(root):
    """The Sphinx configuration (conf.py's text)."""
    settings = dict(
        project="minivae", html_title="minivae: the lessons", root_doc="README",
        extensions=["myst_nb", "sphinx.ext.autodoc", "sphinx.ext.mathjax", "sphinx.ext.githubpages"],
        exclude_patterns=["_build", "**.ipynb_checkpoints"], html_theme="furo", html_static_path=[],
        html_show_sourcelink=False, html_copy_source=False, nb_execution_mode="off", nb_merge_streams=True,
        myst_enable_extensions=["dollarmath", "amsmath"], myst_dmath_double_inline=True, myst_heading_anchors=3,
        autodoc_member_order="bysource",
        mathjax_path="mathjax/MathJax.js?config=TeX-AMS-MML_HTMLorMML-full", mathjax2_config=MATHJAX_CONFIG,
        suppress_warnings=["myst.header", "misc.highlighting_failure"],
    )
    lines = ["# written by python -m minivae book", "import sys", f"sys.path.insert(0, {str(root)!r})",
             "from minivae.book.site import escape_bars", "def setup(app):",
             "    app.connect('autodoc-process-docstring', escape_bars)",
             "    app.set_html_assets_policy('always')      # MathJax on every page: titles with math are in the menu"]
    return "\n".join(lines + [f"{k} = {v!r}" for k, v in settings.items()]) + "\n"


def escape_bars(app, what, name, obj, options, lines):
    """autodoc: a docstring's ``|z|`` is a norm, not a reST substitution (escaped outside ````literals````)."""
    for i, line in enumerate(lines):
        parts = line.split("``")
        lines[i] = "``".join(p if k % 2 else p.replace("|", "\\|") for k, p in enumerate(parts))


def build_html(src, out, doctrees, log):
    """Run Sphinx's HTML builder from ``src`` into ``out``; returns the number of warnings (written to ``log``)."""
    from sphinx.application import Sphinx
    with open(log, "w", encoding="utf-8") as warnings:
        app = Sphinx(str(src), str(src), str(out), str(doctrees), "html", status=None, warning=warnings,
                     freshenv=True, verbosity=0)
        app.build()
    shutil.copyfile(Path(out) / "README.html", Path(out) / "index.html")
    copy_mathjax(Path(out) / "_static" / "mathjax")
    return app.statuscode, sum(1 for line in Path(log).read_text(encoding="utf-8").splitlines()
                               if "WARNING" in line or "ERROR" in line)


def copy_mathjax(dest):
    """MathJax 2's files, from the jupyter-server-mathjax package, into ``dest`` (served by the book itself)."""
    import jupyter_server_mathjax
    static = Path(jupyter_server_mathjax.__file__).parent / "static"
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(static, dest)
