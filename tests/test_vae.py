"""The VAE model: its public API, a full float64 gradient check, dtypes, and bad input."""
import numpy as np
import pytest

from minivae import VAE
from minivae.errors import ConfigError, DataError, MiniVAEError, ShapeError
from minivae.activations import get_activation
from minivae.layers import dense_forward
from tests.conftest import data, grad_errors

SMALL = dict(input_dim=6, hidden_dims=(5, 4), latent_dim=3, dtype="float64")


def test_param_names_follow_the_documented_layout():
    vae = VAE(input_dim=784, hidden_dims=(400, 200), latent_dim=20)
    expected = ["encoder.0.W", "encoder.0.b", "encoder.1.W", "encoder.1.b", "mu.W", "mu.b",
                "logvar.W", "logvar.b", "decoder.0.W", "decoder.0.b", "decoder.1.W", "decoder.1.b",
                "decoder.2.W", "decoder.2.b"]
    assert list(vae.params) == expected and list(vae.grads) == expected
    shapes = {k: v.shape for k, v in vae.params.items()}
    assert shapes["encoder.0.W"] == (784, 400) and shapes["encoder.1.W"] == (400, 200)
    assert shapes["mu.W"] == (200, 20) and shapes["logvar.b"] == (20,)
    assert shapes["decoder.0.W"] == (20, 200) and shapes["decoder.1.W"] == (200, 400)
    assert shapes["decoder.2.W"] == (400, 784)


def smallest_pre_activation(vae, x, eps):
    """min |a| over the inputs of every hidden activation (distance to a ReLU kink), by the functional core."""
    P, act, depth = vae.params, get_activation(vae.config.activation)[0], len(vae.config.hidden_dims)
    pre, h = [], x
    for part, first in (("encoder", None), ("decoder", "z")):
        if first == "z":
            mu, logvar = (dense_forward(h, P[f"{k}.W"], P[f"{k}.b"])[0] for k in ("mu", "logvar"))
            h = mu + np.exp(logvar / 2) * eps
        for i in range(depth):                       # the hidden layers (not the decoder's output layer)
            a = dense_forward(h, P[f"{part}.{i}.W"], P[f"{part}.{i}.b"])[0]
            pre.append(a)
            h = act(a)[0]
    return min(np.abs(a).min() for a in pre)


@pytest.mark.parametrize("activation", ["relu", "leaky_relu", "tanh", "sigmoid"])
@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
def test_full_vae_gradient_check_float64(activation, likelihood):
    # He init keeps every unit of this tiny net alive, so no pre-activation sits at a kink
    vae = VAE(**SMALL, activation=activation, likelihood=likelihood, beta=0.7, seed=6, init="he")
    x, eps = data(), np.random.default_rng(2).standard_normal((7, 3))
    if activation in ("relu", "leaky_relu"):
        # precondition: finite differences (steps up to 2e-3 on weights) never cross a kink
        assert smallest_pre_activation(vae, x, eps) > 1e-2
    errors = grad_errors(vae, x, eps)
    assert set(errors) == set(vae.params)
    assert max(errors.values()) < 1e-7, errors


def test_linear_vae_without_hidden_layers_gradient_check():
    vae = VAE(input_dim=4, hidden_dims=(), latent_dim=2, activation="identity", likelihood="gaussian",
              dtype="float64")
    assert list(vae.params) == ["mu.W", "mu.b", "logvar.W", "logvar.b", "decoder.0.W", "decoder.0.b"]
    errors = grad_errors(vae, data(5, 4), np.random.default_rng(0).standard_normal((5, 2)))
    assert max(errors.values()) < 1e-7


def test_loss_is_recon_plus_beta_kl_and_deterministic_given_eps():
    vae = VAE(**SMALL, beta=2.5)
    x, eps = data(), np.random.default_rng(5).standard_normal((7, 3))
    out = vae.loss(x, eps=eps)
    assert float(out["loss"]) == pytest.approx(float(out["recon"]) + 2.5 * float(out["kl"]), rel=1e-12)
    assert float(vae.loss(x, eps=eps)["loss"]) == float(out["loss"])
    assert float(out["kl"]) >= 0


def test_backward_reuses_the_eps_of_the_last_loss_call():
    vae = VAE(**SMALL)
    x = data()
    vae.loss(x)                       # eps drawn from the model's generator
    g1 = {k: v.copy() for k, v in vae.backward().items()}
    g2 = vae.backward()
    for k in g1:
        np.testing.assert_array_equal(g1[k], g2[k])


def test_loss_and_grads_and_same_seed_same_model():
    a, b = VAE(**SMALL, seed=4), VAE(**SMALL, seed=4)
    x = data()
    la, ga = a.loss_and_grads(x)
    lb, gb = b.loss_and_grads(x)
    assert float(la["loss"]) == float(lb["loss"])
    assert all(np.array_equal(ga[k], gb[k]) for k in ga)


def test_float32_end_to_end_no_float64_sneaks_in():
    vae = VAE(input_dim=784, hidden_dims=(64,), latent_dim=8)
    x = np.random.default_rng(0).random((16, 784))          # float64 input is converted once
    out = vae.loss(x)
    vae.backward()
    assert all(v.dtype == np.float32 for v in out.values())
    assert all(v.dtype == np.float32 for v in vae.params.values())
    assert all(v.dtype == np.float32 for v in vae.grads.values())
    assert all(a.dtype == np.float32 for a in vae._cache.values() if isinstance(a, np.ndarray))
    for f in (vae.reconstruct(x), vae.sample(3), *vae.encode(x), vae.interpolate(x[0], x[1], 4)):
        assert f.dtype == np.float32


def test_inference_api_shapes_and_ranges():
    vae = VAE(input_dim=784, hidden_dims=(32,), latent_dim=2)
    x = np.random.default_rng(0).random((5, 784)).astype(np.float32)
    mu, logvar = vae.encode(x)
    assert mu.shape == logvar.shape == (5, 2)
    for img in (vae.decode(mu), vae.reconstruct(x), vae.sample(4)):
        assert img.shape[1] == 784 and img.min() >= 0 and img.max() <= 1
    path = vae.interpolate(x[0], x[1], steps=7)
    assert path.shape == (7, 784)
    np.testing.assert_allclose(path[0], vae.reconstruct(x[:1])[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(path[-1], vae.reconstruct(x[1:2])[0], rtol=1e-5, atol=1e-6)


def test_inference_does_not_disturb_backward():
    vae = VAE(**SMALL)
    x, eps = data(), np.random.default_rng(0).standard_normal((7, 3))
    vae.loss(x, eps=eps)
    g1 = {k: v.copy() for k, v in vae.backward().items()}
    vae.loss(x, eps=eps)
    vae.reconstruct(data(3)), vae.sample(2), vae.encode(data(9))
    g2 = vae.backward()
    assert all(np.array_equal(g1[k], g2[k]) for k in g1)


@pytest.mark.parametrize("kwargs, match", [
    (dict(latent_dim=0), "latent_dim must be an integer >= 1"),
    (dict(beta=-1.0), "beta must be a finite number >= 0"),
    (dict(hidden_dims=(400, 0)), "each hidden dim must be an integer >= 1"),
    (dict(hidden_dims="abc"), "each hidden dim"),
    (dict(likelihood="poisson"), "likelihood must be one of"),
    (dict(activation="swish"), "activation must be one of"),
    (dict(dtype="float16"), "dtype must be one of"),
    (dict(free_bits=-0.1), "free_bits"),
    (dict(iwae_k=0), "iwae_k"),
    (dict(learn_variance=True), "variance='pixel'\\) needs likelihood='gaussian'"),
    (dict(init="orthogonal"), "init must be one of"),
    (dict(min_obs_logvar=-6.0), "needs variance='pixel' \\(learn_variance=True\\)"),
    (dict(likelihood="gaussian", learn_variance=True, min_obs_logvar=float("nan")), "finite number"),
    (dict(likelihood="gaussian", learn_variance=True, min_obs_logvar=float("-inf")), "finite number"),
])
def test_bad_options_raise_clear_errors(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        VAE(**kwargs)


def test_bad_data_raises_clear_errors():
    vae = VAE(input_dim=784, hidden_dims=(16,), latent_dim=2)
    good = np.full((2, 784), 0.5, dtype=np.float32)
    with pytest.raises(ShapeError, match=r"\(N, 784\)"):
        vae.loss(np.zeros((2, 783), dtype=np.float32))
    with pytest.raises(ShapeError, match="784"):
        vae.loss(np.zeros((2, 28, 28), dtype=np.float32))
    bad = good.copy()
    bad[1, 3] = np.nan
    with pytest.raises(DataError, match="non-finite"):
        vae.loss(bad)
    with pytest.raises(DataError, match=r"\[0, 1\]"):
        vae.loss(good * 255)
    with pytest.raises(ShapeError, match="eps must have shape"):
        vae.loss(good, eps=np.zeros((2, 3)))
    with pytest.raises(ShapeError, match="z must have shape"):
        vae.decode(np.zeros((2, 5)))
    with pytest.raises(MiniVAEError, match="call vae.loss"):
        VAE(input_dim=4, hidden_dims=(3,), latent_dim=2).backward()


def test_gaussian_accepts_values_outside_unit_interval():
    vae = VAE(**SMALL, likelihood="gaussian")
    assert np.isfinite(float(vae.loss(data() * 10 - 3)["loss"]))


def test_init_output_bias_starts_the_decoder_at_the_pixel_means():
    rng = np.random.default_rng(0)
    x = rng.random((200, 784)).astype("float32") * np.linspace(0, 1, 784, dtype="float32")
    x[:, :10] = 0.0                                    # a border of pixels that are never on
    vae = VAE().init_output_bias(x)
    b = vae.params["decoder.1.b"]
    p = 1 / (1 + np.exp(-b.astype(np.float64)))
    assert np.allclose(p[10:], x[:, 10:].mean(axis=0), atol=1e-4)
    assert np.isfinite(b).all() and np.allclose(p[:10], 1e-4)      # clipped, not -inf
    gauss = VAE(likelihood="gaussian").init_output_bias(4 * x - 1)
    assert np.allclose(gauss.params["decoder.1.b"], (4 * x - 1).mean(axis=0), atol=1e-5)
    with pytest.raises(ShapeError):
        VAE().init_output_bias(x[:, :100])


def test_the_k_sample_nll_reports_its_progress_after_each_batch_and_the_same_numbers_without():
    """progress(done, total) counts images; None (the default) gives the same estimate."""
    from minivae import VAEGAN
    x = np.random.default_rng(0).random((7, 6))
    vae = VAE(input_dim=6, hidden_dims=(5,), latent_dim=2, dtype="float64")
    calls = []
    got = vae.log_likelihood(x, k=4, batch_size=3, seed=0, progress=lambda done, total: calls.append((done, total)))
    assert calls == [(3, 7), (6, 7), (7, 7)]
    np.testing.assert_array_equal(got, vae.log_likelihood(x, k=4, batch_size=3, seed=0))    # the same computation
    vaegan, calls = VAEGAN(input_dim=6, hidden_dims=(5,), latent_dim=2, discriminator_dims=(4,)), []
    vaegan.log_likelihood(x, k=2, batch_size=4, seed=0, progress=lambda done, total: calls.append((done, total)))
    assert calls == [(4, 7), (7, 7)]
