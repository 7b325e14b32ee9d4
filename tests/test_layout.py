"""The package's shape: no import cycle, the layers of the pipeline, small modules.

data -> building blocks -> models -> optimizers -> training loop -> CLI,
figures, bench, with the backend and its kernels underneath. Imports are
read from the source (function-level ones too: a lazy import does not hide
a cycle here).
"""
import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "minivae"
MAX_LINES = 300


def module_name(path):
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


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


def test_the_import_graph_is_read_correctly():
    assert "minivae.backend" in GRAPH["minivae.backend.numpy_backend"] and "minivae.backend.kernels.numpy_ops" in GRAPH["minivae.backend.numpy_backend"]
    assert "minivae.backend.kernels.reference" in GRAPH["minivae.backend.kernels"]            # `from . import reference`
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_no_import_cycle():
    assert find_cycle(GRAPH) is None


def test_the_base_backend_knows_no_backend_and_no_kernel():
    assert GRAPH["minivae.backend"] <= {"minivae.errors"}
    for name in MODULES:
        if name.startswith("minivae.backend.kernels"):
            assert not any(m.startswith(("minivae.backend.numpy_backend", "minivae.backend.cupy_backend", "minivae.models.vae", "minivae.layers"))
                           for m in GRAPH[name]), name


@pytest.mark.parametrize("top", ["minivae.cli", "minivae.bench"])
def test_nothing_imports_the_cli_or_the_benchmarks(top):
    for name, deps in GRAPH.items():
        if not name.startswith((top, "minivae.__main__", "minivae.cli", "minivae.bench")):   # bench nll: train's design flags
            assert not any(d == top or d.startswith(top + ".") for d in deps), (name, top)


def test_blocks_do_not_import_models_or_the_loop():
    blocks = ["activations", "reparam", "kl", "likelihoods", "logsumexp", "iwae", "layers", "backend.buffers", "optim"]
    for block in blocks:
        deps = GRAPH[f"minivae.{block}"]
        assert not any(d.startswith(("minivae.models.vae", "minivae.train", "minivae.models.base")) for d in deps), block


@pytest.mark.parametrize("name", sorted(MODULES))
def test_every_module_fits_the_line_budget(name):
    lines = len(MODULES[name].read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{MODULES[name]} has {lines} lines, the budget is {MAX_LINES}"
