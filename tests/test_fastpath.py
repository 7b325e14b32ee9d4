"""The fused, preallocated training path gives the readable path's numbers.

Same seed, same eps: losses and gradients agree to float rounding (float64:
about 1e-16 relative; float32: about 1e-7 relative to the largest entry),
over one step and over several Adam steps. Also: which configurations take
the fast path, that float32 training never produces a float64 array, that
parameters live in one flat buffer shared with the layers, and that the
buffers are reused from step to step.
"""
import numpy as np
import pytest

from minivae import VAE, Adam
from minivae.gradcheck import check_model_gradients
from minivae.kernels import reference
from minivae.likelihoods import bernoulli_log_likelihood, bernoulli_log_likelihood_backward

CONFIGS = [
    dict(),                                                              # pytorch/examples 784-400-20 ReLU
    dict(hidden_dims=(200, 200), latent_dim=50, activation="tanh"),      # the IWAE architecture
    dict(hidden_dims=(), latent_dim=5),                                  # linear: heads straight on x
    dict(hidden_dims=(30, 20), latent_dim=4, activation="sigmoid"),
    dict(hidden_dims=(64,), latent_dim=8, activation="leaky_relu", beta=0.5),
]
TOL = {"float32": 2e-6, "float64": 1e-13}   # observed: ~3e-7 and ~3e-16


def pair(dtype, **kw):
    """Two identical models: the fast path and the readable one."""
    fast, slow = VAE(dtype=dtype, seed=3, **kw), VAE(dtype=dtype, seed=3, **kw)
    slow.fused = False
    return fast, slow


def rel(a, b):
    """max |a - b| / max |b|: the error relative to the array's scale."""
    return float(np.abs(np.asarray(a, np.float64) - b).max() / max(np.abs(np.asarray(b, np.float64)).max(), 1e-30))


def batch(n=32, d=784, seed=0, dtype="float32"):
    rng = np.random.default_rng(seed)
    x = rng.random((n, d)).astype(dtype)
    x[:, :100] = 0.0                                   # MNIST-like: exact zeros and ones
    x[:, 100:150] = 1.0
    return x


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("kw", CONFIGS)
def test_fast_equals_readable_loss_and_gradients(kw, dtype):
    fast, slow = pair(dtype, **kw)
    x = batch(dtype=dtype)
    eps = np.random.default_rng(1).standard_normal((32, fast.config.latent_dim)).astype(dtype)
    lf, ls = fast.loss(x, eps=eps), slow.loss(x, eps=eps)
    assert "fast" in fast._cache and "fast" not in slow._cache
    for k in ("loss", "recon", "kl"):
        assert lf[k].dtype == np.dtype(dtype) and lf[k].shape == ()
        assert rel(lf[k], ls[k]) < TOL[dtype], k
    gf, gs = fast.backward(), slow.backward()
    assert gf is fast.grads and list(gf) == list(gs)
    for k in gs:
        assert gf[k].dtype == np.dtype(dtype) and gf[k].shape == gs[k].shape
        assert rel(gf[k], gs[k]) < TOL[dtype], k


def test_same_seed_draws_the_same_eps_on_both_paths():
    fast, slow = pair("float64")
    x = batch(dtype="float64")
    for _ in range(2):
        assert rel(fast.loss(x)["loss"], slow.loss(x)["loss"]) < 1e-13
        assert rel(fast.backward()["decoder.0.W"], slow.backward()["decoder.0.W"]) < 1e-13


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_adam_training_trajectories_agree(dtype):
    fast, slow = pair(dtype, hidden_dims=(64,), latent_dim=8)
    of, os_ = Adam(fast.params, lr=1e-3), Adam(slow.params, lr=1e-3)
    for step in range(5):
        x = batch(n=16, seed=step, dtype=dtype)
        for vae, opt in ((fast, of), (slow, os_)):
            vae.loss(x)
            opt.step(vae.backward())
    for k in slow.params:
        assert rel(fast.params[k], slow.params[k]) < 50 * TOL[dtype], k


def test_denoising_target_and_beta_changes_on_the_fast_path():
    fast, slow = pair("float64", hidden_dims=(16,), latent_dim=3)
    x, target = batch(n=8, seed=1, dtype="float64"), batch(n=8, seed=2, dtype="float64")
    for vae in (fast, slow):
        vae.beta = 0.3                                       # a KL warm-up changes the weight
    eps = np.random.default_rng(0).standard_normal((8, 3))
    assert rel(fast.loss(x, eps=eps, target=target)["loss"], slow.loss(x, eps=eps, target=target)["loss"]) < 1e-13
    gf, gs = fast.backward(), slow.backward()
    assert max(rel(gf[k], gs[k]) for k in gs) < 1e-13


def test_fast_path_gradient_check_float64():
    vae = VAE(input_dim=6, hidden_dims=(5, 4), latent_dim=3, activation="tanh", dtype="float64", beta=0.7, seed=6)
    x = np.random.default_rng(1).random((7, 6))
    eps = np.random.default_rng(2).standard_normal((7, 3))
    vae.loss(x, eps=eps)
    assert "fast" in vae._cache
    grads = {k: v.copy() for k, v in vae.backward().items()}
    errors = check_model_gradients(lambda: vae.loss(x, eps=eps)["loss"], vae.params, grads)
    assert max(errors.values()) < 1e-6            # central differences in float64: ~1e-8 expected


@pytest.mark.parametrize("kw", [dict(likelihood="gaussian"), dict(iwae_k=3), dict(free_bits=0.1),
                                dict(num_classes=10)])
def test_other_objectives_fall_back_to_the_readable_path(kw):
    vae = VAE(input_dim=12, hidden_dims=(8,), latent_dim=2, dtype="float64", **kw)
    y = np.arange(5) % 10 if kw.get("num_classes") else None
    vae.loss(np.random.default_rng(0).random((5, 12)), y=y)
    assert "fast" not in vae._cache
    vae.backward()


def test_float32_training_never_makes_float64():
    vae = VAE(hidden_dims=(32,), latent_dim=4, seed=0)
    opt = Adam(vae.params)
    for n in (16, 16, 5):
        out = vae.loss(batch(n=n))
        opt.step(vae.backward())
    arrays = [*out.values(), *vae.params.values(), *vae.grads.values(), *opt.m.values(), *opt.v.values(),
              opt._flat_state, opt._v_flat]
    for ws in vae._workspaces.values():
        for v in ws.values():
            arrays += v if isinstance(v, list) else [v]
    arrays += [v for v in vae._cache.values() if isinstance(v, np.ndarray)]
    assert all(a.dtype == np.float32 for a in arrays if a is not None)


def test_params_and_grads_are_views_of_one_flat_buffer_shared_with_the_layers():
    vae = VAE(hidden_dims=(32, 16), latent_dim=4)
    for store in (vae.params, vae.grads):
        arrays = list(store.values())
        base = arrays[0].base
        assert base is not None and base.ndim == 1 and base.size == sum(a.size for a in arrays)
        assert all(a.base is base and a.flags.c_contiguous for a in arrays)
    assert vae.params["encoder.1.W"] is vae.encoder.dense[1].params["W"]
    assert vae.grads["mu.b"] is vae.mu_head.grads["b"]
    assert vae.params["decoder.2.W"] is vae.decoder.dense[2].params["W"]
    vae.params["mu.W"][...] = 0.5                     # writing through the dict reaches the layer
    assert (vae.mu_head.params["W"] == 0.5).all()


def test_buffers_are_reused_across_steps_and_few_batch_sizes_are_kept():
    vae = VAE(hidden_dims=(16,), latent_dim=3)
    vae.loss(batch(n=8))
    first = vae._workspaces[8]["dlogits"]
    vae.backward()
    vae.loss(batch(n=8, seed=1))
    assert vae._workspaces[8]["dlogits"] is first
    for n in range(1, 8):
        vae.loss(batch(n=n))
    assert len(vae._workspaces) <= vae._MAX_WORKSPACES


def test_backward_twice_gives_the_same_gradients():
    vae = VAE(hidden_dims=(16,), latent_dim=3, dtype="float64")
    vae.loss(batch(n=8, dtype="float64"))
    g1 = {k: v.copy() for k, v in vae.backward().items()}
    g2 = vae.backward()
    assert all(np.array_equal(g1[k], g2[k]) for k in g1)


def test_losses_returned_are_not_overwritten_by_the_next_step():
    vae = VAE(hidden_dims=(16,), latent_dim=3)
    out = vae.loss(batch(n=8))
    saved = float(out["loss"])
    vae.loss(batch(n=8, seed=5))
    assert float(out["loss"]) == saved


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_reference_bernoulli_pass_matches_the_readable_likelihood(dtype):
    rng = np.random.default_rng(0)
    logits = (8 * rng.standard_normal((16, 50))).astype(dtype)
    logits[0, :6] = [-200, 200, 0.0, -0.0, -90, 90]       # extremes stay finite
    x = rng.random((16, 50)).astype(dtype)
    nll, dlogits = reference.bernoulli_nll_grad(x, logits, 1 / 16)
    ll = bernoulli_log_likelihood(x.astype(np.float64), logits.astype(np.float64))
    g = bernoulli_log_likelihood_backward(np.full(16, -1 / 16), x.astype(np.float64), logits.astype(np.float64))
    assert np.isfinite(nll).all() and np.isfinite(dlogits).all()
    assert nll.dtype == dlogits.dtype == np.dtype(dtype)
    tol = 1e-6 if dtype == "float32" else 1e-14
    assert rel(nll, -ll) < tol and rel(dlogits, g) < tol


def test_two_thread_split_is_bit_identical():
    one, two = VAE(seed=2), VAE(seed=2)
    o1, o2 = Adam(one.params), Adam(two.params)
    two._split.enabled = True                    # the Bernoulli pass in two row blocks
    for step in range(2):
        x, eps = batch(n=128, seed=step), np.random.default_rng(step).standard_normal((128, 20)).astype("float32")
        assert one.loss(x, eps=eps)["loss"] == two.loss(x, eps=eps)["loss"]
        o1.step(one.backward())
        o2.step(two.backward())
    if two._split.enabled:                       # (False on a one-CPU machine)
        assert two._split._pool is not None
    assert all(np.array_equal(one.params[k], two.params[k]) for k in one.params)
