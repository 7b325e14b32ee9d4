"""The convolutional VAE (``VAE(arch="conv")``, ``train --arch conv``): the same graph with conv nets around z.

Its loss is gradient-checked in float64 (entries drawn from every parameter:
the whole check would take minutes), a short MNIST run lowers the loss, a
checkpoint and a resumed run give back the same model, and what the
convolutional nets cannot take is refused in one line.
"""
import json

import numpy as np
import pytest

from minivae import VAE
from minivae.cli import main
from minivae.errors import ConfigError
from minivae.models.checkpoint import load_checkpoint

SMALL = dict(arch="conv", hidden_dims=(6,), latent_dim=3, activation="tanh", dtype="float64", seed=1)   # smooth: no kinks


def _sampled_errors(vae, x, eps, rng, entries=5, h=1e-4):
    """{name: the largest relative error} of central differences at ``entries`` random entries of each parameter."""
    vae.loss(x, eps=eps)
    grads = {k: g.copy() for k, g in vae.backward().items()}
    errors = {}
    for name, p in vae.params.items():
        flat, worst = p.reshape(-1), 0.0
        for i in rng.choice(flat.size, min(entries, flat.size), replace=False):
            old = flat[i]
            flat[i] = old + h
            up = float(vae.loss(x, eps=eps)["loss"])
            flat[i] = old - h
            down = float(vae.loss(x, eps=eps)["loss"])
            flat[i] = old
            num, ana = (up - down) / (2 * h), grads[name].reshape(-1)[i]
            worst = max(worst, abs(num - ana) / max(abs(num) + abs(ana), 1e-8))
        errors[name] = worst
    return errors


@pytest.mark.parametrize("kw", [dict(), dict(likelihood="gaussian", obs_logvar=-1.0), dict(iwae_k=3),
                                dict(hidden_dims=())], ids=["bernoulli", "gaussian", "iwae k=3", "no dense layer"])
def test_every_parameter_of_the_conv_vae_loss_has_the_finite_difference_gradient(kw, rng):
    vae = VAE(**{**SMALL, **kw})
    n, k = 2, vae.config.iwae_k
    x = rng.random((n, 784))
    eps = rng.standard_normal((n, 3) if k == 1 else (k, n, 3))
    errors = _sampled_errors(vae, x, eps, rng)
    assert {"encoder.conv0.W", "encoder.conv1.b", "decoder.deconv0.W", "decoder.deconv1.b", "mu.W"} <= set(errors)
    assert max(errors.values()) < 1e-6, errors


def test_the_conv_nets_have_the_sizes_of_the_issue():
    vae = VAE(arch="conv", hidden_dims=())
    shapes = {k: v.shape for k, v in vae.params.items()}
    assert shapes["encoder.conv0.W"] == (32, 1, 4, 4) and shapes["encoder.conv1.W"] == (64, 32, 4, 4)
    assert shapes["mu.W"] == (64 * 7 * 7, 20) and shapes["decoder.dense0.W"] == (20, 3136)
    assert shapes["decoder.deconv0.W"] == (64, 32, 4, 4) and shapes["decoder.deconv1.W"] == (32, 1, 4, 4)
    assert vae.reconstruct(np.zeros((3, 784), "float32")).shape == (3, 784)
    assert vae.sample(2).shape == (2, 784)


def test_a_checkpoint_rebuilds_the_conv_vae_and_an_old_one_loads_as_mlp(tmp_path, rng):
    vae = VAE(**SMALL)
    vae.save(tmp_path / "m.npz")
    back = VAE.load(tmp_path / "m.npz")
    x, eps = rng.random((3, 784)), rng.standard_normal((3, 3))
    assert back.config == vae.config and back.config.arch == "conv"
    assert float(back.loss(x, eps=eps)["loss"]) == float(vae.loss(x, eps=eps)["loss"])
    VAE(input_dim=6, hidden_dims=(5,), latent_dim=2).save(tmp_path / "old.npz")
    with np.load(tmp_path / "old.npz") as f:
        arrays = dict(f)
    meta = json.loads(str(arrays["__meta__"]))
    config = next(d for d in meta.values() if isinstance(d, dict) and "arch" in d)
    del config["arch"]                                          # a checkpoint written before the option
    np.savez(tmp_path / "old.npz", **{**arrays, "__meta__": np.array(json.dumps(meta))})
    assert VAE.load(tmp_path / "old.npz").config.arch == "mlp"


@pytest.mark.parametrize("kw, match", [
    (dict(input_dim=100), "input_dim"),
    (dict(num_classes=10), "num_classes"),
    (dict(decoder_skip=True), "decoder_skip"),
    (dict(likelihood="gaussian", variance="network"), "variance"),
    (dict(likelihood="gaussian", learn_variance=True), "variance"),
    (dict(arch="cnn"), "arch must be one of"),
])
def test_what_the_conv_nets_cannot_take_is_refused_in_one_line(kw, match):
    with pytest.raises(ConfigError, match=match) as e:
        VAE(**{"arch": "conv", **kw})
    assert "\n" not in str(e.value)


def test_init_output_bias_is_refused_for_the_conv_decoder():
    with pytest.raises(ConfigError, match="per channel"):
        VAE(arch="conv").init_output_bias(np.zeros((2, 784), "float32"))


OPTS = ["train", "--arch", "conv", "--hidden-dims", "--latent-dim", "4", "--train-size", "512", "--test-size",
        "128", "--batch-size", "64", "--no-figures", "--quiet"]


@pytest.fixture(scope="module")
def run2(tmp_path_factory):
    out = tmp_path_factory.mktemp("conv2")
    assert main([*OPTS, "--epochs", "2", "--out", str(out)]) == 0
    return out


def test_a_short_mnist_run_of_train_arch_conv_lowers_the_loss(run2):
    metrics = json.loads((run2 / "metrics.json").read_text())
    train, test = ([e[k] for e in metrics["history"]] for k in ("train_loss", "test_loss"))
    assert train[1] < train[0] and test[1] < test[0] < 784 * np.log(2)     # below the coin-flip image's
    assert VAE.load(run2 / "model.npz").config.arch == "conv"


def test_a_conv_run_resumed_after_1_epoch_is_the_run_of_2(run2, tmp_path):
    assert main([*OPTS, "--epochs", "1", "--out", str(tmp_path)]) == 0
    assert main(["train", "--resume", str(tmp_path), "--epochs", "2", "--quiet", "--no-figures"]) == 0
    a, b = load_checkpoint(run2 / "model.npz")[1], load_checkpoint(tmp_path / "model.npz")[1]
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def test_train_arch_conv_with_a_per_pixel_output_bias_is_a_one_line_error(tmp_path, capsys):
    assert main([*OPTS, "--epochs", "1", "--output-bias", "data", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "--output-bias zero" in err and "\n" not in err and "Traceback" not in err
