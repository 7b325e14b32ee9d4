"""Tests for minivae.figures.vae: each function writes a non-empty PNG from small inputs."""

from pathlib import Path

import numpy as np
import pytest

from minivae.figures import vae as figures
from minivae.errors import ConfigError, DataError, ShapeError

PNG = b"\x89PNG\r\n\x1a\n"


def _png(path):
    p = Path(path)
    assert p.is_file() and p.stat().st_size > 1000
    assert p.read_bytes()[:8] == PNG
    return p


@pytest.fixture
def imgs():
    return np.random.default_rng(0).random((12, 784)).astype(np.float32)


def test_image_grid(tmp_path, imgs):
    out = figures.image_grid(imgs, tmp_path / "sub" / "grid.png", nrow=5, title="random")
    assert out == tmp_path / "sub" / "grid.png"
    _png(out)
    _png(figures.image_grid((imgs * 255).astype(np.uint8).reshape(12, 28, 28), str(tmp_path / "u8.png"), nrow=4))


def test_samples_and_reconstructions(tmp_path, imgs):
    _png(figures.samples(imgs, tmp_path / "samples.png", nrow=6))
    _png(figures.reconstructions(imgs, 1 - imgs, tmp_path / "rec.png", n=20))  # n clipped to 12


def test_class_rows(tmp_path, imgs):
    _png(figures.class_rows(imgs, tmp_path / "rows.png", n_per_class=4, class_names=["a", "b", "c"]))
    with pytest.raises(ShapeError, match="12 images, expected a multiple of n_per_class=5"):
        figures.class_rows(imgs, tmp_path / "bad.png", n_per_class=5)


def test_loss_curves(tmp_path):
    hist = [{"epoch": e, "train_loss": 150.0 / (e + 1) + 90, "test_loss": 140.0 / (e + 1) + 95} for e in range(1, 6)]
    _png(figures.loss_curves(hist, tmp_path / "loss.png"))
    _png(figures.loss_curves([{"epoch": 1, "train_loss": 3.0, "test_loss": None}], tmp_path / "one.png"))
    with pytest.raises(DataError, match=r"history\[0\] lacks \['train_loss'\]"):
        figures.loss_curves([{"epoch": 1}], tmp_path / "bad.png")
    with pytest.raises(DataError, match="history is empty"):
        figures.loss_curves([], tmp_path / "bad.png")


def test_latent_scatter(tmp_path):
    rng = np.random.default_rng(0)
    _png(figures.latent_scatter(rng.normal(size=(200, 2)), rng.integers(0, 10, 200), tmp_path / "z.png"))
    with pytest.raises(ShapeError, match=r"z of shape \(200, 3\)"):
        figures.latent_scatter(rng.normal(size=(200, 3)), rng.integers(0, 10, 200), tmp_path / "bad.png")


def test_manifold_grid_uses_prior_quantiles(tmp_path):
    seen = {}

    def decode(z):
        seen["z"] = z
        return np.tile(np.linspace(0, 1, 784, dtype=np.float32), (len(z), 1))

    _png(figures.manifold_grid(decode, tmp_path / "manifold.png", n=5))
    z = seen["z"]
    assert z.shape == (25, 2) and z.dtype == np.float32
    q = 1.6448536  # inv_cdf(0.95)
    np.testing.assert_allclose(z[0], [-q, q], rtol=1e-6)  # top-left: smallest z[0], largest z[1]
    np.testing.assert_allclose(z[-1], [q, -q], rtol=1e-6)
    np.testing.assert_allclose(z[12], [0, 0], atol=1e-7)
    with pytest.raises(ShapeError, match="decode_fn returned 4 images, expected 25"):
        figures.manifold_grid(lambda z: np.zeros((4, 784)), tmp_path / "bad.png", n=5)


def test_kl_per_dim_bar(tmp_path):
    kl = np.array([1.2, 0.004, 0.8, 0.0])
    _png(figures.kl_per_dim_bar(kl, kl > 0.01, tmp_path / "kl.png"))
    _png(figures.kl_per_dim_bar(kl, None, tmp_path / "kl_all.png"))
    with pytest.raises(ShapeError, match=r"active_mask of shape \(3,\), expected \(4,\)"):
        figures.kl_per_dim_bar(kl, np.ones(3, bool), tmp_path / "bad.png")


def test_bad_image_shapes(tmp_path):
    with pytest.raises(ShapeError, match=r"got shape \(3, 783\), expected \(N, s\*s\)"):
        figures.image_grid(np.zeros((3, 783)), tmp_path / "bad.png", nrow=3)
    with pytest.raises(ShapeError, match=r"x has shape \(2, 28, 28\) and x_hat \(3, 28, 28\)"):
        figures.reconstructions(np.zeros((2, 784)), np.zeros((3, 784)), tmp_path / "bad.png")
    with pytest.raises(ConfigError, match="nrow=0, expected a positive integer"):
        figures.image_grid(np.zeros((3, 784)), tmp_path / "bad.png", nrow=0)
