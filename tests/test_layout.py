"""The package's shape, checked on packages: the layers of the pipeline, no import cycle, one concept a file.

    errors, version
    backend (and backend/kernels)                 underneath everything
    the lecture math (the top-level modules)      kl, reparam, likelihoods, layers, ..., optim, gradcheck
    datasets
    models                                        compose the math; never the loop, figures, CLI or bench
    train                                         the loop, written once for every model
    metrics, checks                               the yardstick (trains its classifier with fit); exercise checkers
    figures
    book                                          the lessons as a static site (executes them, runs Sphinx)
    cli, bench                                    on top: nothing imports them (they may import each other's
                                                  modules: bench's subcommands are commands of the one parser)

A module may import its own package and the layers below it, never one above. Imports are read from the
source, function-level ones too (a lazy import does not hide a cycle or a layer broken here).
"""
import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "minivae"

#: each part of the package and its layer; a module may import from its own layer's part or any lower layer
LAYERS = {"errors": 0, "backend": 1, "math": 2, "datasets": 3, "models": 4, "train": 5, "metrics": 6, "checks": 6,
          "figures": 7, "book": 8, "cli": 9, "bench": 9}
#: the commands: ``bench``'s subcommands are commands of the one parser (and share its flag groups)
COMMANDS = {"cli", "bench"}
#: the public API at the top: it gathers every layer, and only it (and ``python -m minivae``) may
API = {"minivae", "minivae.__main__", "minivae.assignments"}


def module_name(path):
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def part(name):
    """The part a module belongs to: its package under minivae/, ``math`` for a top-level lecture module."""
    rest = name.split(".")[1:]
    if not rest:
        return "api"
    if len(rest) == 1 and not (PACKAGE / rest[0]).is_dir():
        return "errors" if rest[0] in ("errors", "version") else "math"
    return rest[0]


def imports(name):
    """The minivae modules ``name`` imports, anywhere in its source."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            for a in node.names:                        # `from . import kl` imports the module minivae.kl,
                sub = f"{base}.{a.name}"                # `from .kl import kl_divergence` the module minivae.kl
                found.add(sub if sub in MODULES else base)
    return {m for m in found if m in MODULES and m != name}


GRAPH = {name: imports(name) for name in MODULES}


def find_cycle(graph):
    """One import cycle as a list of modules, or None."""
    state, stack = {}, []

    def visit(m):
        state[m] = "open"
        stack.append(m)
        for n in sorted(graph[m]):
            if state.get(n) == "open":
                return stack[stack.index(n):] + [n]
            if n not in state and (cycle := visit(n)):
                return cycle
        state[m] = "done"
        stack.pop()
        return None

    for m in sorted(graph):
        if m not in state and (cycle := visit(m)):
            return cycle
    return None


def test_the_import_graph_and_the_parts_are_read_correctly():
    assert "minivae.backend" in GRAPH["minivae.backend.numpy_backend"]
    assert "minivae.backend.kernels.reference" in GRAPH["minivae.backend.kernels"]    # `from . import reference`
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert (part("minivae.kl"), part("minivae.errors"), part("minivae.models.vae")) == ("math", "errors", "models")
    assert part("minivae.backend.kernels.cuda") == "backend" and part("minivae") == "api"


def test_every_module_belongs_to_a_known_part():
    unknown = sorted(n for n in MODULES if n not in API and part(n) not in LAYERS)
    assert not unknown, f"modules outside the layers {sorted(LAYERS)}: {unknown} (add the package to LAYERS)"


def test_no_import_cycle():
    assert find_cycle(GRAPH) is None


@pytest.mark.parametrize("layer", sorted(LAYERS))
def test_each_part_imports_only_its_own_layer_and_the_layers_below(layer):
    def allowed(dep):
        mine, theirs = LAYERS[layer], LAYERS[part(dep)]
        return theirs < mine or part(dep) == layer or {layer, part(dep)} <= COMMANDS
    broken = sorted((name, dep) for name, deps in GRAPH.items() if name not in API and part(name) == layer
                    for dep in deps if dep not in API and not allowed(dep))
    assert not broken, f"{layer} reaches up (or sideways): {broken}"


def test_below_the_commands_nothing_imports_the_package_root():
    """The root imports every layer, so a library module importing it would reach up (the commands may)."""
    assert not sorted((n, d) for n, deps in GRAPH.items() if n not in API and LAYERS[part(n)] < LAYERS["cli"]
                      for d in deps if d == "minivae"), "import the module that defines the name instead"


def test_the_top_level_holds_only_the_lecture_math_and_the_api():
    top = sorted(n for n in MODULES if n.count(".") == 1 and not (PACKAGE / n.split(".")[1]).is_dir())
    # 26: convolution by hand (minivae/conv.py) is lecture math, cs231n's assignment 2
    assert len(top) <= 26, f"{len(top)} modules at the top of minivae/: {top}"


@pytest.mark.parametrize("name", sorted(MODULES))
def test_one_concept_per_file_near_300_lines(name):
    """Near 300 lines is a hint to look for a second concept; well past it (400) the file holds two."""
    lines = len(MODULES[name].read_text(encoding="utf-8").splitlines())
    assert lines <= 400, f"{MODULES[name]} has {lines} lines: split it by concept (never by line count)"


def test_the_base_backend_knows_no_backend_and_the_kernels_no_model():
    assert GRAPH["minivae.backend"] <= {"minivae.errors"}
    for name in MODULES:
        if name.startswith("minivae.backend.kernels"):
            assert not any(m.startswith(("minivae.backend.numpy_backend", "minivae.backend.cupy_backend"))
                           or part(m) not in ("backend", "errors") for m in GRAPH[name]), name
