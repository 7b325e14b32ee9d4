"""The plain autoencoder: its loss and float64 gradient checks, a short run on real MNIST, checkpoints,
`python -m minivae ae` (its run, an exact resume after SIGINT) and evaluate / compare on an ae run."""
import json
import math
import os
import signal

import numpy as np
import pytest

import minivae
from minivae import Autoencoder
from minivae.cli import main
from minivae.datasets import load_data
from minivae.errors import CheckpointError, ConfigError
from minivae.gradcheck import check_model_gradients
from minivae.layers import dense_forward
from minivae.models.checkpoint import checkpoint_kind
from minivae.models.vae import VAE
from minivae.train import evaluate, fit
from tests.conftest import assert_same_run, data

SMALL = dict(input_dim=6, hidden_dims=(5,), latent_dim=3, dtype="float64", init="he")


def oracle(model, x):
    """(the batch-mean -log p(x|Enc(x)), min |ReLU input|) by the textbook formulas (an independent oracle)."""
    P, h, kinks = model.params, x, []
    for part in ("encoder", "decoder"):
        for i in range(len(model.config.hidden_dims) + 1):
            a = dense_forward(h, P[f"{part}.{i}.W"], P[f"{part}.{i}.b"])[0]
            last = i == len(model.config.hidden_dims)
            kinks += [] if last else [np.abs(a).min()]
            h = a if last else np.maximum(a, 0)
    if model.config.likelihood == "bernoulli":
        nll = (np.logaddexp(0, h) - x * h).sum(axis=1)
    else:
        nll = (0.5 * (x - h) ** 2 + 0.5 * math.log(2 * math.pi)).sum(axis=1)
    return nll.mean(), min(kinks)


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
def test_the_loss_is_the_reconstruction_nll_and_its_gradient_is_exact_in_float64(likelihood):
    model, x = Autoencoder(**SMALL, likelihood=likelihood, seed=3), data(7, 6)
    out = model.loss(x)
    expected, kink = oracle(model, x)
    assert kink > 1e-2                                      # finite differences (steps <= 2e-3) cross no ReLU kink
    assert float(out["loss"]) == pytest.approx(expected, rel=1e-12) and float(out["recon"]) == float(out["loss"])
    grads = {k: v.copy() for k, v in model.backward().items()}
    assert list(grads) == ["encoder.0.W", "encoder.0.b", "encoder.1.W", "encoder.1.b",
                           "decoder.0.W", "decoder.0.b", "decoder.1.W", "decoder.1.b"]
    errors = check_model_gradients(lambda: model.loss(x)["loss"], model.params, grads)
    assert max(errors.values()) < 1e-7, errors              # about 4e-10 in float64


def test_the_default_sizes_are_the_vaes_and_bad_input_is_a_clear_error():
    shapes = {k: v.shape for k, v in Autoencoder().params.items()}
    assert shapes == {"encoder.0.W": (784, 400), "encoder.0.b": (400,), "encoder.1.W": (400, 20), "encoder.1.b": (20,),
                      "decoder.0.W": (20, 400), "decoder.0.b": (400,), "decoder.1.W": (400, 784),
                      "decoder.1.b": (784,)}
    with pytest.raises(ConfigError, match="likelihood must be one of"):
        Autoencoder(likelihood="laplace")
    with pytest.raises(ConfigError, match="latent_dim must be an integer >= 1"):
        Autoencoder(latent_dim=0)
    with pytest.raises(ConfigError, match=r"expected \(N, 3\)"):
        Autoencoder(**SMALL).decode(np.zeros((2, 4)))
    with pytest.raises(minivae.errors.MiniVAEError, match="forward pass first"):
        Autoencoder(**SMALL).backward()


def test_training_on_real_mnist_halves_the_test_reconstruction():
    train, _, test = load_data("mnist", train_size=3000)
    x_test = test.x[:1000]
    model = Autoencoder()
    untrained = evaluate(model, x_test)["recon"]
    fit(model, train.x, epochs=2, progress=False)
    trained = evaluate(model, x_test)["recon"]
    assert trained < 0.5 * untrained, (trained, untrained)              # about 194 vs 544 nats


def test_save_load_round_trip_and_minivae_load(tmp_path):
    model = Autoencoder(**{**SMALL, "dtype": "float32"}, likelihood="gaussian", seed=5)
    fit(model, data(64, 6).astype(np.float32), epochs=1, batch_size=16, progress=False)
    path = model.save(tmp_path / "model.npz")
    assert checkpoint_kind(path) == "ae"
    for loaded in (Autoencoder.load(path), minivae.load(tmp_path)):
        assert type(loaded) is Autoencoder and loaded.architecture() == model.architecture()
        for k in model.params:
            np.testing.assert_array_equal(loaded.params[k], model.params[k])
        np.testing.assert_array_equal(loaded.reconstruct(data(4, 6)), model.reconstruct(data(4, 6)))
        model.rng, loaded.rng = np.random.default_rng(9), np.random.default_rng(9)
        np.testing.assert_array_equal(loaded.sample(5), model.sample(5))
    with pytest.raises(CheckpointError):
        VAE.load(path)


def test_interpolation_decodes_the_segment_between_two_codes():
    model = Autoencoder(**SMALL, seed=1)
    x = data(2, 6)
    path = model.interpolate(x[0], x[1], steps=5)
    z = model.encode(x)
    np.testing.assert_allclose(path[2], model.decode((z[:1] + z[1:]) / 2)[0], rtol=1e-12)
    np.testing.assert_allclose(path[[0, -1]], model.reconstruct(x), rtol=1e-12)


# --------------------------------------------------------------------------- the command
SMALL_RUN = ["ae", "--train-size", "256", "--test-size", "50", "--hidden-dims", "16", "--latent-dim", "2",
             "--batch-size", "64", "--quiet"]


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    """Two epochs of a small autoencoder (4 steps each), never stopped, with its figures."""
    out = tmp_path_factory.mktemp("ae-straight")
    assert main([*SMALL_RUN, "--epochs", "2", "--out", str(out)]) == 0
    return out


def test_an_ae_run_writes_its_checkpoint_metrics_and_figures(straight):
    assert checkpoint_kind(straight / "model.npz") == "ae"
    record = json.loads((straight / "metrics.json").read_text())
    assert record["kind"] == "ae" and len(record["history"]) == 2
    assert record["final"]["test_recon"] > 0 and record["final"]["test_squared_error"] > 0
    assert record["figures"] == ["reconstructions.png", "samples.png", "interpolation.png"]
    for name in record["figures"]:
        assert (straight / name).stat().st_size > 0


def test_an_ae_stopped_by_sigint_inside_an_epoch_resumes_bit_identically(straight, tmp_path, monkeypatch, capsys):
    """SIGINT after step 3 of 8: `ae --resume` ends with the weights and history of the run never stopped."""
    train_step, steps = Autoencoder.train_step, []

    def interrupted(model, batch, optimizers):
        out = train_step(model, batch, optimizers)
        steps.append(1)
        if len(steps) == 3:
            os.kill(os.getpid(), signal.SIGINT)
        return out

    monkeypatch.setattr(Autoencoder, "train_step", interrupted)
    assert main([*SMALL_RUN, "--epochs", "2", "--checkpoint-every", "1", "--out", str(tmp_path)]) == 128 + signal.SIGINT
    assert f"python -m minivae ae --resume {tmp_path}" in capsys.readouterr().err
    monkeypatch.undo()
    assert main(["ae", "--resume", str(tmp_path), "--quiet", "--no-figures"]) == 0
    assert_same_run(straight, tmp_path)


@pytest.mark.parametrize("flags, match", [(["--latent-dim", "0"], "--latent-dim"),
                                          (["--likelihood", "laplace"], "--likelihood"),
                                          (["--compare-vae", "nowhere"], "--compare-vae nowhere: no such run")])
def test_bad_ae_options_are_clear_errors(tmp_path, capsys, flags, match):
    assert main([*SMALL_RUN, "--epochs", "1", *flags, "--out", str(tmp_path / "bad")]) == 2
    assert match in capsys.readouterr().err


def test_compare_vae_refuses_a_run_that_is_not_a_vae_and_draws_a_vaes_rows(straight, tmp_path, capsys):
    assert main([*SMALL_RUN, "--epochs", "1", "--compare-vae", str(straight), "--out", str(tmp_path / "a")]) == 2
    assert "a 'ae' run; expected an unconditional VAE of Gaussian latents" in capsys.readouterr().err
    vae = tmp_path / "vae"
    assert main(["train", "--train-size", "256", "--test-size", "50", "--hidden-dims", "16", "--latent-dim", "2",
                 "--epochs", "1", "--quiet", "--no-figures", "--out", str(vae)]) == 0
    assert main([*SMALL_RUN, "--epochs", "1", "--compare-vae", str(vae), "--out", str(tmp_path / "b")]) == 0
    assert (tmp_path / "b" / "interpolation.png").stat().st_size > 0


def test_evaluate_and_compare_score_an_ae_run(straight, tmp_path, capsys):
    assert main(["evaluate", str(straight), "--n", "100", "--json", str(tmp_path / "e.json"), "--quiet"]) == 0
    figures = json.loads((tmp_path / "e.json").read_text())
    assert figures["kind"] == "ae" and figures["test_recon"] > 0 and figures["n"] == 100
    assert main(["compare", str(straight), "--samples", "20", "--k", "0", "--json", str(tmp_path / "c.json"),
                 "--quiet"]) == 0
    row = json.loads((tmp_path / "c.json").read_text())["rows"][0]
    assert row["kind"] == "ae" and row["test_recon"] > 0 and math.isfinite(row["sample_fid"])
    assert "test_elbo" not in row and "test_nll" not in row
    assert main(["evaluate", str(straight), "--figure", str(tmp_path / "kl.png"), "--quiet"]) == 2
    assert "an autoencoder checkpoint has no KL per dimension" in capsys.readouterr().err
    assert not (tmp_path / "kl.png").exists()
