"""Saving and loading: round trip, atomic writes, and clear errors for bad files."""
import json
import os
from pathlib import Path

import numpy as np
import pytest

from minivae import VAE
from minivae.models.checkpoint import load_checkpoint, save_checkpoint
from minivae.errors import CheckpointError


def test_round_trip_keeps_architecture_and_weights(tmp_path):
    vae = VAE(input_dim=12, hidden_dims=(7, 5), latent_dim=3, likelihood="gaussian", learn_variance=True,
              activation="tanh", beta=0.5, seed=9)
    vae.params["mu.W"] += 0.25
    path = vae.save(tmp_path / "m.npz", extra={"dataset": "mnist"})
    back = VAE.load(path)
    assert back.config == vae.config
    for k in vae.params:
        np.testing.assert_array_equal(back.params[k], vae.params[k])
    x = np.random.default_rng(0).random((4, 12))
    np.testing.assert_array_equal(back.reconstruct(x), vae.reconstruct(x))
    assert load_checkpoint(path)[2] == {"dataset": "mnist"}


def test_checkpoint_is_a_plain_npz_without_pickles(tmp_path):
    path = VAE(input_dim=4, hidden_dims=(3,), latent_dim=2).save(tmp_path / "m.npz")
    with np.load(path, allow_pickle=False) as f:
        assert "__meta__" in f.files and "encoder.0.W" in f.files


def test_save_is_atomic_and_leaves_no_temporary_files(tmp_path, monkeypatch):
    vae = VAE(input_dim=4, hidden_dims=(3,), latent_dim=2)
    path = tmp_path / "m.npz"
    assert vae.save(path) == str(path)
    before = path.read_bytes()

    def crash(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", crash)
    with pytest.raises(KeyboardInterrupt):
        VAE(input_dim=4, hidden_dims=(3,), latent_dim=2, seed=1).save(path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["m.npz"]


def test_corrupted_and_missing_files(tmp_path):
    path = VAE(input_dim=4, hidden_dims=(3,), latent_dim=2).save(tmp_path / "m.npz")
    data = open(path, "rb").read()
    (tmp_path / "trunc.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="not a readable minivae checkpoint"):
        VAE.load(tmp_path / "trunc.npz")
    (tmp_path / "junk.npz").write_bytes(b"hello")
    with pytest.raises(CheckpointError, match="not a minivae checkpoint") as caught:
        VAE.load(tmp_path / "junk.npz")
    assert "allow_pickle" not in str(caught.value)                  # NumPy's advice to load it unsafely is not ours
    (tmp_path / "metrics.json").write_text('{"history": []}')
    with pytest.raises(CheckpointError, match="not a minivae checkpoint .the model.npz"):
        VAE.load(tmp_path / "metrics.json")
    with pytest.raises(CheckpointError, match="no checkpoint file"):
        VAE.load(tmp_path / "absent.npz")
    np.savez(tmp_path / "plain.npz", a=np.zeros(3))
    with pytest.raises(CheckpointError, match="__meta__"):
        VAE.load(tmp_path / "plain.npz")


def test_weights_of_another_architecture_are_rejected(tmp_path):
    path = VAE(input_dim=4, hidden_dims=(3,), latent_dim=2).save(tmp_path / "m.npz")
    other = VAE(input_dim=4, hidden_dims=(5,), latent_dim=2)
    _, arrays, _ = load_checkpoint(path)
    with pytest.raises(CheckpointError, match="encoder.0.W has shape"):
        other.load_state(arrays, source=str(path))
    with pytest.raises(CheckpointError, match="another architecture"):
        VAE(input_dim=4, hidden_dims=(3, 3), latent_dim=2).load_state(arrays)
    with pytest.raises(CheckpointError, match="hidden_dims"):
        VAE.load(path, hidden_dims=(5,))


def test_tampered_weights_are_rejected(tmp_path):
    vae = VAE(input_dim=4, hidden_dims=(3,), latent_dim=2)
    arrays = vae.state_arrays()
    arrays["mu.W"] = arrays["mu.W"][:, :1]
    save_checkpoint(tmp_path / "bad.npz", {**vae.config.to_dict(), "seed": 0}, arrays)
    with pytest.raises(CheckpointError, match="mu.W has shape"):
        VAE.load(tmp_path / "bad.npz")
    arrays = {k: v.copy() for k, v in vae.state_arrays().items()}
    arrays["mu.b"][0] = np.nan
    with pytest.raises(CheckpointError, match="mu.b has 1 non-finite"):      # minivae never writes it ...
        save_checkpoint(tmp_path / "nan.npz", {**vae.config.to_dict(), "seed": 0}, arrays)
    good = tmp_path / "good.npz"
    save_checkpoint(good, {**vae.config.to_dict(), "seed": 0}, vae.state_arrays())
    with np.load(good) as f:                                                 # ... but a file edited elsewhere
        tampered = {k: f[k] for k in f.files}
    tampered["mu.b"] = arrays["mu.b"]
    np.savez(tmp_path / "nan.npz", **tampered)
    with pytest.raises(CheckpointError, match="non-finite"):
        VAE.load(tmp_path / "nan.npz")


@pytest.mark.parametrize("name", ["bernoulli", "cvae_gaussian_learned"])
def test_checkpoints_written_before_the_one_step_design_still_load_and_agree(name):
    """Files written by the previous design (commit f24dcae, its hand-fused default path) load,
    and give that code's loss and gradients on the same data and eps (float64)."""
    path = Path(__file__).parent / "data" / f"checkpoint_{name}_f24dcae.npz"
    vae = VAE.load(path)
    extra = load_checkpoint(path)[2]
    x = np.random.default_rng(1).random((8, 6))
    y = np.arange(8) % 3 if vae.config.conditional else None
    eps = np.random.default_rng(2).standard_normal((8, vae.config.latent_dim))
    assert float(vae.loss(x, y=y, eps=eps)["loss"]) == pytest.approx(extra["loss"], rel=1e-12)
    assert float(vae.backward()["encoder.0.W"].sum()) == pytest.approx(extra["grad_encoder_0_W_sum"], rel=1e-10)


FIXTURES = Path(__file__).parent / "data"
RECORDED = json.loads((FIXTURES / "checkpoints_da6974c.json").read_text())


def test_a_vae_with_design_points_written_before_the_package_layout_loads_and_agrees():
    """A full-covariance, MoG-prior VAE saved by commit da6974c (the flat layout) gives its loss and gradient."""
    vae = VAE.load(FIXTURES / "checkpoint_vae_full_mog_da6974c.npz")
    x = np.random.default_rng(1).random((8, 6))
    eps = np.random.default_rng(2).standard_normal((8, 3))
    assert float(vae.loss(x, eps=eps)["loss"]) == pytest.approx(RECORDED["vae_full_mog"]["loss"], rel=1e-12)
    assert float(vae.backward()["encoder.0.W"].sum()) == pytest.approx(RECORDED["vae_full_mog"]["grad_sum"], rel=1e-10)


def test_gan_vaegan_and_vqvae_checkpoints_written_before_the_package_layout_load_and_agree():
    from minivae import GAN, VAEGAN, VQVAE
    x = np.random.default_rng(1).random((8, 6))
    gan = GAN.load(FIXTURES / "checkpoint_gan_wgan_gp_da6974c.npz")
    z = np.random.default_rng(3).uniform(-1, 1, (8, 3))
    assert float(gan.generate(z).sum()) == pytest.approx(RECORDED["gan_wgan_gp"]["generate_sum"], rel=1e-12)
    assert float(np.asarray(gan.discriminate(x)).sum()) == pytest.approx(RECORDED["gan_wgan_gp"]["discriminate_sum"],
                                                                        rel=1e-12)
    vaegan = VAEGAN.load(FIXTURES / "checkpoint_vaegan_da6974c.npz")
    eps = np.random.default_rng(2).standard_normal((8, 3))
    z_p = np.random.default_rng(4).standard_normal((8, 3))
    got = vaegan.loss(x, eps=eps, z_p=z_p)
    for key, want in RECORDED["vaegan"].items():
        assert float(got[key]) == pytest.approx(want, rel=1e-12), key
    vq = VQVAE.load(FIXTURES / "checkpoint_vqvae_da6974c.npz")
    assert np.asarray(vq.encode(x)).tolist() == RECORDED["vqvae"]["codes"]
    got = vq.loss(x)
    for key in ("loss", "recon", "codebook", "commitment", "perplexity"):
        assert float(got[key]) == pytest.approx(RECORDED["vqvae"][key], rel=1e-12), key
