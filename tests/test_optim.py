"""Optimizers against hand-computed traces: Adam (Kingma & Ba 2015, Algorithm 1), SGD with
momentum, gradient clipping, state keyed by full names, the flat (packed) update, and the one
route of their updates: the backend's ops, as the layers use them."""
import math

import numpy as np
import pytest

from minivae import VAE, Adam, SGD
from minivae.backend import Backend
from minivae.backend.kernels import numpy_ops, reference
from minivae.errors import ConfigError
from minivae.optim import OPTIMIZERS, RMSProp, clip_grad_norm, flat_view, global_norm

GRADS = [0.5, -1.5, 2.0, 0.1]          # one scalar parameter's gradients over four steps


def adam_trace(p, grads, lr=0.01, b1=0.9, b2=0.999, eps=1e-8):
    """Algorithm 1, line by line, in Python floats."""
    m = v = 0.0
    out = []
    for t, g in enumerate(grads, start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        m_hat, v_hat = m / (1 - b1**t), v / (1 - b2**t)
        p = p - lr * m_hat / (math.sqrt(v_hat) + eps)
        out.append(p)
    return out


@pytest.mark.parametrize("dtype,tol", [("float64", 1e-14), ("float32", 1e-6)])
def test_adam_follows_algorithm_1(dtype, tol):
    p = {"w": np.full((2, 3), 1.0, dtype=dtype)}
    opt = Adam(p, lr=0.01)
    want = adam_trace(1.0, GRADS)
    for g, w in zip(GRADS, want):
        opt.step({"w": np.full((2, 3), g, dtype=dtype)})
        assert p["w"].dtype == np.dtype(dtype)
        np.testing.assert_allclose(p["w"], w, rtol=tol)
    assert opt.t == 4
    b1, b2 = 0.9, 0.999
    m = sum((1 - b1) * b1 ** (3 - i) * g for i, g in enumerate(GRADS))
    v = sum((1 - b2) * b2 ** (3 - i) * g * g for i, g in enumerate(GRADS))
    np.testing.assert_allclose(opt.m["w"], m, rtol=tol)
    np.testing.assert_allclose(opt.v["w"], v, rtol=tol)


def test_adam_first_step_moves_each_weight_by_lr_times_sign():
    p = {"a": np.array([1.0, -2.0]), "b": np.array([[0.0]])}
    Adam(p, lr=0.1).step({"a": np.array([3.0, -0.01]), "b": np.array([[5.0]])})
    np.testing.assert_allclose(p["a"], [0.9, -1.9], rtol=1e-6)       # m_hat / sqrt(v_hat) = sign(g) (eps aside)
    np.testing.assert_allclose(p["b"], [[-0.1]], rtol=1e-8)


def test_sgd_momentum_trace():
    p = {"w": np.array([1.0])}
    opt = SGD(p, lr=0.1, momentum=0.9)
    b, w = 0.0, 1.0
    for g in GRADS:
        opt.step({"w": np.array([g])})
        b = 0.9 * b + g
        w -= 0.1 * b
        np.testing.assert_allclose(p["w"], [w], rtol=1e-14)
    np.testing.assert_allclose(opt.buf["w"], [b], rtol=1e-14)


def test_plain_sgd():
    p = {"w": np.array([1.0, 2.0])}
    SGD(p, lr=0.5).step({"w": np.array([2.0, -2.0])})
    np.testing.assert_array_equal(p["w"], [0.0, 3.0])


def test_clipping_scales_by_the_global_norm():
    grads = {"a": np.array([3.0]), "b": np.array([[4.0]])}
    assert float(global_norm(grads)) == 5.0
    norm = clip_grad_norm(grads, 1.0)
    assert float(norm) == 5.0
    np.testing.assert_allclose(grads["a"], [0.6])      # every gradient scaled by 1 / 5, not only the first
    np.testing.assert_allclose(grads["b"], [[0.8]])
    untouched = {"a": np.array([0.3])}
    clip_grad_norm(untouched, 1.0)
    assert untouched["a"][0] == 0.3


def test_optimizer_clips_before_its_update():
    p = {"w": np.array([0.0])}
    SGD(p, lr=1.0, clip_norm=2.0).step({"w": np.array([10.0])})
    np.testing.assert_allclose(p["w"], [-2.0])


def test_state_is_keyed_by_the_full_parameter_name():
    vae = VAE(input_dim=6, hidden_dims=(5,), latent_dim=2, dtype="float64")
    opt = Adam(vae.params)
    assert list(opt.m) == list(vae.params)               # "encoder.0.W", "mu.W", ... never a bare "W"
    assert opt.m["mu.W"] is not opt.m["logvar.W"]
    vae.loss(np.random.default_rng(0).random((4, 6)))
    opt.step(vae.backward())
    assert not np.array_equal(opt.m["mu.W"], opt.m["logvar.W"])
    state = opt.state_dict()
    assert "m.encoder.0.W" in state and "v.decoder.1.b" in state and state["t"] == 1


def test_flat_update_equals_the_per_parameter_update():
    vae = VAE(input_dim=10, hidden_dims=(7,), latent_dim=3, dtype="float64", seed=1)
    loose = {k: v.copy() for k, v in vae.params.items()}       # separate arrays: the per-parameter path
    assert flat_view(vae.params.values()) is not None and flat_view(loose.values()) is None
    flat_opt, loose_opt = Adam(vae.params, lr=0.01), Adam(loose, lr=0.01)
    for step in range(3):
        vae.loss(np.random.default_rng(step).random((4, 10)))
        grads = vae.backward()
        assert flat_opt._flat_pair(grads) is not None
        loose_grads = {k: g.copy() for k, g in grads.items()}
        assert loose_opt._flat_pair(loose_grads) is None
        flat_opt.step(grads)
        loose_opt.step(loose_grads)
    for k in loose:
        np.testing.assert_allclose(vae.params[k], loose[k], rtol=1e-14, atol=1e-16)
        np.testing.assert_allclose(flat_opt.v[k], loose_opt.v[k], rtol=1e-14)


def test_flat_view_covers_packed_arrays_only_in_order():
    buf = np.arange(10.0)
    a, b = buf[:4].reshape(2, 2), buf[4:10]
    view = flat_view([a, b])
    assert view.size == 10 and np.shares_memory(view, buf)
    assert flat_view([b, a]) is None                             # out of order
    assert flat_view([buf[:4], buf[5:]]) is None                 # a gap
    assert flat_view([np.zeros(3), np.zeros(3)]) is None         # separate arrays


def test_state_dict_round_trip_keeps_the_flat_state():
    p = {"a": np.zeros(3), "b": np.zeros((2, 2))}
    opt = Adam(p)
    opt.step({"a": np.ones(3), "b": np.ones((2, 2))})
    other = Adam({k: v.copy() for k, v in p.items()})
    other.load_state_dict({k: np.array(v) for k, v in opt.state_dict().items()})
    assert other.t == 1 and np.array_equal(other._flat_state, opt._flat_state)
    assert np.shares_memory(other.m["b"], other._flat_state)


@pytest.mark.parametrize("kwargs, match", [(dict(lr=0), r"learning rate must be a finite number > 0, got 0"),
                                           (dict(beta1=1.0), r"beta1 must be a finite number in \[0, 1\), got 1.0"),
                                           (dict(eps=0), r"eps must be a finite number > 0, got 0"),
                                           (dict(clip_norm=-1), r"clip_norm must be a finite number > 0")])
def test_bad_adam_options(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        Adam({"w": np.zeros(2)}, **kwargs)


def test_mismatched_grads_raise():
    with pytest.raises(ConfigError, match="different keys"):
        Adam({"w": np.zeros(2)}).step({"v": np.zeros(2)})


@pytest.mark.parametrize("packed", [True, False])
def test_rmsprop_follows_the_textbook_update(packed):
    """r <- rho r + (1 - rho) g^2,  p <- p - lr g / (sqrt(r) + eps), step by step, flat buffer or not."""
    rng = np.random.default_rng(0)
    buf = rng.standard_normal(7)
    params = {"a": buf[:3], "b": buf[3:].reshape(2, 2)}
    if not packed:
        params = {k: v.copy() for k, v in params.items()}
    expect = {k: v.copy() for k, v in params.items()}
    r = {k: np.zeros_like(v) for k, v in params.items()}
    opt = RMSProp(params, lr=0.01, rho=0.9, eps=1e-6)
    for _ in range(4):
        gbuf = rng.standard_normal(7)
        grads = {"a": gbuf[:3], "b": gbuf[3:].reshape(2, 2)}
        for k in expect:
            r[k] = 0.9 * r[k] + 0.1 * grads[k] ** 2
            expect[k] = expect[k] - 0.01 * grads[k] / (np.sqrt(r[k]) + 1e-6)
        opt.step({k: g.copy() for k, g in grads.items()} if not packed else grads)
        for k in expect:
            np.testing.assert_allclose(params[k], expect[k], rtol=1e-13)
    assert (opt._flat_state is not None) and opt.t == 4
    state = opt.state_dict()
    again = RMSProp({k: v.copy() for k, v in params.items()}, lr=0.01, rho=0.9, eps=1e-6)
    again.load_state_dict(state)
    np.testing.assert_allclose(again.r["b"], r["b"], rtol=1e-13)


@pytest.mark.parametrize("kwargs, match", [({"rho": 1.0}, "rho"), ({"rho": -0.1}, "rho"), ({"eps": 0}, "eps"),
                                           ({"lr": 0}, "learning rate")])
def test_bad_rmsprop_options(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        RMSProp({"a": np.zeros(2)}, **kwargs)


OPTIONS = {"adam": {"lr": 0.01}, "sgd": {"lr": 0.1, "momentum": 0.9}, "rmsprop": {"lr": 0.01, "rho": 0.9}}


class RecordingOps:
    """The reference ops, recording the name of each update called through them."""

    def __init__(self):
        self.calls = []

    def __getattr__(self, name):
        def call(*args, **kwargs):
            self.calls.append(name)
            return getattr(reference, name)(*args, **kwargs)
        return call


def packed_problem(seed=0):
    """Parameters packed in one buffer (the flat path), 3 steps of gradients packed likewise."""
    rng = np.random.default_rng(seed)
    buf = rng.standard_normal(7)
    grads = []
    for _ in range(3):
        g = rng.standard_normal(7)
        grads.append({"a": g[:3], "b": g[3:].reshape(2, 2)})
    return {"a": buf[:3], "b": buf[3:].reshape(2, 2)}, grads


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
@pytest.mark.parametrize("packed", [True, False])
def test_every_update_goes_through_the_backends_ops(name, packed):
    """One route: the optimizer calls ``backend.ops.<name>_update`` once per step (flat) or per parameter."""
    params, grads = packed_problem()
    if not packed:
        params = {k: v.copy() for k, v in params.items()}
        grads = [{k: g.copy() for k, g in step.items()} for step in grads]
    ops = RecordingOps()
    opt = OPTIMIZERS[name](params, backend=Backend(np, ops), **OPTIONS[name])
    opt.step(grads[0])
    assert ops.calls == [f"{name}_update"] * (1 if packed else len(params))


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
@pytest.mark.parametrize("packed", [True, False])
def test_numpy_ops_update_as_the_reference_does_with_the_same_side_effects(name, packed):
    """The NumPy backend's BLAS updates against the reference's array code, 3 steps in float64.

    Expected difference: a few units of rounding (BLAS may fuse a x + y); bound 1e-13.
    """
    runs = {}
    for ops in (reference, numpy_ops):
        params, grads = packed_problem()
        if not packed:
            params = {k: v.copy() for k, v in params.items()}
            grads = [{k: g.copy() for k, g in step.items()} for step in grads]
        before = [{k: g.copy() for k, g in step.items()} for step in grads]
        opt = OPTIMIZERS[name](params, backend=Backend(np, ops), **OPTIONS[name])
        for step, kept in zip(grads, before):
            opt.step(step)
            for k in step:
                np.testing.assert_array_equal(step[k], kept[k])            # the gradients are read only
        runs[ops.__name__] = params, opt.state_dict()
    (p_ref, s_ref), (p_cpu, s_cpu) = runs.values()
    assert s_ref.keys() == s_cpu.keys() and s_ref["t"] == s_cpu["t"] == 3
    for k in p_ref:
        np.testing.assert_allclose(p_cpu[k], p_ref[k], rtol=1e-13)
    for k in s_ref:
        np.testing.assert_allclose(s_cpu[k], s_ref[k], rtol=1e-13)


def test_plain_sgd_leaves_its_momentum_buffer_alone_on_every_backend():
    for ops in (reference, numpy_ops):
        opt = SGD({"w": np.array([1.0, 2.0])}, lr=0.5, backend=Backend(np, ops))
        opt.step({"w": np.array([2.0, -2.0])})
        np.testing.assert_array_equal(opt.buf["w"], [0.0, 0.0])


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_state_dict_round_trip_for_every_optimizer(name):
    params, grads = packed_problem()
    opt = OPTIMIZERS[name](params, **OPTIONS[name])
    for g in grads[:2]:
        opt.step(g)
    state = {k: np.array(v) for k, v in opt.state_dict().items()}
    assert set(state) == {"t"} | {f"{slot}.{k}" for slot in opt.slots for k in params}
    twin_params, _ = packed_problem()                                        # packed too: the same computation
    for k in params:
        twin_params[k][...] = params[k]
    twin = OPTIMIZERS[name](twin_params, **OPTIONS[name])
    twin.load_state_dict(state)
    assert twin.t == 2
    opt.step(grads[2])
    twin.step({k: g.copy() for k, g in grads[2].items()})
    for k in params:                                                         # the same next step, bit for bit
        np.testing.assert_array_equal(twin.params[k], params[k])


def test_a_backend_that_cannot_hold_the_parameters_is_refused():
    class OtherXp:
        __name__ = "other"

    with pytest.raises(ConfigError, match="backend 'base' cannot update numpy arrays"):
        Adam({"w": np.zeros(2)}, backend=Backend(OtherXp(), reference))
