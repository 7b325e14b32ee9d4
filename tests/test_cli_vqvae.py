"""`python -m minivae vqvae`: a VQ-VAE run writes its checkpoint, metrics and figures; it resumes exactly."""
import json

import pytest

from minivae import VQVAE
from minivae.models.checkpoint import checkpoint_kind
from minivae.cli import main
from tests.conftest import assert_same_run

TINY = ["vqvae", "--train-size", "512", "--test-size", "200", "--epochs", "1",
        "--hidden-dims", "64", "--latent-dim", "4", "--code-dim", "3", "--codebook-size", "16", "--quiet"]


def test_a_vqvae_run_writes_its_files_and_code_statistics(tmp_path, capsys):
    out = tmp_path / "vq"
    assert main([*TINY, "--commitment", "0.5", "--out", str(out)]) == 0
    assert checkpoint_kind(out / "model.npz") == "vqvae"
    model = VQVAE.load(out / "model.npz")
    assert (model.config.codebook_size, model.config.code_dim, model.config.commitment) == (16, 3, 0.5)
    assert int(model.prior_counts.sum()) == 512 * 4                     # the fitted prior is in the checkpoint
    final = json.loads((out / "metrics.json").read_text())["final"]
    assert 1.0 <= final["perplexity"] <= 16 and 0 <= final["dead_fraction"] <= 1
    assert final["test_recon"] > 0 and final["test_squared_error"] > 0
    for name in ("reconstructions.png", "samples.png", "codebook_usage.png"):
        assert (out / name).stat().st_size > 0
    assert "perplexity" in capsys.readouterr().out


@pytest.mark.parametrize("flags, match", [(["--codebook-size", "1"], "--codebook-size must be an integer >= 2"),
                                          (["--commitment", "-1"], "--commitment"),
                                          (["--code-dim", "0"], "--code-dim")])
def test_bad_vqvae_options_are_clear_errors(tmp_path, capsys, flags, match):
    assert main([*TINY, *flags, "--out", str(tmp_path / "bad")]) == 2
    assert match in capsys.readouterr().err


# --------------------------------------------------------------------------- resume
SMALL = ["vqvae", "--train-size", "256", "--test-size", "50", "--hidden-dims", "16", "--latent-dim", "2",
         "--code-dim", "2", "--codebook-size", "8", "--batch-size", "64", "--quiet", "--no-figures"]


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    """Two epochs of a small VQ-VAE (4 steps each), never stopped."""
    out = tmp_path_factory.mktemp("vq-straight")
    assert main([*SMALL, "--epochs", "2", "--out", str(out)]) == 0
    return out


def test_a_vqvae_stopped_by_sigint_inside_an_epoch_resumes_bit_identically(straight, tmp_path, monkeypatch, capsys):
    """SIGINT during step 3 of 8: the loop saves the run between two steps (the one before kept as model.prev.npz);
    `vqvae --resume` then ends with the weights, code counts and history of the run that was never stopped."""
    import os
    import signal

    train_step = VQVAE.train_step

    def interrupted(model, batch, optimizers):
        out = train_step(model, batch, optimizers)
        if model.steps == 3:
            os.kill(os.getpid(), signal.SIGINT)
        return out

    monkeypatch.setattr(VQVAE, "train_step", interrupted)
    assert main([*SMALL, "--epochs", "2", "--checkpoint-every", "1", "--out", str(tmp_path)]) == 128 + signal.SIGINT
    assert f"python -m minivae vqvae --resume {tmp_path}" in capsys.readouterr().err
    assert (tmp_path / "model.prev.npz").is_file()
    monkeypatch.undo()
    assert main(["vqvae", "--resume", str(tmp_path / "model.npz"), "--quiet", "--no-figures"]) == 0   # the file works
    assert_same_run(straight, tmp_path)


def test_a_finished_vqvae_run_extends_with_more_epochs(straight, tmp_path, capsys):
    import shutil
    run = tmp_path / "run"
    shutil.copytree(straight, run)
    assert main(["vqvae", "--resume", str(run), "--epochs", "3", "--quiet", "--no-figures"]) == 0
    assert len(json.loads((run / "metrics.json").read_text())["history"]) == 3
    assert main(["vqvae", "--resume", str(run), "--codebook-size", "9"]) == 2
    assert "--codebook-size 9 (the run has 8)" in capsys.readouterr().err
