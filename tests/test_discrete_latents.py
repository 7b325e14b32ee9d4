"""Categorical latents (Gumbel-softmax), InfoVAE's MMD term and the mutual-information estimate, on the one VAE graph."""
import itertools
import math

import numpy as np
import pytest

import minivae.models.posterior_categorical as pc
from minivae import VAE
from minivae.cli import main
from minivae.errors import ConfigError, DataError, ShapeError
from minivae.gradcheck import check_model_gradients
from minivae.gumbel import temperature
from minivae.likelihoods import bernoulli_log_likelihood
from minivae.logsumexp import logsumexp
from minivae.train import TrainConfig, fit

SMALL = dict(input_dim=6, hidden_dims=(5,), activation="tanh", dtype="float64", seed=1)
CAT = dict(SMALL, latent="categorical", latent_dim=2, categories=3)


def _check(vae, x, y=None, z_prior=None, rng=None):
    eps = vae.latent.posterior.noise(np.random.default_rng(3), (x.shape[0],), "float64")
    vae.loss(x, y=y, eps=eps, z_prior=z_prior)
    grads = {k: g.copy() for k, g in vae.backward().items()}
    loss = lambda: float(vae.loss(x, y=y, eps=eps, z_prior=z_prior)["loss"])  # noqa: E731
    return check_model_gradients(loss, vae.params, grads)


@pytest.mark.parametrize("kwargs", [dict(), dict(temperature=0.5, num_classes=2), dict(beta=0.3, categories=5)])
def test_the_relaxed_categorical_vae_gradients_match_finite_differences(kwargs, rng):
    vae = VAE(**{**CAT, **kwargs})
    y = np.array([0, 1, 1, 0]) if kwargs.get("num_classes") else None
    assert max(_check(vae, rng.random((4, 6)), y).values()) < 1e-7


def test_straight_through_is_the_relaxed_gradient_of_a_one_hot_forward(rng, monkeypatch):
    """Its gradient is that of y + sg(one_hot(y) - y): the forward sees one-hot codes, the backward the relaxation."""
    vae = VAE(**CAT, straight_through=True)
    x = rng.random((4, 6))
    eps = vae.latent.posterior.noise(np.random.default_rng(3), (4,), "float64")
    stats = vae.latent.posterior.stats(vae._hidden(x), train=False)
    z_st = vae.latent.posterior.closed_form_kl(stats, eps, vae.buffers)[0]
    assert set(np.unique(z_st)) == {0.0, 1.0}                                # what the decoder reads
    vae.loss(x, eps=eps)
    grads = {k: g.copy() for k, g in vae.backward().items()}
    y0 = pc.gumbel_softmax(vae.latent.posterior._logits(stats), pc.gumbel_noise(eps), vae.config.temperature)[0]
    shift = pc.straight_through(y0) - y0                                     # sg[one_hot - y], frozen
    monkeypatch.setattr(pc, "straight_through", lambda y: y + shift)
    errors = check_model_gradients(lambda: float(vae.loss(x, eps=eps)["loss"]), vae.params, grads)
    assert max(errors.values()) < 1e-7, errors


def test_the_k_sample_likelihood_of_a_categorical_vae_is_the_exact_sum_over_codes(rng):
    """M = 2 variables of K = 3 classes: log p(x) = logsumexp_z [log p(x|z) + log p(z)] over all 9 codes."""
    vae = VAE(**CAT)
    x = (rng.random((3, 6)) > 0.5).astype("float64")
    codes = np.array([np.eye(3)[list(c)].reshape(-1) for c in itertools.product(range(3), repeat=2)])   # (9, 6)
    logits = vae.decoder.predict(codes)
    exact = logsumexp(bernoulli_log_likelihood(x[:, None, :], logits[None]) - 2 * math.log(3), axis=1)
    np.testing.assert_allclose(vae.log_likelihood(x, k=20000, seed=0), exact, atol=0.02)


def test_prior_samples_and_reconstructions_are_one_hot_codes():
    vae = VAE(**{**CAT, "dtype": "float32"}, backend="numpy")
    z = vae.latent.sample_prior(50, vae.rng).reshape(50, 2, 3)
    assert set(np.unique(z)) == {0.0, 1.0} and np.all(z.sum(axis=-1) == 1)
    assert vae.sample(4).shape == (4, 6)
    point = vae.latent.point(vae._hidden(np.full((2, 6), 0.5)))
    assert np.all(point.reshape(2, 2, 3).sum(axis=-1) == 1)
    np.testing.assert_allclose(vae.code_probabilities(np.full((2, 6), 0.5)).sum(axis=-1), 1, rtol=1e-6)


def test_the_temperature_anneals_with_the_step_count_and_survives_a_checkpoint(tmp_path, rng):
    vae = VAE(**{**CAT, "dtype": "float32"}, anneal_rate=0.01, temperature_min=0.6)
    x = (rng.random((64, 6)) > 0.5).astype("float32")
    history = fit(vae, x, config=TrainConfig(epochs=3, batch_size=16, seed=0), progress=False)
    steps = [4 * e for e in (1, 2, 3)]                  # the last step of each epoch ran at t = steps - 1
    assert [h["temperature"] for h in history] == [pytest.approx(temperature(t - 1, 1.0, 0.6, 0.01)) for t in steps]
    vae.save(tmp_path / "cat.npz")
    assert VAE.load(tmp_path / "cat.npz").config == vae.config


@pytest.mark.parametrize("kernel", ["imq", "rbf"])
def test_the_mmd_term_is_in_the_loss_and_its_gradient(kernel, rng):
    vae = VAE(**SMALL, latent_dim=3, mmd_weight=5.0, mmd_kernel=kernel, beta=0.0)
    x, z_prior = rng.random((5, 6)), rng.standard_normal((5, 3))
    out = vae.loss(x, eps=rng.standard_normal((5, 3)), z_prior=z_prior)
    assert float(out["loss"]) == pytest.approx(float(out["recon"]) + 5.0 * float(out["mmd"]))
    assert max(_check(vae, x, z_prior=z_prior).values()) < 1e-7


def test_mutual_information_is_zero_for_a_collapsed_encoder_and_at_most_log_n(rng):
    vae = VAE(**SMALL, latent_dim=3)
    x = rng.random((200, 6))
    vae.params["mu.W"][...] = 0                          # mu(x) = b for every x: q(z|x) = q(z)
    assert abs(vae.mutual_information(x)) < 0.05
    vae.params["mu.W"][...] = 30 * rng.standard_normal(vae.params["mu.W"].shape)
    vae.params["logvar.b"][...] = -8
    mi = vae.mutual_information(x)
    assert 0.5 * math.log(200) < mi <= math.log(200) + 1e-9
    vae.params["logvar.b"][...] = -40                    # tiny variances: a GEMM expansion would exceed log N
    assert vae.mutual_information(x) <= math.log(200) + 1e-9
    with pytest.raises(ConfigError, match="diagonal Gaussian posterior"):
        VAE(**CAT).mutual_information(x)


@pytest.mark.parametrize("kwargs, match", [
    (dict(latent="discrete"), r"latent must be one of \('gaussian', 'categorical'\)"),
    (dict(latent="categorical", categories=1), r"categories \(K, classes per categorical variable\) must be .* >= 2"),
    (dict(latent="categorical", temperature=0.0), r"temperature \(.*\) must be .*> 0"),
    (dict(latent="categorical", temperature_min=-1.0), "temperature_min"),
    (dict(latent="categorical", anneal_rate=-1.0), "anneal_rate"),
    (dict(latent="categorical", iwae_k=2), "assume a Gaussian posterior or prior: {'iwae_k': 2}"),
    (dict(latent="categorical", free_bits=0.5), "free_bits"),
    (dict(latent="categorical", prior="mog"), "'prior': 'mog'"),
    (dict(latent="categorical", posterior="full"), "'posterior': 'full'"),
    (dict(straight_through=True), "needs latent='categorical'"),
    (dict(mmd_weight=-1.0), r"mmd_weight \(lambda of the MMD term\) must be .*>= 0"),
    (dict(mmd_weight=1.0, latent="categorical"), "needs latent='gaussian' and iwae_k=1"),
    (dict(mmd_weight=1.0, iwae_k=3), "needs latent='gaussian' and iwae_k=1"),
    (dict(mmd_kernel="laplace"), r"mmd_kernel must be one of \('imq', 'rbf'\)"),
])
def test_bad_discrete_and_loss_options_raise_clear_errors(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        VAE(**{**SMALL, **kwargs})


def test_bad_noise_and_misused_methods_raise_clear_errors(rng):
    vae = VAE(**CAT)
    x = rng.random((2, 6))
    with pytest.raises(ShapeError, match=r"\(N, latent_dim, categories\) = \(2, 2, 3\)"):
        vae.loss(x, eps=rng.random((2, 6)))
    with pytest.raises(DataError, match=r"open interval \(0, 1\)"):
        vae.loss(x, eps=np.zeros((2, 2, 3)))
    with pytest.raises(ConfigError, match="use vae.code_probabilities"):
        vae.encode(x)
    with pytest.raises(ShapeError, match=r"latent_dim \* categories\) = \(N, 6\)"):
        vae.decode(np.zeros((2, 2)))
    with pytest.raises(ConfigError, match="needs latent='categorical'"):
        VAE(**SMALL).code_probabilities(x)
    with pytest.raises(ShapeError, match="z_prior"):
        VAE(**SMALL, mmd_weight=1.0).loss(x, z_prior=np.zeros((3, 20)))


def test_train_takes_the_discrete_and_mmd_flags(tmp_path, capsys):
    tiny = ["--train-size", "256", "--test-size", "128", "--epochs", "1", "--hidden-dims", "32", "--no-figures",
            "--quiet"]
    assert main(["train", *tiny, "--latent", "categorical", "--latent-dim", "4", "--categories", "5",
                 "--straight-through", "--temperature", "2", "--out", str(tmp_path / "cat")]) == 0
    assert VAE.load(tmp_path / "cat" / "model.npz").config.straight_through
    assert main(["train", *tiny, "--mmd-weight", "10", "--kl-weight", "0", "--out", str(tmp_path / "mmd")]) == 0
    assert VAE.load(tmp_path / "mmd" / "model.npz").config.mmd_weight == 10
    assert main(["train", *tiny, "--latent", "categorical", "--categories", "1", "--out", str(tmp_path / "bad")]) == 2
    assert "categories" in capsys.readouterr().err


def test_a_categorical_vae_is_evaluated_as_the_discrete_model(rng):
    """eval_step scores one-hot codes: its -ELBO bounds the discrete model's -log p(x), at any temperature."""
    from minivae.train import evaluate
    vae = VAE(**{**CAT, "temperature": 5.0})
    x = (rng.random((50, 6)) > 0.5).astype("float64")
    res = evaluate(vae, x)
    nll = -float(vae.log_likelihood(x, k=5000, seed=0).mean())
    assert res["recon"] + res["kl"] >= nll - 0.02
    vae.latent.posterior.tau = 0.1
    assert evaluate(vae, x)["loss"] == pytest.approx(res["loss"])         # the temperature does not enter
    assert not vae.latent.posterior.straight_through                       # and training stays relaxed
