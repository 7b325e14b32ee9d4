"""``python -m minivae gan``: its files and metrics.json, the fixed z of the grids, resume, errors; its figures."""
import json
import os
import signal

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from minivae import cli
from minivae.figures import gan as figures_gan
from minivae.models.checkpoint import checkpoint_kind, load_checkpoint
from minivae.cli.grid import GRID, fixed_noise
from minivae.cli.sampling import sample_images, yardstick
from minivae.datasets import load_data
from minivae.errors import DataError, ShapeError
from minivae.models.gan import GAN
from minivae.models.gan_config import PAPER_DEFAULTS
from minivae.train import StepLog, TrainConfig, fit

ARCH = ["--noise-dim", "8", "--generator-dims", "32", "--discriminator-dims", "32"]
TINY = ["--train-size", "512", "--test-size", "200", *ARCH, "--samples", "200", "--quiet"]
NS = [*TINY, "--batch-size", "64", "--log-every", "3"]          # 8 steps an epoch: windows of 3, 3 and 2
TIMINGS = ("epoch_time_s",)


def main(argv):
    """``python -m minivae gan ARGV``'s exit status."""
    return cli.main(["gan", *argv])


def weights(path):
    return load_checkpoint(path)[1]


def untimed(history):
    return [{k: v for k, v in h.items() if k not in TIMINGS} for h in history]


@pytest.fixture(scope="module")
def ns_run(tmp_path_factory):
    """Two epochs of the non-saturating GAN, figures included."""
    out = tmp_path_factory.mktemp("ns")
    assert main([*NS, "--epochs", "2", "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def resumed(tmp_path_factory):
    """The same run stopped after epoch 1, then resumed (and extended) to epoch 2."""
    out = tmp_path_factory.mktemp("resumed")
    assert main([*NS, "--epochs", "1", "--out", str(out)]) == 0
    first = {"grid": (out / "samples_epoch_001.png").read_bytes(), "weights": weights(out / "model.npz")}
    assert main(["--resume", str(out), "--epochs", "2", "--samples", "200", "--quiet"]) == 0
    return out, first


def test_a_run_writes_its_checkpoint_metrics_steps_and_figures(ns_run):
    m = json.loads((ns_run / "metrics.json").read_text())
    assert set(m) >= {"config", "history", "final", "figures"}
    for key, value in {"loss": "ns", "noise_dim": 8, "generator_dims": [32], "discriminator_dims": [32],
                       "n_critic": 1, "optimizer": "adam", "lr": PAPER_DEFAULTS["ns"][1], "batch_size": 64,
                       "epochs": 2, "seed": 0, "noise": "uniform", "dataset": "mnist", "train_size": 512,
                       "test_size": 200, "log_every": 3, "backend": "numpy", "time_budget": None}.items():
        assert m["config"][key] == value, key
    assert [h["epoch"] for h in m["history"]] == [1, 2]
    for h in m["history"]:
        assert set(h) >= {"train_d_loss", "train_g_loss", "train_d_real", "train_d_fake", "epoch_time_s",
                          "test_loss", "test_g_loss", "test_d_real", "test_d_fake"}
        assert 0 < h["train_d_real"] < 1 and 0 < h["train_d_fake"] < 1            # probabilities for ns
    final = m["final"]
    assert set(final) >= {"fid", "class_entropy", "inception_score", "n", "epochs", "train_seconds"}
    assert final["n"] == 200 and final["epochs"] == 2 and final["train_seconds"] > 0
    assert final["fid"] > 0 and 0 <= final["class_entropy"] <= np.log(10) + 1e-9
    assert 1 - 1e-9 <= final["inception_score"] <= 10
    assert set(m["figures"]) == {"losses.png", "discriminator.png", "samples_by_epoch.png", "samples_epoch_001.png",
                                 "samples_epoch_002.png"}
    for name in m["figures"]:
        assert (ns_run / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
    assert checkpoint_kind(ns_run / "model.npz") == "gan"
    assert GAN.load(ns_run / "model.npz").config.generator_dims == (32,)
    steps = json.loads((ns_run / "steps.json").read_text())
    assert steps["step"] == [3, 6, 8, 11, 14, 16]                     # windows of 3 that never cross an epoch
    assert steps["log_every"] == 3 and steps["steps_per_epoch"] == 8
    assert set(steps) >= {"d_loss", "g_loss", "d_real", "d_fake"} and "wasserstein" not in steps


def test_the_final_yardstick_scores_samples_of_the_trained_generator(ns_run):
    final = json.loads((ns_run / "metrics.json").read_text())["final"]
    q = yardstick(sample_images(GAN.load(ns_run / "model.npz"), 200, 0))        # what `evaluate --samples 200` reports
    assert {k: final[k] for k in q} == q


def test_the_figures_leave_training_alone_the_checkpoint_is_fits(ns_run):
    """The grid's z comes from its own generator: drawing it (or anything) from gan.rng after epoch 1 would change
    epoch 2's z, and these weights."""
    train, _, test = load_data("mnist", train_size=512)
    gan = GAN(noise_dim=8, generator_dims=(32,), discriminator_dims=(32,), loss="ns", seed=0)
    history = fit(gan, train.x, test.x[:200], config=TrainConfig(epochs=2, batch_size=64, lr=1e-3, seed=0),
                  progress=False)
    saved = weights(ns_run / "model.npz")
    assert all(np.array_equal(saved[k], gan.backend.to_numpy(v)) for k, v in gan.params.items())
    assert untimed(json.loads((ns_run / "metrics.json").read_text())["history"]) == untimed(history)


def test_every_epochs_grid_shows_G_of_the_same_fixed_z(ns_run):
    """Row e of samples_by_epoch.npz is G(z) with the weights after epoch e (model.prev.npz: epoch 1), one z."""
    rows = np.load(ns_run / "samples_by_epoch.npz")
    assert rows["epochs"].tolist() == [1, 2] and rows["images"].shape == (2, figures_gan.ROW, 784)
    z = fixed_noise(0, GRID, 8)
    for epoch, name in ((1, "model.prev.npz"), (2, "model.npz")):
        g = GAN.load(ns_run / name).generate(z)[:figures_gan.ROW]
        np.testing.assert_array_equal(rows["images"][epoch - 1], g)
    assert not np.array_equal(rows["images"][0], rows["images"][1])


def test_the_fixed_z_is_the_noise_distributions_own_draw():
    u, n = fixed_noise(3, 1000, 8), fixed_noise(3, 1000, 8, "normal")
    assert u.shape == (1000, 8) and u.dtype == np.float32 and -1 <= u.min() < -0.99 and 0.99 < u.max() <= 1
    assert abs(n.mean()) < 0.05 and abs(n.std() - 1) < 0.05
    np.testing.assert_array_equal(u, fixed_noise(3, 1000, 8))
    assert not np.array_equal(u, fixed_noise(4, 1000, 8))
    assert not np.array_equal(u, GAN(noise_dim=8, generator_dims=(4,), discriminator_dims=(4,), seed=3).noise(1000))


def test_two_runs_with_the_same_seed_draw_the_same_grids(ns_run, resumed):
    _, first = resumed
    assert first["grid"] == (ns_run / "samples_epoch_001.png").read_bytes()


def test_resume_continues_the_run_exactly(ns_run, resumed):
    out, first = resumed
    assert checkpoint_kind(out / "model.npz") == "gan"
    a, b = weights(ns_run / "model.npz"), weights(out / "model.npz")
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not all(np.array_equal(a[k], first["weights"][k]) for k in a)            # epoch 2 did train
    m, r = (json.loads((d / "metrics.json").read_text()) for d in (ns_run, out))
    assert untimed(m["history"]) == untimed(r["history"]) and r["config"] == m["config"]
    assert {k: m["final"][k] for k in ("fid", "class_entropy", "inception_score")} == \
        {k: r["final"][k] for k in ("fid", "class_entropy", "inception_score")}
    assert (ns_run / "steps.json").read_text() == (out / "steps.json").read_text()
    rows_a, rows_b = np.load(ns_run / "samples_by_epoch.npz"), np.load(out / "samples_by_epoch.npz")
    np.testing.assert_array_equal(rows_a["images"], rows_b["images"])
    assert r["figures"] == m["figures"]


def test_a_run_stopped_inside_an_epoch_resumes_exactly(ns_run, tmp_path, monkeypatch, capsys):
    """SIGINT during step 5 of 8: the loop saves the run between two steps; resumed, it ends as if never stopped
    (the step windows since the last finished epoch are lost: a gap in steps.json)."""
    train_step = GAN.train_step

    def interrupted(gan, batch, optimizers):
        out = train_step(gan, batch, optimizers)
        if optimizers["discriminator"].t == 5:
            os.kill(os.getpid(), signal.SIGINT)
        return out

    monkeypatch.setattr(GAN, "train_step", interrupted)
    assert main([*NS, "--epochs", "2", "--out", str(tmp_path)]) == 128 + signal.SIGINT
    assert f"python -m minivae gan --resume {tmp_path}" in capsys.readouterr().err
    monkeypatch.undo()
    assert main(["--resume", str(tmp_path), "--samples", "200", "--quiet"]) == 0
    a, b = weights(ns_run / "model.npz"), weights(tmp_path / "model.npz")
    assert all(np.array_equal(a[k], b[k]) for k in a)
    m, r = (json.loads((d / "metrics.json").read_text()) for d in (ns_run, tmp_path))
    assert untimed(m["history"]) == untimed(r["history"])
    assert json.loads((tmp_path / "steps.json").read_text())["step"] == [8, 11, 14, 16]


def test_resume_refuses_options_that_contradict_the_run(resumed, capsys):
    out, _ = resumed
    assert main(["--resume", str(out), "--loss", "lsgan", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "--loss lsgan (the run has ns)" in err


@pytest.mark.parametrize("loss", ["minimax", "lsgan", "wgan", "wgan-gp"])
def test_every_loss_trains_with_the_papers_defaults_and_draws_its_figures(loss, tmp_path):
    assert main([*TINY, "--loss", loss, "--epochs", "1", "--out", str(tmp_path)]) == 0
    m = json.loads((tmp_path / "metrics.json").read_text())
    optimizer, lr, _, n_critic, batch = PAPER_DEFAULTS[loss]
    c = m["config"]
    assert (c["loss"], c["optimizer"], c["lr"], c["n_critic"], c["batch_size"]) == (loss, optimizer, lr, n_critic,
                                                                                    batch)
    assert c["clip"] == (0.01 if loss == "wgan" else None) and c["gp_lambda"] == (10 if loss == "wgan-gp" else None)
    h = m["history"][0]
    wasserstein = loss.startswith("wgan")
    assert ("train_wasserstein" in h) == wasserstein and ("train_gp" in h) == (loss == "wgan-gp")
    if wasserstein:
        assert h["train_wasserstein"] == pytest.approx(h["train_d_real"] - h["train_d_fake"])
    assert np.isfinite([h["train_d_loss"], h["train_g_loss"], m["final"]["fid"]]).all()
    steps = json.loads((tmp_path / "steps.json").read_text())
    assert ("wasserstein" in steps) == wasserstein and steps["step"][-1] == -(-512 // batch)
    for name in ("losses.png", "discriminator.png", "samples_by_epoch.png", "samples_epoch_001.png", "model.npz"):
        assert (tmp_path / name).stat().st_size > 0, name


def test_a_time_budget_stops_before_the_epochs_run_out(tmp_path):
    assert main([*TINY, "--epochs", "5", "--time-budget", "0.001", "--no-figures", "--out", str(tmp_path)]) == 0
    m = json.loads((tmp_path / "metrics.json").read_text())
    assert len(m["history"]) == 1 and m["final"]["epochs"] == 1 and m["config"]["time_budget"] == 0.001
    assert "figures" not in m and not list(tmp_path.glob("*.png"))


@pytest.mark.parametrize("args, named", [
    (["--n-critic", "0"], "error: --n-critic"),
    (["--loss", "wgan", "--clip", "0"], "--clip: clip"),
    (["--loss", "wgan-gp", "--gp-lambda", "-1"], "error: --gp-lambda"),
    (["--clip", "0.01"], "--clip: clip (weight clipping) is the WGAN's"),
    (["--gp-lambda", "1"], "error: --gp-lambda weights WGAN-GP's"),
    (["--epochs", "0"], "--epochs: epochs must be"),
    (["--batch-size", "0"], "error: --batch-size must be"),
    (["--lr", "-1"], "--lr: lr must be"),
    (["--d-lr", "0"], "error: --d-lr"),
    (["--time-budget", "0"], "error: --time-budget"),
    (["--noise-dim", "0"], "error: --noise-dim"),
    (["--generator-dims", "8", "0"], "error: each of --generator-dims"),
    (["--checkpoint-every", "0"], "error: --checkpoint-every"),
    (["--samples", "1"], "--samples must be an integer >= 2"),
    (["--log-every", "0"], "--log-every must be"),
    (["--train-size", "0"], "--train-size must be"),
    (["--loss", "hinge"], "argument --loss: invalid choice"),
    (["--n-critic", "two"], "argument --n-critic: invalid int"),
])
def test_a_bad_option_is_an_error_naming_it_with_exit_code_2(args, named, tmp_path, capsys):
    out = tmp_path / "out"
    assert main([*TINY, *args, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "error: " in err and named in err, err
    assert not out.exists()                                           # refused before anything was written


def test_resume_needs_a_gan_runs_folder(tmp_path, capsys):
    assert main(["--resume", str(tmp_path)]) == 2
    assert "error: --resume" in capsys.readouterr().err


def test_help_lists_the_options(capsys):
    assert main(["--help"]) == 0
    text = capsys.readouterr().out
    for option in ("--loss", "--n-critic", "--clip", "--gp-lambda", "--noise-dim", "--time-budget", "--resume",
                   "--samples", "--no-figures"):
        assert option in text


# ---------------------------------------------------------------- the figures and their records
@given(n=st.integers(1, 500), max_rows=st.integers(2, 40))
@settings(max_examples=100, deadline=None)
def test_the_epochs_drawn_are_all_or_an_even_spread_with_the_first_and_last(n, max_rows):
    rows = figures_gan.epoch_rows(n, max_rows)
    assert rows == sorted(set(rows)) and len(rows) <= max_rows
    assert rows[0] == 0 and rows[-1] == n - 1
    assert len(rows) == n if n <= max_rows else len(rows) >= max_rows // 2


def test_samples_by_epoch_draws_a_subsample_of_many_epochs(tmp_path):
    rows = np.random.default_rng(0).random((45, 10, 784)).astype(np.float32)
    assert figures_gan.samples_by_epoch(rows, range(1, 46), tmp_path / "s.png").stat().st_size > 0
    with pytest.raises(ShapeError, match="45 epochs"):
        figures_gan.samples_by_epoch(rows[:3], range(1, 46), tmp_path / "s.png")


def test_the_equilibrium_of_D_is_one_half_for_the_games_that_have_one():
    assert [figures_gan.equilibrium(loss) for loss in ("minimax", "ns", "lsgan", "wgan", "wgan-gp")] == \
        [0.5, 0.5, 0.5, None, None]


def test_the_curves_refuse_what_they_cannot_draw(tmp_path):
    with pytest.raises(DataError, match="history is empty"):
        figures_gan.loss_curves([], tmp_path / "l.png")
    with pytest.raises(DataError, match="train_wasserstein"):
        figures_gan.discriminator_curves([{"epoch": 1, "train_d_real": 0.5, "train_d_fake": 0.5}], tmp_path / "d.png",
                                         wasserstein=True)
    history = [{"epoch": 1, "train_d_loss": 1.0, "train_g_loss": 2.0}]
    with pytest.raises(ShapeError, match="one per step"):
        figures_gan.loss_curves(history, tmp_path / "l.png", {"steps_per_epoch": 4, "step": [2, 4], "d_loss": [1.0]})


def test_the_step_log_means_each_metric_over_its_windows_and_generator_steps():
    log = StepLog(["d_loss", "g_loss"], every=2, steps_per_epoch=5)
    for step, out in enumerate(({"d_loss": 1.0}, {"d_loss": 3.0, "g_loss": 4.0}, {"d_loss": 5.0}, {"d_loss": 7.0},
                                {"d_loss": 0.5}), 1):
        log.on_step(step, out)
    log.flush()                                                       # the epoch's end closes the short window
    assert log.record() == {"log_every": 2, "steps_per_epoch": 5, "step": [2, 4, 5], "d_loss": [2.0, 6.0, 0.5],
                            "g_loss": [4.0, None, None]}
    again = StepLog(["d_loss", "g_loss"], 2, 5, step=4, columns=log.record())   # resumed after step 4
    assert again.columns == {"step": [2, 4], "d_loss": [2.0, 6.0], "g_loss": [4.0, None]}
