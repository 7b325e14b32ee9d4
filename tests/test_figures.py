"""Tests for minivae.figures.vae: each function writes a non-empty PNG from small inputs."""

from pathlib import Path

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg

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
    with pytest.raises(ConfigError, match="nrow must be an integer >= 1, got 0"):
        figures.image_grid(np.zeros((3, 784)), tmp_path / "bad.png", nrow=0)


@pytest.fixture
def drawn(monkeypatch):
    """The Figure objects the next calls draw (each is still saved)."""
    figs = []
    save = figures._save

    def keep(fig, path):
        figs.append(fig)
        return save(fig, path)
    monkeypatch.setattr(figures, "_save", keep)
    return figs


def test_the_kl_legend_shows_inactive_units_in_grey_even_when_there_are_none(tmp_path, drawn):
    from matplotlib.colors import to_rgba
    for active in (np.ones(20, bool), np.arange(20) % 3 > 0):
        figures.kl_per_dim_bar(np.linspace(0.5, 3, 20), active, tmp_path / "kl.png")
        legend = drawn[-1].axes[0].get_legend()
        colours = {t.get_text().split(" ")[0]: to_rgba(h.get_facecolor()) for t, h in
                   zip(legend.get_texts(), legend.legend_handles)}
        assert colours["active"] == to_rgba("tab:blue") and colours["inactive"] == to_rgba("lightgrey")


def _boxes(fig, artists):
    renderer = fig.canvas.get_renderer()                 # of the Agg canvas the test drew on
    return [a.get_window_extent(renderer) for a in artists if a.get_text()]


@pytest.mark.parametrize("dims", [10, 20, 64])
def test_latent_diagnostics_title_fits_and_its_tick_labels_do_not_overlap(tmp_path, drawn, dims):
    rng = np.random.default_rng(0)
    figures.latent_diagnostics(rng.uniform(0.1, 3, dims), rng.uniform(1e-4, 2, dims), tmp_path / "diag.png")
    fig = drawn[-1]
    FigureCanvasAgg(fig).draw()
    page = fig.bbox
    (title,) = _boxes(fig, [fig.axes[0].title])
    assert page.x0 <= title.x0 and title.x1 <= page.x1 and title.y1 <= page.y1          # not cut off
    labels = sorted(_boxes(fig, fig.axes[1].get_xticklabels()), key=lambda b: b.x0)
    assert len(labels) >= min(dims, 20)
    assert all(a.x1 <= b.x0 for a, b in zip(labels, labels[1:]))                         # none run together


def test_grids_of_model_samples_have_titles_that_say_what_they_show(tmp_path, drawn, imgs):
    figures.samples(imgs, tmp_path / "s.png")
    assert "means" in drawn[-1].axes[0].get_title()                      # model.sample gives E[x | z]
    figures.class_rows(np.tile(imgs, (5, 1))[:60], tmp_path / "c.png", 6)
    assert drawn[-1].axes[0].get_title()                                 # a CVAE's rows: never untitled
    figures.samples_per_class(np.tile(imgs, (5, 1))[:60], tmp_path / "spc.png", 6)
    assert "class" in drawn[-1].axes[0].get_title() and "means" in drawn[-1].axes[0].get_title()


def test_interpolations_draw_one_named_row_per_model_and_refuse_rows_that_do_not_match(tmp_path):
    from minivae.figures.interpolation import interpolations
    rows = [np.linspace(0, 1, 5 * 784).reshape(5, 784), np.zeros((5, 784))]
    assert interpolations(rows, ["AE 0-1", "VAE 0-1"], tmp_path / "i.png").stat().st_size > 0
    with pytest.raises(ShapeError, match="one label per row"):
        interpolations(rows, ["AE 0-1"], tmp_path / "j.png")
    with pytest.raises(ShapeError, match="rows of equal shapes"):
        interpolations([rows[0], rows[1][:4]], ["a", "b"], tmp_path / "k.png")
    assert not (tmp_path / "j.png").exists() and not (tmp_path / "k.png").exists()
