"""The command line: train and evaluate on a tiny MNIST subset, metrics.json schema, bench nll."""
import json

import numpy as np
import pytest

from minivae import VAE
from minivae.bench import nll
from minivae.models.checkpoint import load_checkpoint
from minivae.cli import main
from minivae.datasets import load_data

TINY = ["--train-size", "300", "--test-size", "200", "--epochs", "2", "--hidden-dims", "16", "--batch-size", "50", "--quiet"]


def encoder_by_hand(path, x):
    """(mu, logvar) of a checkpoint's one-hidden-layer ReLU encoder on x, in float64 from its weights."""
    P = {k: np.asarray(v, np.float64) for k, v in load_checkpoint(path)[1].items()}
    h = np.maximum(x @ P["encoder.0.W"] + P["encoder.0.b"], 0)
    return h @ P["mu.W"] + P["mu.b"], h @ P["logvar.W"] + P["logvar.b"]


def binarized_test_images(n):
    """The first n test images as a --binarize run (seed 0) evaluates them: binarized once, seed 10 000."""
    return load_data("mnist", binarized=True, seed=0)[2].x[:n].astype(np.float64)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """One tiny binarized run with a 2-D latent and a validation split, figures included."""
    out = tmp_path_factory.mktemp("run")
    assert main(["train", *TINY, "--latent-dim", "2", "--binarize", "--val-size", "100", "--keep-best",
                 "--warmup-epochs", "1", "--lr-schedule", "cosine", "--lr-min", "1e-4", "--out", str(out)]) == 0
    return out


def test_train_writes_checkpoint_metrics_and_figures(run):
    m = json.loads((run / "metrics.json").read_text())
    assert set(m) == {"kind", "provenance", "config", "history", "final", "figures"} and m["kind"] == "vae"
    assert len(m["history"]) == 2
    for h in m["history"]:
        assert set(h) >= {"epoch", "train_loss", "test_loss", "test_recon", "test_kl", "epoch_time_s"}
        assert all(np.isfinite(h[k]) for k in ("train_loss", "test_loss", "test_recon", "test_kl"))
    assert [h["epoch"] for h in m["history"]] == [1, 2]
    final = m["final"]
    assert set(final) >= {"test_loss", "test_recon", "test_kl", "test_elbo", "active_units", "kl_per_dim"}
    assert final["test_elbo"] == pytest.approx(final["test_recon"] + final["test_kl"])
    # active units (Var_x(mu_u) > 0.01) and KL per dimension on the 200 test images, by hand from the weights
    mu, logvar = encoder_by_hand(run / "model.npz", binarized_test_images(200))
    assert final["active_units"] == int((mu.var(axis=0) > 0.01).sum())
    np.testing.assert_allclose(final["kl_per_dim"], 0.5 * (mu**2 + np.exp(logvar) - logvar - 1).mean(axis=0),
                               rtol=0, atol=2e-6)                               # written rounded to 6 decimals
    assert final["train_seconds"] > 0 and final["epochs"] == 2 and final["sessions"] == 1
    assert m["config"]["latent_dim"] == 2 and m["config"]["warmup_epochs"] == 1
    assert m["config"]["lr_schedule"] == "cosine" and m["config"]["val_size"] == 100
    for name in ("model.npz", "reconstructions.png", "samples.png", "loss_curves.png", "kl_per_dim.png",
                 "latent_diagnostics.png", "latent.png", "manifold.png"):
        assert (run / name).stat().st_size > 0, name
    assert set(m["figures"]) >= {"latent_diagnostics.png", "manifold.png"}
    assert VAE.load(run / "model.npz", latent_dim=2).config.hidden_dims == (16,)


def test_evaluate_writes_the_issue_json(run, tmp_path, capsys):
    out = tmp_path / "eval.json"
    fig = tmp_path / "diag.png"
    assert main(["evaluate", str(run / "model.npz"), "--k", "50", "--n", "100", "--json", str(out),
                 "--figure", str(fig)]) == 0
    res = json.loads(out.read_text())
    assert set(res) >= {"test_elbo", "test_nll", "test_kl", "active_units", "k"}
    assert res["k"] == 50 and res["n"] == 100
    assert res["test_elbo"] == pytest.approx(res["test_recon"] + res["test_kl"])
    assert 0 < res["test_nll"] < res["test_elbo"]              # the 50-sample bound is tighter than the ELBO
    assert fig.stat().st_size > 0
    printed = capsys.readouterr().out
    assert "NLL (k=50)" in printed and "-ELBO" in printed


def test_evaluate_counts_the_units_whose_mean_varies(run, tmp_path):
    """active_units = #{u : Var_x(mu_u) > 0.01} over the evaluated images: 1 of 2 here, by hand."""
    vae = VAE.load(run / "model.npz", latent_dim=2)
    vae.params["mu.W"][:, 1] *= 30                   # unit 1's mean now varies with x (Var x 900); unit 0 as trained
    path = vae.save(tmp_path / "m.npz", extra=load_checkpoint(run / "model.npz")[2])   # binarize, seed: as run
    out = tmp_path / "eval.json"
    assert main(["evaluate", path, "--k", "1", "--n", "200", "--json", str(out)]) == 0
    activity = encoder_by_hand(path, binarized_test_images(200))[0].var(axis=0)
    assert activity[0] < 0.005 and activity[1] > 0.1                # far from the threshold on either side
    assert json.loads(out.read_text())["active_units"] == 1


def test_evaluate_rejects_k_below_one(run, capsys):
    assert main(["evaluate", str(run / "model.npz"), "--k", "0", "--n", "10"]) == 2
    assert "--k" in capsys.readouterr().err


def test_conditional_denoising_run_and_its_figures(tmp_path):
    out = tmp_path / "cvae"
    assert main(["train", *TINY, "--latent-dim", "3", "--num-classes", "10", "--denoise", "0.3",
                 "--free-bits", "0.1", "--out", str(out)]) == 0
    assert (out / "samples_per_class.png").stat().st_size > 0
    assert (out / "denoising.png").stat().st_size > 0
    ev = tmp_path / "ev.json"
    assert main(["evaluate", str(out / "model.npz"), "--k", "5", "--n", "20", "--json", str(ev)]) == 0
    assert json.loads(ev.read_text())["n"] == 20


def test_fashion_mnist_gaussian_learned_variance(tmp_path):
    from minivae.datasets import FASHION_MNIST_DIR
    if not (FASHION_MNIST_DIR / "train-images-idx3-ubyte.gz").exists():
        pytest.skip("Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)")
    out = tmp_path / "fm"
    assert main(["train", *TINY, "--dataset", "fashion-mnist", "--likelihood", "gaussian", "--learn-variance",
                 "--latent-dim", "4", "--no-figures", "--out", str(out)]) == 0
    assert json.loads((out / "metrics.json").read_text())["config"]["dataset"] == "fashion-mnist"


def test_missing_fashion_mnist_is_a_clear_error(tmp_path, capsys):
    assert main(["train", *TINY, "--dataset", "fashion-mnist", "--data-dir", str(tmp_path), "--out",
                 str(tmp_path / "x")]) == 2
    assert "dataset-fashion-mnist" in capsys.readouterr().err


@pytest.mark.parametrize("flags, match", [(["--free-bits", "-1"], "--free-bits"), (["--iwae-k", "0"], "--iwae-k"),
                                          (["--lr-schedule", "cosine", "--lr-min", "1"], "--lr-min"),
                                          (["--min-logvar", "-6"], "needs --variance pixel (--learn-variance)")])
def test_bad_training_options_are_clear_errors(tmp_path, capsys, flags, match):
    assert main(["train", *TINY, *flags, "--out", str(tmp_path / "bad")]) == 2
    assert match in capsys.readouterr().err


def test_bench_nll_runs_end_to_end_on_a_tiny_budget(tmp_path, capsys):
    out = tmp_path / "bench"
    assert nll.main(["--train-size", "300", "--val-size", "100", "--epochs", "1", "--time-budget", "0",
                     "--iwae-k", "2", "--k", "5", "--n", "20", "--workers", "2", "--out", str(out), "--quiet"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    res = json.loads(lines[-1])
    assert res["objective"] == "iwae" and res["iwae_k"] == 2 and res["epochs"] == 1
    assert res["k"] == 5 and res["n"] == 20 and res["latent_dim"] == 50
    assert 0 < res["test_nll"] < res["test_elbo"] + 5
    assert json.loads((out / "results.json").read_text())["test_nll"] == res["test_nll"]
    assert -np.load(out / "log_px.npy").mean() == pytest.approx(res["test_nll"], rel=1e-12)   # bench paired's input
    assert any("test NLL" in line for line in lines)
    vae = VAE.load(out / "model.npz", hidden_dims=(200, 200), latent_dim=50, activation="tanh")
    assert vae.config.iwae_k == 2
    # evaluating the saved model again, in one process instead of two, gives the same figures
    assert res["workers"] == 2
    assert nll.main(["--eval-only", str(out / "model.npz"), "--k", "5", "--n", "20", "--workers", "1",
                     "--out", str(out)]) == 0
    again = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert again["test_nll"] == pytest.approx(res["test_nll"], rel=1e-12)
    assert again["epochs"] == 1 and again["workers"] == 1
    assert again["train_size"] == 300 and again["time_budget"] == 0      # the training settings, from the checkpoint
    assert main(["bench", "paired", str(out), str(out)]) == 0                # a run against itself: 0 +- 0
    assert "+0.00 +- 0.00" in capsys.readouterr().out


def test_a_bench_refused_for_a_bad_option_leaves_no_empty_out_folder(tmp_path, capsys):
    assert main(["bench", "nll", "--iwae-k", "0", "--out", str(tmp_path / "new")]) == 2
    assert "--iwae-k" in capsys.readouterr().err and not (tmp_path / "new").exists()
    (tmp_path / "old").mkdir()
    assert main(["bench", "nll", "--iwae-k", "0", "--out", str(tmp_path / "old")]) == 2
    assert (tmp_path / "old").is_dir()                                 # a folder the user had stays


def test_output_bias_data_starts_the_decoder_at_the_mean_image(tmp_path):
    from minivae.datasets import load_dataset

    assert main(["train", *TINY, "--epochs", "1", "--lr", "1e-9", "--output-bias", "data", "--out", str(tmp_path),
                 "--no-figures"]) == 0
    b = VAE.load(tmp_path / "model.npz").params["decoder.1.b"].astype(np.float64)
    mean = load_dataset("mnist", "train").x[:300].mean(axis=0)
    assert np.allclose(1 / (1 + np.exp(-b)), np.clip(mean, 1e-4, 1 - 1e-4), atol=1e-4)   # lr 1e-9: still the start
