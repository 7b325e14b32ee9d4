"""The skip decoder (Dieng et al. 2019): z enters every decoder layer; its gradients, its oracle, its options and flags."""
import json

import numpy as np
import pytest

from minivae import VAE
from minivae.bench import nll
from minivae.cli import main
from minivae.errors import ConfigError
from minivae.gradcheck import check_model_gradients
from minivae.models.checkpoint import load_checkpoint
from minivae.models.skip_decoder import SkipMLP

SMALL = dict(input_dim=6, hidden_dims=(5, 4), latent_dim=3, activation="tanh", dtype="float64", seed=1,
             decoder_skip=True)
VARIANTS = {
    "bernoulli": {},
    "bernoulli, iwae k = 3": dict(iwae_k=3),
    "gaussian, fixed variance": dict(likelihood="gaussian"),
    "gaussian, network variance, iwae k = 3": dict(likelihood="gaussian", variance="network", iwae_k=3),
    "cvae (the label enters every layer too)": dict(num_classes=3),
}
TINY = ["--train-size", "200", "--test-size", "50", "--hidden-dims", "8", "8", "--batch-size", "50", "--quiet",
        "--no-figures", "--binarize", "--decoder-skip", "--seed", "3"]


def _batch(vae, rng, n=4):
    c = vae.config
    eps = rng.standard_normal((c.iwae_k, n, c.latent_dim) if c.iwae_k > 1 else (n, c.latent_dim))
    y = np.arange(n) % c.num_classes if c.num_classes else None
    return rng.random((n, c.input_dim)), y, eps


@pytest.mark.parametrize("name", VARIANTS)
def test_every_gradient_of_a_vae_with_a_skip_decoder_matches_finite_differences(name, rng):
    vae = VAE(**{**SMALL, **VARIANTS[name]})
    assert {"decoder.1.U", "decoder.2.U"} <= set(vae.params) and "decoder.0.U" not in vae.params
    x, y, eps = _batch(vae, rng)
    vae.loss(x, y=y, eps=eps)
    grads = {k: g.copy() for k, g in vae.backward().items()}
    errors = check_model_gradients(lambda: float(vae.loss(x, y=y, eps=eps)["loss"]), vae.params, grads, h=1e-4)
    assert max(errors.values()) < 1e-6, errors


def test_the_skip_mlp_is_a_dense_layer_on_the_concatenation_of_h_and_z(rng):
    """h_l = act([h_{l-1}, z] [W_l; U_l] + b_l), written out with NumPy, is what forward and predict return."""
    mlp = SkipMLP([3, 5, 4, 6], "tanh", rng, dtype="float64")
    z = rng.standard_normal((7, 3))
    h = np.tanh(z @ mlp.params["0.W"] + mlp.params["0.b"])
    h = np.tanh(np.hstack([h, z]) @ np.vstack([mlp.params["1.W"], mlp.params["1.U"]]) + mlp.params["1.b"])
    out = np.hstack([h, z]) @ np.vstack([mlp.params["2.W"], mlp.params["2.U"]]) + mlp.params["2.b"]
    np.testing.assert_allclose(mlp.forward(z), out, rtol=1e-12)
    np.testing.assert_allclose(mlp.predict(z), out, rtol=1e-12)


def test_dz_sums_the_gradient_of_every_layer_that_reads_z(rng):
    """With the z-paths cut (U = 0) the skip decoder is the plain one, and dz loses exactly sum_l da_l U_l^T."""
    skip, plain = VAE(**SMALL), VAE(**{**SMALL, "decoder_skip": False})
    for k in plain.params:
        skip.params[k][...] = plain.params[k]
    x, _, eps = _batch(plain, rng)
    for k in ("decoder.1.U", "decoder.2.U"):
        skip.params[k][...] = 0.0
    assert float(skip.loss(x, eps=eps)["loss"]) == pytest.approx(float(plain.loss(x, eps=eps)["loss"]), rel=1e-14)
    gs, gp = skip.backward(), plain.backward()
    for k in gp:
        np.testing.assert_allclose(gs[k], gp[k], rtol=1e-12, atol=1e-15, err_msg=k)
    skip.params["decoder.2.U"][...] = rng.standard_normal(skip.params["decoder.2.U"].shape)
    skip.loss(x, eps=eps)
    assert not np.allclose(skip.backward()["mu.W"], gp["mu.W"])            # the output layer's path reaches mu


def test_a_saved_skip_decoder_loads_with_its_z_weights(tmp_path, rng):
    vae = VAE(**{**SMALL, "dtype": "float32"})
    vae.params["decoder.1.U"][...] = rng.standard_normal(vae.params["decoder.1.U"].shape)
    vae.save(tmp_path / "m.npz")
    back = VAE.load(tmp_path / "m.npz")
    assert back.config.decoder_skip and "decoder.1.U" in back.params
    x, _, eps = _batch(vae, rng)
    assert float(back.loss(x, eps=eps)["loss"]) == float(vae.loss(x, eps=eps)["loss"])
    assert "decoder_skip=True" in repr(back)


@pytest.mark.parametrize("options, match", [
    (dict(hidden_dims=()), "decoder_skip passes z to every decoder layer after the first: it needs hidden_dims"),
    (dict(decoder_skip="yes"), "decoder_skip must be True or False, got 'yes'"),
])
def test_bad_skip_options_are_one_clear_config_error(options, match):
    with pytest.raises(ConfigError) as e:
        VAE(**{**SMALL, **options})
    assert match in str(e.value) and "\n" not in str(e.value)


def test_a_linear_vae_with_decoder_skip_is_refused_in_one_line(tmp_path, capsys):
    assert main(["train", "--decoder-skip", "--hidden-dims", "--out", str(tmp_path / "never"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert "error: --decoder-skip passes z to every decoder layer" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "never" / "model.npz").exists()


def test_train_with_decoder_skip_records_it_and_resumes_to_the_uninterrupted_run(tmp_path, capsys):
    straight, stopped = tmp_path / "straight", tmp_path / "stopped"
    assert main(["train", *TINY, "--epochs", "2", "--out", str(straight)]) == 0
    m = json.loads((straight / "metrics.json").read_text())
    assert m["config"]["decoder_skip"] is True and m["final"]["mutual_information"] is not None
    assert main(["train", *TINY, "--epochs", "1", "--out", str(stopped)]) == 0
    assert main(["train", "--resume", str(stopped), "--epochs", "2", "--quiet", "--no-figures"]) == 0
    a, b = load_checkpoint(straight / "model.npz")[1], load_checkpoint(stopped / "model.npz")[1]
    assert "decoder.1.U" in a and a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def test_bench_nll_trains_and_names_the_skip_decoder(tmp_path, capsys):
    assert nll.main(["--train-size", "100", "--epochs", "1", "--time-budget", "0", "--batch-size", "50",
                     "--decoder-skip", "--k", "3", "--n", "10", "--workers", "1", "--out", str(tmp_path / "b"),
                     "--quiet"]) == 0
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert res["design"] == {"decoder_skip": True} and np.isfinite(res["test_nll"])
