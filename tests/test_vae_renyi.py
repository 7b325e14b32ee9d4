"""The VAE trained on the Rényi bound (vr_alpha, vr_max): its gradients, alpha = 0 as IWAE, its options and flags."""
import json

import numpy as np
import pytest

from minivae import VAE, renyi
from minivae.bench import nll
from minivae.cli import main
from minivae.errors import ConfigError
from minivae.gradcheck import check_model_gradients

SMALL = dict(input_dim=6, hidden_dims=(5,), latent_dim=3, activation="tanh", dtype="float64", seed=1, iwae_k=4)
BOUNDS = {
    "alpha = 0.5": dict(vr_alpha=0.5),
    "alpha = -2": dict(vr_alpha=-2.0),
    "alpha = 3 (above 1)": dict(vr_alpha=3.0, beta=0.7),
    "vr-max": dict(vr_max=True),
    "alpha = 0.5, gaussian learned variance": dict(vr_alpha=0.5, likelihood="gaussian", learn_variance=True),
    "alpha = 0.5, planar flow": dict(vr_alpha=0.5, flow="planar", flow_steps=2),
}
TINY = ["--train-size", "200", "--test-size", "50", "--epochs", "1", "--hidden-dims", "8", "--batch-size", "50",
        "--quiet", "--no-figures", "--binarize"]


def _batch(vae, rng, n=4):
    c = vae.config
    return rng.random((n, c.input_dim)), rng.standard_normal((c.iwae_k, n, c.latent_dim))


@pytest.mark.parametrize("name", BOUNDS)
def test_every_gradient_of_the_renyi_loss_matches_finite_differences(name, rng):
    vae = VAE(**{**SMALL, **BOUNDS[name]})
    if "flow.W" in vae.params:                   # the identity flow at the start: check away from it
        vae.params["flow.W"][...] = 0.5 * rng.standard_normal(vae.params["flow.W"].shape)
    x, eps = _batch(vae, rng)
    vae.loss(x, eps=eps)
    grads = {k: g.copy() for k, g in vae.backward().items()}
    errors = check_model_gradients(lambda: float(vae.loss(x, eps=eps)["loss"]), vae.params, grads,
                                   h=3e-4 if vae.config.flow else 1e-3)
    assert max(errors.values()) < 1e-7, errors


@pytest.mark.parametrize("alpha", [0.5, renyi.VR_MAX])
def test_the_loss_is_minus_the_renyi_bound_of_the_iwae_log_weights(alpha, rng):
    """Same weights and eps: the IWAE model's log-weights, put through L_alpha, give the Rényi model's loss."""
    kw = dict(vr_max=True) if alpha == renyi.VR_MAX else dict(vr_alpha=alpha)
    vr, iw = VAE(**SMALL, **kw), VAE(**SMALL)
    x, eps = _batch(iw, rng)
    iw.loss(x, eps=eps)
    expected = -renyi.bound(iw._cache["log_w"], alpha).mean()
    assert float(vr.loss(x, eps=eps)["loss"]) == pytest.approx(float(expected), rel=1e-13)


def test_alpha_zero_is_the_iwae_loss_and_gradients(rng):
    vr, iw = VAE(**SMALL, vr_alpha=0.0), VAE(**SMALL)
    x, eps = _batch(iw, rng)
    a, b = vr.loss(x, eps=eps), iw.loss(x, eps=eps)
    assert abs(float(a["loss"]) - float(b["loss"])) <= 1e-12 * abs(float(b["loss"]))
    ga, gb = vr.backward(), iw.backward()
    for k in gb:
        np.testing.assert_allclose(ga[k], gb[k], rtol=1e-12, atol=1e-15, err_msg=k)


def test_the_bounds_order_as_alpha_says_on_the_same_samples(rng):
    """-L_alpha, the loss, does not decrease with alpha: VR-max <= IWAE (alpha 0) <= alpha 0.5 <= the ELBO side."""
    x, eps = _batch(VAE(**SMALL), rng)
    losses = [float(VAE(**SMALL, **kw).loss(x, eps=eps)["loss"])
              for kw in (dict(vr_max=True), dict(vr_alpha=-1.0), {}, dict(vr_alpha=0.5), dict(vr_alpha=0.999))]
    assert losses == sorted(losses)


@pytest.mark.parametrize("options, match", [
    (dict(vr_alpha=1.0), "vr_alpha (alpha, the order of the Rényi bound) must be a finite number other than 1"),
    (dict(vr_alpha=float("nan")), "vr_alpha (alpha, the order of the Rényi bound) must be a finite number"),
    (dict(vr_alpha=float("inf")), "vr_alpha (alpha, the order of the Rényi bound) must be a finite number"),
    (dict(vr_alpha=0.5, iwae_k=1), "vr_alpha is a bound over importance samples: it needs iwae_k >= 2"),
    (dict(vr_max=True), "vr_max is a bound over importance samples: it needs iwae_k >= 2"),
    (dict(vr_max=True, vr_alpha=0.5, iwae_k=3), "give vr_alpha or vr_max, not both"),
    (dict(vr_max="yes", iwae_k=3), "vr_max must be True or False"),
    (dict(vr_alpha=0.5, iwae_k=3, free_bits=1.0), "free_bits"),
    (dict(vr_alpha=0.5, iwae_k=3, latent="categorical"), "latent='categorical'"),
])
def test_bad_renyi_options_are_one_clear_config_error(options, match):
    with pytest.raises(ConfigError) as e:
        VAE(input_dim=6, hidden_dims=(5,), latent_dim=3, **options)
    assert match in str(e.value) and "\n" not in str(e.value)


def test_train_on_the_renyi_bound_writes_a_run_that_records_and_resumes_it(tmp_path, capsys):
    out = tmp_path / "vr"
    assert main(["train", *TINY, "--iwae-k", "5", "--vr-alpha", "0.5", "--out", str(out)]) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["config"]["vr_alpha"] == 0.5 and m["config"]["vr_max"] is False and m["config"]["iwae_k"] == 5
    assert np.isfinite(m["history"][0]["train_loss"])
    assert VAE.load(out / "model.npz").config.objective == "renyi (alpha=0.5)"
    capsys.readouterr()
    assert main(["train", "--resume", str(out), "--epochs", "2", "--quiet", "--no-figures"]) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert len(m["history"]) == 2 and VAE.load(out / "model.npz").config.vr_alpha == 0.5
    assert main(["train", "--resume", str(out), "--epochs", "3", "--vr-alpha", "0.25", "--quiet"]) == 2
    assert "--vr-alpha 0.25 (the run has 0.5)" in capsys.readouterr().err


@pytest.mark.parametrize("flags, match", [
    (["--vr-alpha", "0.5"], "error: --vr-alpha is a bound over importance samples: it needs --iwae-k >= 2, got --iwae-k 1"),
    (["--vr-max"], "error: --vr-max is a bound over importance samples: it needs --iwae-k >= 2, got --iwae-k 1"),
    (["--iwae-k", "5", "--vr-alpha", "1"], "error: --vr-alpha (alpha, the order of the Rényi bound) must be a finite"),
    (["--iwae-k", "5", "--vr-alpha", "nan"], "error: --vr-alpha (alpha, the order of the Rényi bound) must be a finite"),
    (["--iwae-k", "5", "--vr-alpha", "0.5", "--vr-max"], "give --vr-alpha or --vr-max, not both"),
])
@pytest.mark.parametrize("command", ["train", "bench nll"])
def test_bad_renyi_flags_are_one_line(command, flags, match, tmp_path, capsys):
    argv = [*command.split(), *flags, "--out", str(tmp_path / "never"), "--quiet"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert match in err and len(err.splitlines()) == 1 and "vr_alpha" not in err
    assert not (tmp_path / "never" / "model.npz").exists()               # refused before any training


def test_bench_nll_names_the_renyi_objective(tmp_path, capsys):
    out = tmp_path / "bench"
    assert nll.main(["--train-size", "100", "--epochs", "1", "--time-budget", "0", "--batch-size", "50",
                     "--iwae-k", "2", "--vr-max", "--k", "3", "--n", "10", "--workers", "1", "--out", str(out),
                     "--quiet"]) == 0
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert res["objective"] == "vr-max" and res["iwae_k"] == 2 and np.isfinite(res["test_nll"])
