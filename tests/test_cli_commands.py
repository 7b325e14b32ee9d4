"""The one command line: every command's help, flags and errors, old spellings, --out, --resume, Ctrl-C, kinds."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import minivae
from minivae import VAE, VQVAE
from minivae.cli import COMMANDS, build_parser, main
from minivae.cli.parser import flag_names
from minivae.cli.sampling import sample_images
from minivae.datasets import load_data

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
BENCHES = ["bench nll", "bench paired", "bench variants", "bench faults", "bench conv", "bench gpu-check"]
ALL = [*COMMANDS, *BENCHES, "assignments build", "assignments source"]


def parsers():
    """(command line, parser) of every command and subcommand."""
    top = build_parser()
    found = []

    def walk(parser, words):
        found.append((" ".join(words), parser))
        for action in parser._actions:
            for name, sub in (getattr(action, "choices", None) or {}).items() if action.nargs == "A..." else ():
                walk(sub, [*words, name])
    for name, parser in top.commands.items():
        walk(parser, [name])
    return found


@pytest.mark.parametrize("command", ALL)
def test_every_commands_help_exits_0_shows_defaults_and_ends_with_an_example(command, capsys):
    assert main([*command.split(), "--help"]) == 0
    text = capsys.readouterr().out
    assert text.startswith(f"usage: python -m minivae {command}")
    assert "example" in text.split("options:")[-1]
    if command != "assignments":                                      # (its only argument is the action)
        assert "(default: " in text


def test_every_option_of_every_command_has_a_line_of_text():
    for words, parser in parsers():
        for action in parser._actions:
            if action.option_strings and action.help != "==SUPPRESS==":
                assert action.help and action.help.strip(), (words, action.option_strings)


def test_every_option_of_every_command_is_in_the_command_line_reference():
    text = (ROOT / "minivae" / "cli" / "README.md").read_text(encoding="utf-8")
    sections = {}
    for block in text.split("\n#")[1:]:                    # "## `train`", "### `bench nll`", ...
        title, _, body = block.partition("\n")
        if "`" in title:
            sections[title.split("`")[1]] = body
    for words, parser in parsers():
        assert words in sections, f"minivae/cli/README.md has no section for `{words}`"
        for action in parser._actions:
            flags = [s for s in action.option_strings if s.startswith("--") and s != "--help"]
            if flags and action.help != "==SUPPRESS==":
                assert f"`{flags[0]}" in sections[words], f"`{words} {flags[0]}` is missing from its section"


def test_no_parser_matches_prefixes():
    assert all(parser.allow_abbrev is False for _, parser in parsers())


def test_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"minivae {minivae.__version__}"


REQUIRED = {"evaluate": ["x.npz"], "compare": ["x.npz"], "bench gpu-check": ["--out", "d"], "bench paired": ["d"],
            "assignments": ["build", "lessons", "--out", "d"], "book": ["--out", "d"]}


@pytest.mark.parametrize("command", [*COMMANDS, *BENCHES])
def test_a_prefix_of_a_flag_is_refused_with_the_commands_usage(command, capsys):
    typo = ["--epoch=1"] if command in ("bench", "bench paired") else ["--epoch", "1"]   # (1 would be a positional)
    assert main([*command.split(), *REQUIRED.get(command, []), *typo]) == 2
    err = capsys.readouterr().err
    assert f"usage: python -m minivae {command if command != 'assignments' else 'assignments build'} " in err
    assert f"unrecognized arguments: {' '.join(typo)}" in err


def test_a_wrong_flag_suggests_the_nearest(capsys):
    assert main(["train", "--epoch", "1"]) == 2
    assert "(did you mean --epochs?)" in capsys.readouterr().err
    assert main(["train", "--latent-dims", "2"]) == 2
    assert "(did you mean --latent-dim?)" in capsys.readouterr().err
    assert main(["bench", "--epoch", "1"]) == 2          # its value is not taken for a benchmark's name
    assert "unrecognized arguments: --epoch (did you mean --epochs?)" in capsys.readouterr().err
    assert main(["bench", "nl"]) == 2                    # a wrong benchmark is still named as one
    assert "invalid choice: 'nl'" in capsys.readouterr().err


def test_errors_name_flags_not_config_fields(capsys):
    parser = build_parser().commands["train"]
    assert flag_names(parser, "these need a Gaussian: {'iwae_k': 5}") == "these need a Gaussian: --iwae-k 5"
    assert flag_names(parser, "latent='categorical' has no KL") == "--latent categorical has no KL"
    assert flag_names(parser, "beta must be >= 0") == "--beta: beta must be >= 0"
    assert main(["train", "--latent", "categorical", "--iwae-k", "5", "--out", "runs/never-made"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --latent categorical ") and "--iwae-k 5" in err and "iwae_k" not in err


# ------------------------------------------------------------------ old spellings
def test_train_model_vqvae_runs_the_vqvae_command_and_names_it(tmp_path, capsys):
    argv = ["train", "--model", "vqvae", "--train-size", "128", "--test-size", "20", "--epochs", "1", "--hidden-dims",
            "8", "--latent-dim", "2", "--code-dim", "2", "--codebook-size", "4", "--quiet", "--no-figures",
            "--out", str(tmp_path)]
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "note: `train --model vqvae ...` is now spelled `python -m minivae vqvae --train-size 128" in err
    assert len(err.strip().splitlines()) == 1
    assert type(minivae.load(tmp_path)) is VQVAE


# ------------------------------------------------------------------ --out
def _commands_with_out(tmp_path):
    ckpt = str(DATA / "checkpoint_bernoulli_f24dcae.npz")
    return {"train": ["train"], "vqvae": ["vqvae"], "gan": ["gan"], "vaegan": ["vaegan"],
            "compare": ["compare", ckpt], "bench nll": ["bench", "nll"], "bench faults": ["bench", "faults"],
            "bench gpu-check": ["bench", "gpu-check", "--dry-run"]}


@pytest.mark.parametrize("command", ["train", "vqvae", "gan", "vaegan", "compare", "bench nll", "bench faults",
                                     "bench gpu-check"])
@pytest.mark.parametrize("where", ["a file", "below a file"])
def test_an_unusable_out_folder_is_one_line_for_every_command(command, where, tmp_path, capsys):
    (tmp_path / "file").write_text("not a folder")
    out = tmp_path / "file" if where == "a file" else tmp_path / "file" / "run"
    assert main([*_commands_with_out(tmp_path)[command], "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: --out {out}") and len(err.strip().splitlines()) == 1, err
    assert (tmp_path / "file").read_text() == "not a folder"


@pytest.mark.parametrize("argv, flag", [(["classifier", "--out", "{dir}"], "--out"),
                                        (["evaluate", "x.npz", "--json", "{dir}"], "--json"),
                                        (["evaluate", "x.npz", "--figure", "{file}/f.png"], "--figure")])
def test_an_unusable_out_file_is_one_line(argv, flag, tmp_path, capsys):
    (tmp_path / "file").write_text("")
    argv = [a.replace("{dir}", str(tmp_path)).replace("{file}", str(tmp_path / "file")) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {flag} ") and len(err.strip().splitlines()) == 1, err


def test_classifier_never_writes_inside_the_package_by_default():
    out = Path(build_parser().parse_args(["classifier"]).out).resolve()
    assert Path(minivae.__file__).resolve().parent not in out.parents


# ------------------------------------------------------------------ --resume and kinds
def test_resume_of_another_commands_run_is_one_clear_line(tmp_path, capsys):
    gan = tmp_path / "gan" / "model.npz"
    gan.parent.mkdir()
    gan.write_bytes((DATA / "checkpoint_gan_wgan_gp_da6974c.npz").read_bytes())
    assert main(["train", "--resume", str(gan)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --resume ") and "a 'gan' run, not a 'vae' one" in err
    assert "python -m minivae gan --resume" in err and len(err.strip().splitlines()) == 1
    assert main(["vqvae", "--resume", str(tmp_path)]) == 2
    assert "no run there" in capsys.readouterr().err


@pytest.mark.parametrize("name, cls", [("bernoulli_f24dcae", "VAE"), ("gan_wgan_gp_da6974c", "GAN"),
                                       ("vaegan_da6974c", "VAEGAN"), ("vqvae_da6974c", "VQVAE")])
def test_load_returns_the_model_of_any_checkpoint(name, cls):
    assert type(minivae.load(DATA / f"checkpoint_{name}.npz")).__name__ == cls


def test_load_refuses_anything_else_in_one_line(tmp_path):
    from minivae.errors import CheckpointError
    (tmp_path / "x.npz").write_text("hello")
    with pytest.raises(CheckpointError):
        minivae.load(tmp_path / "x.npz")


@pytest.fixture(scope="module")
def vqvae_path(tmp_path_factory):
    """A small VQ-VAE with its code prior fitted on 200 MNIST training images (untrained: the plumbing only)."""
    train, _, _ = load_data("mnist", train_size=200)
    model = VQVAE(hidden_dims=(16,), latent_dim=2, code_dim=2, codebook_size=8, seed=0)
    model.init_codebook(train.x)
    model.fit_prior(train.x)
    return model.save(tmp_path_factory.mktemp("vq") / "model.npz", {"dataset": "mnist", "seed": 0})


def test_evaluate_scores_a_vqvae(vqvae_path, tmp_path):
    out = tmp_path / "ev.json"
    assert main(["evaluate", str(vqvae_path), "--n", "50", "--samples", "40", "--json", str(out)]) == 0
    res = json.loads(out.read_text())
    assert res["kind"] == "vqvae" and res["n"] == 50 and res["test_recon"] > 0
    assert res["sample_quality"]["n"] == 40 and np.isfinite(res["sample_quality"]["fid"])


def test_compare_scores_a_vqvae_beside_a_vae(vqvae_path, cvae_path, tmp_path):
    vae = str(cvae_path)
    out = tmp_path / "cmp.json"
    assert main(["compare", str(vqvae_path), vae, "--samples", "40", "--k", "2", "--nll-n", "5", "--quiet",
                 "--json", str(out)]) == 0
    rows = json.loads(out.read_text())["rows"]
    assert [r["kind"] for r in rows] == ["vqvae", "vae"]
    assert rows[0]["test_recon"] > 0 and np.isfinite(rows[0]["sample_fid"]) and np.isfinite(rows[0]["recon_fid"])
    assert "test_nll" not in rows[0] and "test_nll" in rows[1]


@pytest.fixture(scope="module")
def cvae_path(tmp_path_factory):
    return VAE(hidden_dims=(16,), latent_dim=2, num_classes=10, seed=3).save(
        tmp_path_factory.mktemp("cvae") / "model.npz", {"dataset": "mnist", "seed": 0})


def test_a_conditional_models_labels_do_not_depend_on_the_batches(cvae_path):
    """Sample i has label i mod C whatever the batch size (labels restarting in every batch would differ)."""
    model = minivae.load(cvae_path)
    # float32 products of 7 and of 23 rows may round differently (BLAS by row count): a tolerance, not bits
    np.testing.assert_allclose(sample_images(model, 23, 4, batch=7), sample_images(model, 23, 4), atol=1e-5)


def test_evaluate_and_compare_score_the_same_samples(cvae_path, tmp_path):
    ev, cmp = tmp_path / "ev.json", tmp_path / "cmp.json"
    assert main(["evaluate", str(cvae_path), "--n", "10", "--k", "1", "--samples", "60", "--seed", "2",
                 "--json", str(ev)]) == 0
    assert main(["compare", str(cvae_path), "--samples", "60", "--seed", "2", "--k", "0", "--quiet",
                 "--json", str(cmp)]) == 0
    q, row = json.loads(ev.read_text())["sample_quality"], json.loads(cmp.read_text())["rows"][0]
    assert (q["fid"], q["class_entropy"], q["inception_score"]) == (
        row["sample_fid"], row["sample_class_entropy"], row["sample_inception_score"])


# ------------------------------------------------------------------ Ctrl-C
def _cpu_seconds(pid):
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the child's CPU time from /proc")
def test_ctrl_c_in_evaluate_is_one_line_and_exit_130(cvae_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OPENBLAS_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "minivae", "evaluate", str(cvae_path), "--k", "5000"], cwd=ROOT,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    t0 = time.perf_counter()
    while _cpu_seconds(proc.pid) < 4:                  # past the imports and the data: inside the NLL estimate
        assert proc.poll() is None and time.perf_counter() - t0 < 120
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1 and "interrupted" in err


# ------------------------------------------------------------------ bench threads
def test_bench_takes_its_thread_count_from_openblas_num_threads():
    """Without --threads, bench runs with NumPy's BLAS thread count as the environment set it (not a fixed 2)."""
    assert build_parser().parse_args(["bench"]).threads is None
    code = "from minivae.backend.threads import blas_threads; from minivae.bench import default_threads; " \
           "print(default_threads(), blas_threads())"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    chosen, blas = out.stdout.split()
    assert blas == "None" or chosen == blas == "1"


# ------------------------------------------------------------------ what the sample figures say they show
@pytest.mark.parametrize("argv, name, words", [
    (["train", "--num-classes", "10", "--latent-dim", "3"], "samples_per_class.png", ("means", "class")),
    (["vaegan", "--discriminator-dims", "8", "--samples", "20"], "samples.png", ("means", "E[x | z]"))])
def test_the_sample_figures_of_a_cvae_and_a_vaegan_are_titled_decoder_means(argv, name, words, tmp_path, monkeypatch):
    """model.sample gives the decoder's means E[x | z], not draws x ~ p(x | z); a CVAE's rows are never untitled."""
    from minivae.figures import vae as figures
    titles, save = {}, figures._save

    def keep(fig, path):
        titles[Path(path).name] = fig.axes[0].get_title()
        return save(fig, path)
    monkeypatch.setattr(figures, "_save", keep)
    assert main([*argv, "--train-size", "64", "--test-size", "20", "--epochs", "1", "--hidden-dims", "8", "--quiet",
                 "--out", str(tmp_path / "run")]) == 0
    assert all(w in titles[name] for w in words), titles[name]
