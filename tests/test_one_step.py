"""One training step per variant, written once: VAE.loss and VAE.backward against the lecture core chained by hand.

For every variant (Bernoulli and Gaussian decoders, fixed and learned
variance, CVAE, free bits, IWAE, denoising, a warm-up KL weight, every
activation, no hidden layer) the loss and every gradient equal what the
functional core of lesson 5 gives when chained by hand (``dense_forward``,
``relu_forward``, ``reparameterize``, ``kl_backward``, ...): relative error
<= 1e-12 in float64, float32 rounding in float32. Then: a training step
allocates nothing of the data's size after the first one; parameters and
gradients are views of one flat buffer shared with the layers; float32
training makes no float64 array.
"""
import tracemalloc

import numpy as np
import pytest

from minivae import VAE, Adam, iwae
from minivae.activations import get_activation
from minivae.datasets import load_dataset
from minivae.kl import free_bits_kl, kl_backward, kl_divergence
from minivae.layers import dense_backward, dense_forward
from minivae.likelihoods import (bernoulli_log_likelihood, bernoulli_log_likelihood_backward,
                                 gaussian_log_likelihood, gaussian_log_likelihood_backward)
from minivae.reparam import reparameterize, reparameterize_backward
from minivae.train import BatchMaker, TrainConfig, TrainState

VARIANTS = {                                                  # VAE options, and how the step is called
    "bernoulli relu": dict(),
    "iwae architecture (tanh, k = 1)": dict(hidden_dims=(20, 16), latent_dim=5, activation="tanh"),
    "linear (no hidden layer)": dict(hidden_dims=(), latent_dim=3),
    "sigmoid, beta": dict(activation="sigmoid", beta=0.5),
    "leaky relu": dict(activation="leaky_relu"),
    "gaussian, fixed variance": dict(likelihood="gaussian", obs_logvar=-1.2),
    "gaussian, learned variance": dict(likelihood="gaussian", learn_variance=True, obs_logvar=0.3),
    "cvae": dict(num_classes=10),
    "free bits": dict(free_bits=0.05),
    "iwae k = 4": dict(iwae_k=4, beta=0.8),
    "iwae k = 3, gaussian learned variance": dict(iwae_k=3, likelihood="gaussian", learn_variance=True),
    "cvae, iwae k = 2": dict(num_classes=10, iwae_k=2),
}
SMALL = dict(input_dim=30, hidden_dims=(24,), latent_dim=4)
TOL = {"float32": 1e-5, "float64": 1e-12}   # observed: up to ~4e-6 (IWAE, learned variance) and ~1e-15


def by_hand(vae, x, eps, y=None, target=None, beta=None):
    """The loss dict and every gradient, from the functional core alone (lesson 5, for every variant)."""
    c, P = vae.config, {k: np.asarray(v) for k, v in vae.params.items()}
    beta = c.beta if beta is None else beta
    target = x if target is None else target
    act_forward, act_backward = get_activation(c.activation)
    onehot = None if y is None else np.eye(c.num_classes, dtype=x.dtype)[y]
    n, depth, L = x.shape[0], len(c.hidden_dims), c.latent_dim

    def join(a):                                              # [a, onehot], labels repeated over samples
        return a if onehot is None else np.concatenate([a, np.broadcast_to(onehot, a.shape[:-1] + onehot.shape[1:])], -1)

    h, enc = join(x), []
    for i in range(depth):
        a, dense_cache = dense_forward(h, P[f"encoder.{i}.W"], P[f"encoder.{i}.b"])
        h, act_cache = act_forward(a)
        enc.append((dense_cache, act_cache))
    mu, mu_cache = dense_forward(h, P["mu.W"], P["mu.b"])
    logvar, logvar_cache = dense_forward(h, P["logvar.W"], P["logvar.b"])
    z, z_cache = reparameterize(mu, logvar, eps)                               # (N, L) or (K, N, L)
    g, dec = join(z).reshape(-1, L + (c.num_classes or 0)), []
    for i in range(depth + 1):
        a, dense_cache = dense_forward(g, P[f"decoder.{i}.W"], P[f"decoder.{i}.b"])
        g, act_cache = act_forward(a) if i < depth else (a, None)
        dec.append((dense_cache, act_cache))
    out = g.reshape(*z.shape[:-1], c.input_dim)
    target = np.broadcast_to(target, out.shape)
    obs_logvar = P["decoder.logvar"] if c.learn_variance else c.obs_logvar
    if c.likelihood == "bernoulli":
        ll = bernoulli_log_likelihood(target, out)
    else:
        ll = gaussian_log_likelihood(target, out, obs_logvar)
    kl = kl_divergence(mu, logvar)
    if c.iwae_k > 1:
        log_w = iwae.log_weights(ll, z, logvar, eps, beta)
        loss = -iwae.bound(log_w).mean()
        kl = 0.5 * ((z * z - eps * eps).sum(axis=-1) - logvar.sum(axis=-1))      # IWAE reports log q - log p
        dll = -iwae.normalized_weights(log_w) / n                              # (K, N)
    elif c.free_bits > 0:
        kl_term, active = free_bits_kl(mu, logvar, c.free_bits)
        loss = -ll.mean() + beta * kl_term
        dll = np.full(n, -1.0 / n, dtype=x.dtype)
    else:
        loss = (-ll + beta * kl).mean()
        dll = np.full(n, -1.0 / n, dtype=x.dtype)
    G = {}
    if c.likelihood == "bernoulli":
        dout = bernoulli_log_likelihood_backward(dll, target, out)
    else:
        dout, dlv = gaussian_log_likelihood_backward(dll, target, out, obs_logvar)
        if c.learn_variance:
            G["decoder.logvar"] = dlv
    d = dout.reshape(-1, c.input_dim)
    for i in reversed(range(depth + 1)):
        dense_cache, act_cache = dec[i]
        if act_cache is not None:
            d = act_backward(d, act_cache)
        d, G[f"decoder.{i}.W"], G[f"decoder.{i}.b"] = dense_backward(d, dense_cache)
    dz = d[:, :L].reshape(z.shape)
    if c.iwae_k > 1:
        dz, dlogvar_direct = iwae.prior_posterior_backward(dll, dz, z, beta)
        dmu, dlogvar = reparameterize_backward(dz, z_cache)
        dlogvar = dlogvar + dlogvar_direct
    else:
        dmu, dlogvar = reparameterize_backward(dz, z_cache)
        w = (beta / n) * active if c.free_bits > 0 else beta / n
        dmu_kl, dlogvar_kl = kl_backward(w, mu, logvar)
        dmu, dlogvar = dmu + dmu_kl, dlogvar + dlogvar_kl
    dh_mu, G["mu.W"], G["mu.b"] = dense_backward(dmu, mu_cache)
    dh_logvar, G["logvar.W"], G["logvar.b"] = dense_backward(dlogvar, logvar_cache)
    d = dh_mu + dh_logvar                                                      # h feeds both heads
    for i in reversed(range(depth)):
        dense_cache, act_cache = enc[i]
        d, G[f"encoder.{i}.W"], G[f"encoder.{i}.b"] = dense_backward(act_backward(d, act_cache), dense_cache)
    return {"loss": loss, "recon": -ll.mean(), "kl": kl.mean()}, G


def rel(a, b):
    """max |a - b| / max |b|: the error relative to the array's scale."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-30))


def inputs(vae, n=16, seed=0):
    rng = np.random.default_rng(seed)
    c = vae.config
    x = rng.random((n, c.input_dim)).astype(vae.dtype)
    x[:, :5] = 0.0                                                             # MNIST-like exact zeros and ones
    x[:, 5:9] = 1.0
    shape = (n, c.latent_dim) if c.iwae_k == 1 else (c.iwae_k, n, c.latent_dim)
    eps = rng.standard_normal(shape).astype(vae.dtype)
    y = rng.integers(0, 10, n) if c.conditional else None
    return x, eps, y


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", VARIANTS)
def test_loss_and_backward_equal_the_lecture_core_chained_by_hand(name, dtype):
    vae = VAE(**{**SMALL, **VARIANTS[name]}, dtype=dtype, seed=3)
    x, eps, y = inputs(vae)
    out = vae.loss(x, y=y, eps=eps)
    grads = vae.backward()
    want, want_grads = by_hand(vae, x, eps, y)
    for k in ("loss", "recon", "kl"):
        assert out[k].dtype == np.dtype(dtype) and out[k].shape == ()
        assert rel(out[k], want[k]) <= TOL[dtype], k
    assert list(grads) == list(vae.params) and set(want_grads) == set(grads)
    for k, g in grads.items():
        assert g.dtype == np.dtype(dtype) and g.shape == vae.params[k].shape, k
        assert rel(g, want_grads[k]) <= TOL[dtype], k


@pytest.mark.parametrize("name", ["bernoulli relu", "gaussian, learned variance", "cvae", "iwae k = 4"])
def test_denoising_target_and_a_warmup_kl_weight(name):
    vae = VAE(**{**SMALL, **VARIANTS[name]}, dtype="float64", seed=4)
    x, eps, y = inputs(vae, seed=1)
    target = inputs(vae, seed=2)[0]                                            # the clean image the input came from
    out = vae.loss(x, y=y, eps=eps, target=target, beta=0.3)
    grads = vae.backward()
    want, want_grads = by_hand(vae, x, eps, y, target=target, beta=0.3)
    assert rel(out["loss"], want["loss"]) <= TOL["float64"]
    assert max(rel(g, want_grads[k]) for k, g in grads.items()) <= TOL["float64"]
    assert vae.beta == VARIANTS[name].get("beta", 1.0)                        # the model's own beta is untouched


def test_the_chain_by_hand_catches_a_missing_head_sum():
    """The oracle is independent: dropping the logvar head's share of dh (trap 8) is seen."""
    vae = VAE(input_dim=30, hidden_dims=(24,), latent_dim=4, dtype="float64", seed=3)
    x, eps, _ = inputs(vae)
    real = vae.logvar_head.backward
    vae.logvar_head.backward = lambda dy, need_dx=True: 0 * real(dy, need_dx)  # its share of dh dropped
    vae.loss(x, eps=eps)
    grads = vae.backward()
    want = by_hand(vae, x, eps)[1]
    assert rel(grads["encoder.0.W"], want["encoder.0.W"]) > 1e-3
    assert rel(grads["logvar.W"], want["logvar.W"]) <= TOL["float64"]          # only what the bug touches differs


def test_backward_twice_gives_the_same_gradients_and_the_loss_dict_survives_the_next_step():
    vae = VAE(input_dim=30, hidden_dims=(24,), latent_dim=4, iwae_k=3, dtype="float64")
    x, eps, _ = inputs(vae)
    out = vae.loss(x, eps=eps)
    g1 = {k: v.copy() for k, v in vae.backward().items()}
    g2 = vae.backward()
    assert all(np.array_equal(g1[k], g2[k]) for k in g1)
    saved = float(out["loss"])
    vae.loss(inputs(vae, seed=5)[0])
    assert float(out["loss"]) == saved


# ---------------------------------------------------------------- the step allocates nothing of data size
STEP_VARIANTS = {
    "default": (dict(), dict()),
    "cvae": (dict(num_classes=10), dict()),
    "free bits": (dict(free_bits=0.5), dict()),
    "gaussian fixed": (dict(likelihood="gaussian"), dict()),
    "gaussian learned": (dict(likelihood="gaussian", learn_variance=True, min_obs_logvar=-4.0), dict()),
    "denoising": (dict(), dict(denoise=0.2, mask_noise=0.1)),
    "binarized, warm-up": (dict(), dict(binarize=True, warmup_epochs=2)),
    "iwae k = 5": (dict(iwae_k=5), dict()),
    "iwae k = 3, learned variance": (dict(iwae_k=3, likelihood="gaussian", learn_variance=True), dict()),
    "cvae, iwae k = 2": (dict(num_classes=10, iwae_k=2), dict()),
    "tanh": (dict(activation="tanh"), dict()),
    "sigmoid": (dict(activation="sigmoid"), dict()),
    "leaky relu": (dict(activation="leaky_relu"), dict()),
}


@pytest.mark.parametrize("name", STEP_VARIANTS)
def test_a_training_step_allocates_no_data_sized_array_after_the_first(name):
    """tracemalloc sees NumPy's allocations: the first step makes the buffers, later steps reuse them.

    A later step's peak stays under a quarter of one (N, D) array (of one
    (K N, D) decoder output for IWAE): what it allocates is latent-sized,
    (N, D / 16) for the Bernoulli logs, and the ufuncs' own small buffers.
    """
    model_kw, train_kw = STEP_VARIANTS[name]
    ds = load_dataset("mnist", "train")
    n, d = 128, 784
    vae = VAE(hidden_dims=(256,), latent_dim=16, **model_kw)
    cfg = TrainConfig(batch_size=n, **train_kw)
    y = ds.y[:512] if vae.config.conditional else None
    state = TrainState.start(vae, cfg)
    batches = BatchMaker(vae.check_data(ds.x[:512], y), y, cfg, state.noise_rng, vae.backend)
    idx = np.arange(n)

    def step(s):
        vae.train_step(batches(idx + s, idx + s, warmup=0.5), state.optimizers)

    data_sized = vae.config.iwae_k * n * d * vae.dtype.itemsize               # one decoder output (K N, D)
    tracemalloc.start()
    try:
        step(0)
        first = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        for s in (128, 256):
            step(s)
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    assert first > 5 * data_sized                                             # the buffers, seen
    assert peak < data_sized / 4, f"{name}: {peak} bytes at the peak of a later step"


def test_params_and_grads_are_views_of_one_flat_buffer_shared_with_the_layers():
    vae = VAE(hidden_dims=(32, 16), latent_dim=4, likelihood="gaussian", learn_variance=True)
    for store in (vae.params, vae.grads):
        arrays = list(store.values())
        base = arrays[0].base
        assert base is not None and base.ndim == 1 and base.size == sum(a.size for a in arrays)
        assert all(a.base is base and a.flags.c_contiguous for a in arrays)
    assert vae.params["encoder.1.W"] is vae.encoder.layers[1].params["W"]
    assert vae.grads["mu.b"] is vae.mu_head.grads["b"]
    assert vae.params["decoder.2.W"] is vae.decoder.layers[2].params["W"]
    vae.params["mu.W"][...] = 0.5                                             # writing through the dict reaches the layer
    assert (vae.mu_head.params["W"] == 0.5).all()


@pytest.mark.parametrize("name", ["bernoulli relu", "free bits", "cvae", "gaussian, learned variance",
                                  "iwae k = 3, gaussian learned variance"])
def test_float32_training_never_makes_float64(name):
    vae = VAE(**{**SMALL, **VARIANTS[name]}, seed=0)
    opt = Adam(vae.params)
    for n in (16, 16, 5):
        x, _, y = inputs(vae, n)
        out = vae.loss(x, y=y, beta=np.float64(0.5))                           # a float64 KL weight, on purpose
        opt.step(vae.backward())
    arrays = [*out.values(), *vae.params.values(), *vae.grads.values(), *opt.m.values(), *opt.v.values()]
    arrays += [v for v in vae._cache.values() if hasattr(v, "dtype")]
    assert len(arrays) > 25 and all(a.dtype == np.float32 for a in arrays), \
        [(type(a), a.dtype) for a in arrays if a.dtype != np.float32]
