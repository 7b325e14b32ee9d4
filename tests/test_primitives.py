"""Each primitive of the lecture math is defined once in the package; its other homes import that definition."""
import ast
from pathlib import Path

import numpy as np
import pytest

import minivae
from minivae import activations, adversarial, errors, likelihoods, logsumexp, softmax
from minivae.backend.kernels import reference
from minivae.errors import ConfigError

PACKAGE = Path(minivae.__file__).parent


def definitions(name):
    """The modules (paths relative to the package) that define a function or assign a constant ``name``."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            defined = (isinstance(node, ast.FunctionDef) and node.name == name) or (
                isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets))
            if defined:
                found.append(str(path.relative_to(PACKAGE)))
    return found


@pytest.mark.parametrize("name, home", [("softplus", "activations.py"), ("sigmoid", "activations.py"),
                                        ("softmax", "softmax.py"), ("LOG_2PI", "backend/kernels/reference.py"),
                                        ("positive_int", "errors.py")])
def test_each_primitive_has_one_definition(name, home):
    assert definitions(name) == [home]


def test_the_old_import_paths_give_the_one_definition():
    assert likelihoods.softplus is adversarial.softplus is activations.softplus
    assert adversarial.sigmoid is activations.sigmoid is likelihoods.sigmoid
    assert logsumexp.softmax is softmax.softmax
    assert reference.LOG_2PI is likelihoods.LOG_2PI


def test_softmax_normalizes_along_the_axis_it_is_given():
    a = np.random.default_rng(0).normal(size=(4, 3)) * 50
    assert np.allclose(softmax.softmax(a, axis=0).sum(axis=0), 1, rtol=1e-15, atol=0)
    assert np.allclose(softmax.softmax(a).sum(axis=1), 1, rtol=1e-15, atol=0)
    assert np.allclose(softmax.softmax(a, axis=0), np.exp(a - logsumexp.logsumexp(a, axis=0, keepdims=True)),
                       rtol=1e-12, atol=1e-300)


def test_softplus_is_finite_and_exact_at_extremes():
    t = np.array([-1000.0, -30.0, 0.0, 30.0, 1000.0])
    out = activations.softplus(t)
    assert np.all(np.isfinite(out))
    assert np.allclose(out, np.logaddexp(0, t), rtol=1e-15, atol=0)


@pytest.mark.parametrize("bad", [0, -1, 2.0, True, "3", None])
def test_positive_int_names_the_argument_it_refuses(bad):
    with pytest.raises(ConfigError, match=r"^width must be an integer >= 1, got"):
        errors.positive_int("width", bad)


def test_positive_int_accepts_numpy_integers():
    assert errors.positive_int("n", np.int64(3)) == 3 and type(errors.positive_int("n", np.int64(3))) is int
