"""`python -m minivae train --model vqvae`: a VQ-VAE run writes its checkpoint, metrics and figures."""
import json

import pytest

from minivae import VQVAE
from minivae.models.checkpoint import checkpoint_kind
from minivae.cli import main

TINY = ["train", "--model", "vqvae", "--train-size", "512", "--test-size", "200", "--epochs", "1",
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


@pytest.mark.parametrize("flags, match", [(["--codebook-size", "1"], "codebook_size must be an integer >= 2"),
                                          (["--commitment", "-1"], "commitment"),
                                          (["--code-dim", "0"], "code_dim")])
def test_bad_vqvae_options_are_clear_errors(tmp_path, capsys, flags, match):
    assert main([*TINY, *flags, "--out", str(tmp_path / "bad")]) == 2
    assert match in capsys.readouterr().err
