"""The two-stochastic-layer VAE (Burda et al.'s second architecture): its bound against a textbook oracle, float64
gradient checks as a VAE and as an IWAE, the k-sample bounds' order, active units per layer, a short MNIST run,
checkpoints, an exact resume and the command line's `--layers 2`."""
import json
import math

import numpy as np
import pytest

import minivae
from minivae import TwoLayerVAE
from minivae.cli import main
from minivae.datasets import load_data
from minivae.errors import ConfigError, ShapeError
from minivae.gradcheck import check_model_gradients
from minivae.models.two_layer import log_weight
from minivae.train import TrainConfig, evaluate, fit
from tests.conftest import assert_same_run, data

SMALL = dict(input_dim=6, hidden_dims=(5, 4), latent_dim=3, hidden_dims2=(4,), latent_dim2=2, dtype="float64")
RUN = ["--layers", "2", "--hidden-dims", "32", "--latent-dim", "8", "--hidden-dims2", "16", "--latent-dim2", "4",
       "--train-size", "300", "--test-size", "100", "--batch-size", "50", "--binarize", "--quiet", "--no-figures"]


def noise(model, n, seed=0):
    k, rng = model.config.iwae_k, np.random.default_rng(seed)
    lead = (n,) if k == 1 else (k, n)
    return rng.standard_normal((*lead, model.config.latent_dim)), rng.standard_normal((*lead, model.config.latent_dim2))


def normal_logpdf(z, mu, var):
    return (-0.5 * (z - mu) ** 2 / var - 0.5 * np.log(2 * math.pi * var)).sum(axis=-1)


def oracle_log_w(model, x, eps1, eps2):
    """log p(x, z1, z2) - log q(z1, z2|x) per sample from the parameters, by the textbook densities (K, N)."""
    P = model.params

    def net(name, h, hidden, last_tanh):
        for i in range(hidden):
            h = h @ P[f"{name}.{i}.W"] + P[f"{name}.{i}.b"]
            h = np.tanh(h) if i < hidden - 1 or last_tanh else h
        return h

    def gaussian(name, h):
        return h @ P[f"{name}.mu.W"] + P[f"{name}.mu.b"], np.exp(h @ P[f"{name}.logvar.W"] + P[f"{name}.logvar.b"])

    mu1, var1 = gaussian("q1", net("q1", x, 2, True))
    z1 = mu1 + np.sqrt(var1) * eps1
    mu2, var2 = gaussian("q2", net("q2", z1, 1, True))
    z2 = mu2 + np.sqrt(var2) * eps2
    mu_p, var_p = gaussian("p1", net("p1", z2, 1, True))
    logits = net("decoder", z1, 3, False)
    log_px = (x * logits - np.logaddexp(0, logits)).sum(axis=-1)
    return (log_px + normal_logpdf(z1, mu_p, var_p) + normal_logpdf(z2, 0, 1)
            - normal_logpdf(z1, mu1, var1) - normal_logpdf(z2, mu2, var2))


@pytest.mark.parametrize("k", [1, 3])
def test_the_loss_is_the_textbook_bound_and_its_gradient_is_exact_in_float64(k):
    model, x = TwoLayerVAE(**SMALL, iwae_k=k, seed=1), data(4, 6)
    eps1, eps2 = noise(model, 4)
    out = model.loss(x, eps1, eps2)
    log_w = oracle_log_w(model, x, eps1.reshape(k, 4, -1), eps2.reshape(k, 4, -1))
    bound = np.log(np.exp(log_w).mean(axis=0)).mean()
    assert float(out["loss"]) == pytest.approx(-bound, rel=1e-12)
    grads = {name: g.copy() for name, g in model.backward().items()}
    errors = check_model_gradients(lambda: model.loss(x, eps1, eps2)["loss"], model.params, grads)
    assert len(errors) == 26 and max(errors.values()) < 1e-7, errors       # about 1e-9 in float64


def test_the_kl_weight_scales_only_the_latent_terms_and_its_gradient_is_exact():
    model, x = TwoLayerVAE(**SMALL, iwae_k=3, beta=0.5, seed=2), data(4, 6)
    eps1, eps2 = noise(model, 4)
    model.loss(x, eps1, eps2)
    grads = {name: g.copy() for name, g in model.backward().items()}
    errors = check_model_gradients(lambda: model.loss(x, eps1, eps2)["loss"], model.params, grads)
    assert max(errors.values()) < 1e-7, errors
    assert float(log_weight(np.array(-3.0), *[np.zeros(2)] * 8, beta=0.0)) == -3.0


def test_bad_options_and_noise_are_one_clear_error():
    with pytest.raises(ConfigError, match="latent_dim2 must be an integer >= 1"):
        TwoLayerVAE(latent_dim2=0)
    with pytest.raises(ConfigError, match="each of hidden_dims2 must be an integer >= 1"):
        TwoLayerVAE(hidden_dims2=(100, -1))
    with pytest.raises(ConfigError, match="likelihood must be one of"):
        TwoLayerVAE(likelihood="laplace")
    model = TwoLayerVAE(**SMALL)
    with pytest.raises(ShapeError, match=r"eps2 must have shape \(4, 2\)"):
        model.loss(data(4, 6), eps2=np.zeros((4, 3)))


@pytest.fixture(scope="module")
def mnist():
    train, _, test = load_data("mnist", binarized=True, train_size=1000, seed=0)
    return train.x.astype("float64"), test.x[:40].astype("float64")


@pytest.fixture(scope="module")
def trained(mnist):
    """A small two-layer VAE trained two epochs on 1,000 binarized MNIST images, in float64, and its losses."""
    model = TwoLayerVAE(hidden_dims=(64,), latent_dim=16, hidden_dims2=(32,), latent_dim2=8, dtype="float64", seed=0)
    model.init_output_bias(mnist[0])
    before = evaluate(model, mnist[1])["loss"]
    history = fit(model, mnist[0], config=TrainConfig(epochs=2, batch_size=50, lr=2e-3, seed=0), progress=False)
    return model, before, history


def test_a_short_mnist_run_lowers_the_loss(trained, mnist):
    model, before, history = trained
    after = evaluate(model, mnist[1])["loss"]
    assert history[-1]["train_loss"] < history[0]["train_loss"] and after < before - 20, (before, after)


def test_the_elbo_is_below_the_k_sample_bounds_which_rise_with_k(trained, mnist):
    model, x = trained[0], mnist[1]
    res = evaluate(model, x)
    elbo = -(res["recon"] + res["kl"])
    bounds = [float(model.log_likelihood(x, k=k, seed=5).mean()) for k in (1, 30, 1000)]
    # the one-sample bound estimates the ELBO (40 images, eps of another seed: a few nats of noise)
    assert abs(bounds[0] - elbo) < 5 and bounds[0] < bounds[1] < bounds[2], (elbo, bounds)
    assert bounds[2] - bounds[0] > 3                               # the gap is nats here, far above the noise


def test_active_units_are_reported_per_layer_and_a_dead_top_layer_has_none(trained, mnist):
    model, x = trained[0], mnist[1]
    a1, a2 = model.active_units(x)
    assert 0 < a1 <= 16 and 0 <= a2 <= 8
    dead = TwoLayerVAE(hidden_dims=(64,), latent_dim=16, hidden_dims2=(32,), latent_dim2=8, dtype="float64")
    dead.load_state(model.state_arrays())
    dead.params["q2.mu.W"][...] = 0                                # E[z2|x] = the bias, whatever x: collapsed
    assert dead.active_units(x) == (a1, 0)


def test_save_load_round_trip_gives_the_same_model(trained, mnist, tmp_path):
    model, x = trained[0], mnist[1][:5]
    model.save(tmp_path / "m.npz")
    back = minivae.load(tmp_path / "m.npz")
    assert type(back) is TwoLayerVAE and back.config == model.config
    eps1, eps2 = noise(model, 5)
    assert float(back.loss(x, eps1, eps2)["loss"]) == float(model.loss(x, eps1, eps2)["loss"])


def test_a_stopped_run_resumes_to_the_very_weights_of_the_run_never_stopped(tmp_path, capsys):
    straight, stopped = tmp_path / "straight", tmp_path / "stopped"
    assert main(["train", *RUN, "--iwae-k", "2", "--epochs", "2", "--out", str(straight)]) == 0
    assert main(["train", *RUN, "--iwae-k", "2", "--epochs", "1", "--out", str(stopped)]) == 0
    assert main(["train", "--resume", str(stopped), "--epochs", "2", "--quiet", "--no-figures"]) == 0
    assert_same_run(straight, stopped)
    final = json.loads((straight / "metrics.json").read_text())["final"]
    assert len(final["active_units"]) == 2 and "(z2)" in capsys.readouterr().out


def test_evaluate_reports_the_nll_and_the_active_units_of_each_layer(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", *RUN, "--epochs", "1", "--out", str(run)]) == 0
    assert main(["evaluate", str(run), "--k", "20", "--n", "30", "--quiet", "--json", str(tmp_path / "e.json")]) == 0
    out = json.loads((tmp_path / "e.json").read_text())
    assert out["kind"] == "vae2" and len(out["active_units"]) == 2 and out["test_elbo"] > out["test_nll"] - 5
    assert "(z1)" in capsys.readouterr().out


@pytest.mark.parametrize("argv, match", [
    (["--layers", "2", "--flow", "planar", "--prior", "mog"], "--layers 2 does not combine with --flow, --prior"),
    (["--layers", "2", "--num-classes", "10"], "--layers 2 does not combine with --num-classes"),
    (["--latent-dim2", "5"], "--latent-dim2 size the second stochastic layer: add --layers 2"),
    (["--layers", "3"], "invalid choice: 3"),
])
def test_flags_the_two_layer_model_does_not_take_are_one_line(argv, match, tmp_path, capsys):
    try:
        code = main(["train", *argv, "--out", str(tmp_path / "r")])
    except SystemExit as e:                                         # argparse's own errors
        code = e.code
    err = capsys.readouterr().err
    assert code != 0 and match in err and "Traceback" not in err
    assert not (tmp_path / "r").exists()


def test_resuming_a_two_layer_run_refuses_one_layer_flags_and_a_one_layer_run_refuses_layers_2(tmp_path, capsys):
    two, one = tmp_path / "two", tmp_path / "one"
    assert main(["train", *RUN, "--epochs", "1", "--out", str(two)]) == 0
    assert main(["train", *RUN[10:], "--hidden-dims", "8", "--latent-dim", "2", "--epochs", "1", "--out", str(one)]) == 0
    capsys.readouterr()
    assert main(["train", "--resume", str(two), "--epochs", "2", "--free-bits", "0.5", "--quiet"]) != 0
    assert "--layers 2 does not combine with --free-bits" in capsys.readouterr().err
    assert main(["train", "--resume", str(one), "--epochs", "2", "--layers", "2", "--quiet"]) != 0
    assert "a 'vae' run, not a 'vae2' one" in capsys.readouterr().err
