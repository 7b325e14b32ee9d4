"""Shared fixtures and helpers: float64 random data and full-model gradient checks."""
import numpy as np
import pytest

from minivae.gradcheck import check_model_gradients


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def away_from_zero(rng, shape, margin=0.1):
    """Standard normal values with |v| >= margin (keeps ReLU kinks out of finite differences)."""
    v = rng.standard_normal(shape)
    return np.where(v >= 0, v + margin, v - margin)


def data(n=7, d=6, seed=1):
    """n uniform [0, 1) rows of d pixels, float64."""
    return np.random.default_rng(seed).random((n, d))


def grad_errors(vae, x, eps, **kw):
    """{param: rel error} of backward() against central differences of the full loss."""
    vae.loss(x, eps=eps, **kw)
    grads = {k: v.copy() for k, v in vae.backward().items()}
    return check_model_gradients(lambda: vae.loss(x, eps=eps, **kw)["loss"], vae.params, grads)


def assert_same_run(expected, got):
    """Two run folders hold the same checkpoint arrays bit for bit and the same history, timings aside."""
    import json

    from minivae.models.checkpoint import load_checkpoint
    a, b = load_checkpoint(expected / "model.npz")[1], load_checkpoint(got / "model.npz")[1]
    assert sorted(a) == sorted(b)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    untimed = [[{k: v for k, v in e.items() if k != "epoch_time_s"} for e in json.loads(
        (d / "metrics.json").read_text())["history"]] for d in (expected, got)]
    assert untimed[0] == untimed[1]
