"""``python -m minivae compare``: one table and one figure for a VAE, a GAN and a VAE-GAN; its helpers and errors."""
import json

import numpy as np
import pytest

import minivae
from minivae import cli
from minivae.cli.compare import run_names, table, train_time
from minivae.cli.sampling import reconstruction_images, sample_images
from minivae.models.vaegan import VAEGAN

TINY = ["--train-size", "512", "--test-size", "200", "--epochs", "1", "--quiet", "--no-figures"]
SMALL = ["--samples", "200", "--k", "4", "--nll-n", "30", "--quiet"]
PNG = b"\x89PNG\r\n\x1a\n"


def main(argv):
    """``python -m minivae compare ARGV``'s exit status."""
    return cli.main(["compare", *argv])


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Three tiny runs, one of each kind, each with its metrics.json."""
    root = tmp_path_factory.mktemp("runs")
    assert cli.main(["train", *TINY, "--hidden-dims", "32", "--latent-dim", "4", "--out", str(root / "vae")]) == 0
    assert cli.main(["gan", *TINY, "--noise-dim", "8", "--generator-dims", "32", "--discriminator-dims", "32",
                         "--samples", "200", "--out", str(root / "gan")]) == 0
    assert cli.main(["vaegan", *TINY, "--hidden-dims", "32", "--latent-dim", "4", "--discriminator-dims", "32", "16",
                            "--samples", "200", "--out", str(root / "vaegan")]) == 0
    return {k: root / k / "model.npz" for k in ("vae", "gan", "vaegan")}


@pytest.fixture(scope="module")
def compared(runs, tmp_path_factory):
    out = tmp_path_factory.mktemp("compare")
    assert main([str(runs[k]) for k in ("vae", "gan", "vaegan")] + [*SMALL, "--out", str(out),
                                                                    "--json", str(out / "table.json")]) == 0
    return out, json.loads((out / "table.json").read_text())


def test_one_row_per_checkpoint_with_every_figure_that_applies(compared, runs):
    _, record = compared
    rows = {r["kind"]: r for r in record["rows"]}
    assert [r["kind"] for r in record["rows"]] == ["vae", "gan", "vaegan"]
    assert record["samples"] == 200 and record["k"] == 4 and record["nll_n"] == 30
    for kind, r in rows.items():
        assert r["sample_fid"] > 0 and 0 <= r["sample_class_entropy"] <= np.log(10) + 1e-9, kind
        assert 1 - 1e-9 <= r["sample_inception_score"] <= 10, kind
        assert isinstance(r["train_time_s"], float) and r["train_time_s"] > 0, kind
        assert r["params"] > 0, kind
    for kind in ("vae", "vaegan"):                         # an encoder: reconstructions and likelihoods
        r = rows[kind]
        assert r["recon_fid"] > 0 and r["test_elbo"] == pytest.approx(r["test_recon"] + r["test_kl"])
        assert r["k"] == 4 and r["nll_n"] == 30 and np.isfinite(r["test_nll"])
    assert not {"recon_fid", "test_elbo", "test_nll"} & set(rows["gan"])
    vaegan = VAEGAN.load(runs["vaegan"])
    assert rows["vaegan"]["params"] == sum(v.size for v in vaegan.params.values())   # its discriminator counted


def test_the_table_is_printed_and_the_figure_written(compared, runs, capsys):
    out, record = compared
    assert (out / "compare.png").read_bytes()[:8] == PNG
    assert json.loads((out / "compare.json").read_text())["rows"] == record["rows"]
    lines = record["table"].splitlines()
    assert lines[0].split()[:4] == ["model", "kind", "params", "FID(s)"]
    gan_line = next(line for line in lines if line.split()[1] == "gan")
    assert gan_line.split().count("n/a") == 6                # FID(r), H(r), IS(r), recon, -ELBO, NLL


def test_the_elbo_matches_what_the_training_run_reported(compared, runs):
    _, record = compared
    row = next(r for r in record["rows"] if r["kind"] == "vaegan")
    m = json.loads((runs["vaegan"].parent / "metrics.json").read_text())
    assert m["config"]["test_size"] == 200                   # the run scored 200 test images, compare all 10000
    assert abs(row["test_elbo"] - m["final"]["test_elbo"]) < 0.1 * m["final"]["test_elbo"]


def test_samples_are_reproducible_from_the_seed_for_every_kind(runs):
    for kind, path in runs.items():
        model = minivae.load(path)
        a, b = sample_images(model, 30, seed=5, batch=7), sample_images(model, 30, seed=5)
        # batches do not change the draws' order; float32 products of 7 and of 30 rows may round differently
        # (BLAS kernels by row count), so the images agree to float32 rounding, not bit for bit
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-5, err_msg=kind)
        np.testing.assert_array_equal(a, sample_images(model, 30, seed=5, batch=7), err_msg=kind)   # repeated
        assert a.shape == (30, 784) and a.min() >= 0 and a.max() <= 1
        assert not np.array_equal(a, sample_images(model, 30, seed=6)), kind


def test_reconstructions_come_in_batches_and_match_one_pass(runs):
    model = VAEGAN.load(runs["vaegan"])
    x = np.random.default_rng(0).random((25, 784), dtype=np.float32)
    np.testing.assert_allclose(reconstruction_images(model, x, batch=10), model.reconstruct(x), atol=1e-6)


def test_train_time_is_na_without_a_metrics_file(tmp_path, runs):
    assert train_time(str(tmp_path / "model.npz")) == "n/a"
    (tmp_path / "metrics.json").write_text("{not json")
    assert train_time(str(tmp_path / "model.npz")) == "n/a"
    assert train_time(str(runs["vae"])) > 0                   # train writes it at the top level
    assert train_time(str(runs["gan"])) > 0                   # gan and vaegan under "final"


def test_rows_are_named_by_their_run_folder_given_as_a_folder_or_a_checkpoint(tmp_path):
    for name in ("a/vae", "b/vae", "gan"):
        (tmp_path / name).mkdir(parents=True)
    assert run_names([tmp_path / "gan", tmp_path / "a" / "vae" / "model.npz"]) == ["gan", "vae"]
    assert run_names([tmp_path / "a" / "vae", tmp_path / "b" / "vae"]) == ["a/vae", "b/vae"]   # same name: one more level


def test_missing_figures_print_as_na():
    text = table([{"checkpoint": "a/model.npz", "kind": "gan", "params": 3, "sample_fid": 1.5,
                   "train_time_s": "n/a"}])
    assert text.splitlines()[1].split() == ["a", "gan", "3", "1.50"] + ["n/a"] * 9


@pytest.mark.parametrize("argv, expected", [
    (["{missing}"], "no such checkpoint"),
    (["{not_npz}"], "not_npz"),
    (["{vae}", "--samples", "1"], "--samples must be an integer >= 2"),
    (["{vae}", "--k", "-1"], "--k must be an integer >= 0"),
    (["{vae}", "--nll-n", "0"], "--nll-n must be an integer >= 1"),
])
def test_bad_input_exits_2_with_a_clear_message(argv, expected, runs, tmp_path, capsys):
    (tmp_path / "not_npz").write_text("hello")
    paths = {"{missing}": tmp_path / "none.npz", "{not_npz}": tmp_path / "not_npz", "{vae}": runs["vae"]}
    assert main([str(paths.get(t, t)) for t in argv] + ["--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and expected in err, err
