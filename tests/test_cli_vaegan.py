"""`python -m minivae vaegan` and `train --feature-loss`: files, metrics.json, fixed-z grids, VAE_Dis_l, errors."""
import json

import numpy as np
import pytest

from minivae import cli
from minivae.models.checkpoint import checkpoint_kind, load_checkpoint
from minivae.cli.grid import GRID, fixed_noise
from minivae.models.gan import GAN
from minivae.models.vae import VAE
from minivae.models.vaegan import VAEGAN

ARCH = ["--hidden-dims", "32", "--latent-dim", "4", "--discriminator-dims", "32", "16"]
TINY = ["--train-size", "512", "--test-size", "200", "--samples", "200", "--quiet"]
PNG = b"\x89PNG\r\n\x1a\n"


def main(argv):
    """``python -m minivae vaegan ARGV``'s exit status."""
    return cli.main(["vaegan", *argv])


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """One epoch of a tiny VAE-GAN, figures included."""
    out = tmp_path_factory.mktemp("vaegan")
    assert main([*TINY, *ARCH, "--epochs", "1", "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def gan_path(tmp_path_factory):
    """A tiny GAN checkpoint (untrained: VAE_Dis_l only needs its discriminator)."""
    path = tmp_path_factory.mktemp("gan") / "model.npz"
    GAN(noise_dim=8, generator_dims=(16,), discriminator_dims=(32, 16), seed=3).save(path)
    return path


def test_a_run_writes_its_checkpoint_metrics_and_figures(run):
    m = json.loads((run / "metrics.json").read_text())
    for key, value in {"hidden_dims": [32], "latent_dim": 4, "discriminator_dims": [32, 16], "feature_layer": 1,
                       "gamma": 1.0, "adversarial": True, "batch_size": 64, "lr": 1e-3, "epochs": 1,
                       "train_size": 512, "test_size": 200, "feature_loss": None, "dataset": "mnist"}.items():
        assert m["config"][key] == value, key
    assert [h["epoch"] for h in m["history"]] == [1]
    assert set(m["history"][0]) >= {"train_loss", "train_decoder", "train_discriminator", "train_llike",
                                    "train_d_real", "test_loss", "test_recon", "test_kl"}
    final = m["final"]
    assert set(final) >= {"test_elbo", "test_recon", "test_kl", "samples", "reconstructions", "epochs",
                          "train_seconds"}
    assert final["test_elbo"] == pytest.approx(final["test_recon"] + final["test_kl"])
    for name in ("samples", "reconstructions"):
        q = final[name]
        assert q["n"] == 200 and q["fid"] > 0 and 0 <= q["class_entropy"] <= np.log(10) + 1e-9, name
        assert 1 - 1e-9 <= q["inception_score"] <= 10, name
    assert final["train_seconds"] > 0 and final["epochs"] == 1
    assert set(m["figures"]) == {"reconstructions.png", "samples.png", "losses.png", "samples_by_epoch.png",
                                 "samples_epoch_001.png"}
    for name in m["figures"]:
        assert (run / name).read_bytes()[:8] == PNG, name
    assert checkpoint_kind(run / "model.npz") == "vaegan"
    assert VAEGAN.load(run / "model.npz").config.hidden_dims == (32,)


def test_the_epoch_grid_is_the_decoder_on_one_fixed_z_from_its_own_generator(run):
    model = VAEGAN.load(run / "model.npz")                  # the weights after epoch 1, the last one
    z = fixed_noise(0, GRID, 4, "normal")
    saved = np.load(run / "samples_by_epoch.npz")
    assert list(saved["epochs"]) == [1]
    np.testing.assert_allclose(saved["images"][0], model.decode(z)[:10], atol=1e-6)
    assert not np.allclose(fixed_noise(1, GRID, 4, "normal"), z)   # the seed picks the z


def test_drawing_the_grids_leaves_the_training_stream_alone(run, tmp_path):
    assert main([*TINY, *ARCH, "--epochs", "1", "--out", str(tmp_path), "--no-figures"]) == 0
    with_grids, without = load_checkpoint(run / "model.npz")[1], load_checkpoint(tmp_path / "model.npz")[1]
    for k in with_grids:
        np.testing.assert_array_equal(with_grids[k], without[k], err_msg=k)
    assert "figures" not in json.loads((tmp_path / "metrics.json").read_text())


def test_train_feature_loss_trains_vae_dis_l_on_the_gans_frozen_discriminator(gan_path, tmp_path, capsys):
    argv = ["train", "--feature-loss", str(gan_path), "--feature-layer", "1", *TINY, "--hidden-dims", "32",
            "--latent-dim", "4", "--epochs", "1", "--no-figures", "--out", str(tmp_path)]
    assert cli.main(argv) == 0
    assert "note: `train --feature-loss ...` is now spelled `python -m minivae vaegan --feature-loss" in capsys.readouterr().err
    m = json.loads((tmp_path / "metrics.json").read_text())
    assert m["config"]["adversarial"] is False and m["config"]["feature_layer"] == 1
    assert m["config"]["feature_loss"] == str(gan_path) and m["config"]["discriminator_dims"] == [32, 16]
    model, gan = VAEGAN.load(tmp_path / "model.npz"), GAN.load(gan_path)
    for k, v in gan.part_params["discriminator"].items():
        np.testing.assert_array_equal(model.params[k], v, err_msg=k)      # frozen: the GAN's weights
    start = VAEGAN.from_gan(gan, feature_layer=1, hidden_dims=(32,), latent_dim=4)
    assert not np.allclose(model.params["decoder.0.W"], start.params["decoder.0.W"])   # the VAE did learn


def test_train_feature_layer_without_feature_loss_is_an_error(capsys):
    assert cli.main(["train", "--feature-layer", "1", "--epochs", "1"]) == 2
    assert "--feature-layer L needs --feature-loss" in capsys.readouterr().err


def test_train_help_documents_the_feature_loss_route(capsys):
    assert cli.main(["train", "--help"]) == 0
    out = capsys.readouterr().out
    assert "--feature-loss GAN_CHECKPOINT" in out and "python -m minivae vaegan" in out


def vae_path(tmp_path):
    path = tmp_path / "vae.npz"
    VAE(784, (16,), 4).save(path)
    return path


def small_gan(tmp_path, data_dim):
    path = tmp_path / f"gan_{data_dim}.npz"
    GAN(data_dim=data_dim, noise_dim=4, generator_dims=(8,), discriminator_dims=(8,)).save(path)
    return path


@pytest.mark.parametrize("argv, expected", [
    (["--feature-layer", "3"], "error: --feature-layer must be an integer in 1..2"),
    (["--feature-layer", "0"], "error: --feature-layer must be an integer in 1..2"),
    (["--gamma", "-0.5"], "--gamma: gamma (the weight of L_llike in the decoder's loss)"),
    (["--samples", "1"], "--samples must be an integer >= 2"),
    (["--test-size", "1"], "--test-size must be an integer >= 2"),
    (["--feature-loss", "{gan}", "--feature-layer", "2"], "--feature-layer must be an integer in 1..1"),
    (["--feature-loss", "{gan}", "--discriminator-dims", "64"], "the discriminator comes from the GAN; leave out "
                                                                 "--discriminator-dims"),
    (["--feature-loss", "{gan64}"], "the GAN's discriminator reads 64 pixels, the data has 784"),
    (["--feature-loss", "{vae}"], "a VAE checkpoint"),
    (["--feature-loss", "{missing}"], "no checkpoint file"),
])
def test_bad_options_exit_2_with_a_clear_message(argv, expected, tmp_path, capsys):
    paths = {"{gan}": small_gan(tmp_path, 784), "{gan64}": small_gan(tmp_path, 64), "{vae}": vae_path(tmp_path),
             "{missing}": tmp_path / "none.npz"}
    argv = [str(paths.get(t, t)) for t in argv]
    own_d = [] if "--feature-loss" in argv else ["--discriminator-dims", "16", "8"]
    assert main([*TINY, "--hidden-dims", "8", "--latent-dim", "2", *own_d, *argv, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and expected in err, err
    assert not (tmp_path / "out" / "model.npz").exists()


def _weights(path):
    return {k: v for k, v in np.load(path).items() if not k.startswith("__")}


def test_a_stopped_vaegan_run_resumes_exactly(tmp_path, monkeypatch, capsys):
    """SIGINT inside epoch 2 of 2; resumed, the run ends with the weights and history of one never stopped."""
    import os
    import signal
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    assert main([*TINY, *ARCH, "--epochs", "2", "--no-figures", "--out", str(whole)]) == 0
    train_step = VAEGAN.train_step

    def interrupted(model, batch, optimizers):
        out = train_step(model, batch, optimizers)
        if optimizers["encoder"].t == 11:
            os.kill(os.getpid(), signal.SIGINT)
        return out

    monkeypatch.setattr(VAEGAN, "train_step", interrupted)
    assert main([*TINY, *ARCH, "--epochs", "2", "--no-figures", "--out", str(cut)]) == 128 + signal.SIGINT
    assert f"python -m minivae vaegan --resume {cut}" in capsys.readouterr().err
    monkeypatch.undo()
    assert main(["--resume", str(cut), "--quiet", "--no-figures", "--samples", "200"]) == 0
    a, b = _weights(whole / "model.npz"), _weights(cut / "model.npz")
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    untimed = lambda h: [{k: v for k, v in e.items() if "time" not in k} for e in h]  # noqa: E731
    m, r = (json.loads((d / "metrics.json").read_text()) for d in (whole, cut))
    assert untimed(m["history"]) == untimed(r["history"])
    assert main(["--resume", str(cut), "--gamma", "3", "--quiet"]) == 2
    assert "--gamma 3.0 (the run has 1.0)" in capsys.readouterr().err


def test_a_resumed_run_keeps_the_rows_of_the_epochs_before_it(tmp_path):
    """samples_by_epoch.npz after a resume: epoch 1's row (from the first session) and epoch 2's, in order."""
    assert main([*TINY, *ARCH, "--epochs", "1", "--out", str(tmp_path)]) == 0
    first = np.load(tmp_path / "samples_by_epoch.npz")["images"][0]
    assert main(["--resume", str(tmp_path), "--epochs", "2", "--samples", "200", "--quiet"]) == 0
    saved = np.load(tmp_path / "samples_by_epoch.npz")
    assert list(saved["epochs"]) == [1, 2]
    np.testing.assert_array_equal(saved["images"][0], first)
    assert {"samples_epoch_001.png", "samples_epoch_002.png"} <= set(json.loads((tmp_path / "metrics.json")
                                                                                .read_text())["figures"])
