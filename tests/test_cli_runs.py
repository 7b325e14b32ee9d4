"""Run folders and metrics.json through the commands: no run replaces another, one layout, totals over resumes.

The policy (:mod:`minivae.train.run_folder`) as every training command
meets it: without ``--out`` a new ``runs/<command>-<time>`` and
``runs/latest`` pointing to it; a used ``--out`` refused unless
``--overwrite`` (the old run's files removed) or ``--resume``. The runs are
tiny (one epoch on a few hundred images): the plumbing, not the models.
"""
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from minivae.cli import build_parser, main
from minivae.models.checkpoint import checkpoint_kind, load_checkpoint, load_train_state, save_checkpoint
from minivae.train import read_metrics

ROOT = Path(__file__).resolve().parents[1]
SMALL = ["--train-size", "256", "--test-size", "200", "--epochs", "1", "--quiet", "--no-figures"]
#: a tiny run of every training command (the yardstick on 200 samples where the command has one)
COMMANDS = {"train": ["train", *SMALL, "--hidden-dims", "8", "--latent-dim", "2"],
            "vqvae": ["vqvae", *SMALL, "--hidden-dims", "8", "--latent-dim", "2", "--code-dim", "2",
                      "--codebook-size", "4"],
            "gan": ["gan", *SMALL, "--noise-dim", "4", "--generator-dims", "8", "--discriminator-dims", "8",
                    "--samples", "200"],
            "vaegan": ["vaegan", *SMALL, "--hidden-dims", "8", "--latent-dim", "2", "--discriminator-dims", "8",
                       "--samples", "200"]}
TOTALS = {"epochs", "steps", "train_seconds", "sessions"}


def contents(folder):
    """{file name: its bytes} of every file in ``folder``."""
    return {p.name: p.read_bytes() for p in Path(folder).iterdir() if p.is_file()}


def wrote(out):
    """The folder a command's last line says it wrote."""
    return out.strip().splitlines()[-1].rsplit("wrote ", 1)[1]


@pytest.fixture(scope="module")
def used(tmp_path_factory):
    """A folder that holds a finished VAE run."""
    out = tmp_path_factory.mktemp("used")
    assert main([*COMMANDS["train"], "--out", str(out)]) == 0
    return out


@pytest.mark.parametrize("command", COMMANDS)
def test_a_second_run_into_a_used_out_is_refused_in_one_line_and_changes_nothing(command, used, capsys):
    before = contents(used)
    assert main([*COMMANDS[command], "--out", str(used)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: --out {used}: already holds a run") and len(err.strip().splitlines()) == 1
    assert "--resume" in err and "--overwrite" in err
    assert contents(used) == before


def test_overwrite_and_resume_together_are_refused(used, capsys):
    assert main([*COMMANDS["train"], "--resume", str(used), "--overwrite"]) == 2
    assert "--overwrite and --resume exclude each other" in capsys.readouterr().err


def test_overwrite_replaces_the_run_and_leaves_no_file_of_the_old_one(tmp_path, capsys):
    """A VAE trained over a GAN's folder: none of the GAN's figures or records stay; a file no run writes does."""
    gan = [a for a in COMMANDS["gan"] if a != "--no-figures"]
    assert main([*gan, "--out", str(tmp_path)]) == 0
    (tmp_path / "notes.txt").write_text("mine")
    gan_files = set(contents(tmp_path)) - {"notes.txt", "model.npz", "metrics.json"}
    assert {"steps.json", "losses.png", "samples_epoch_001.png", "samples_by_epoch.npz"} <= gan_files
    assert main([*COMMANDS["train"], "--out", str(tmp_path), "--overwrite"]) == 0
    assert not gan_files & set(contents(tmp_path))
    assert checkpoint_kind(tmp_path / "model.npz") == "vae" and read_metrics(tmp_path)["kind"] == "vae"
    assert read_metrics(tmp_path)["final"]["sessions"] == 1                      # a new run, not the GAN's continued
    assert (tmp_path / "notes.txt").read_text() == "mine"
    assert wrote(capsys.readouterr().out) == str(tmp_path)


def test_without_out_each_run_gets_a_new_folder_and_runs_latest_names_the_newest(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    folders = []
    for _ in range(2):
        assert main(COMMANDS["train"]) == 0
        folders.append(wrote(capsys.readouterr().out))
    first, second = (Path(f) for f in folders)
    assert first != second and first.parent == second.parent == Path("runs")
    assert first.name.startswith("train-") and second.name.startswith("train-")
    assert (first / "model.npz").is_file() and (second / "model.npz").is_file()
    assert os.path.samefile("runs/latest", second)
    assert main(["train", "--resume", "runs/latest", "--epochs", "2", "--quiet", "--no-figures"]) == 0
    assert wrote(capsys.readouterr().out) == str(second)                        # the run latest named, by its name
    assert read_metrics(second)["final"]["epochs"] == 2 and read_metrics(first)["final"]["epochs"] == 1


def test_every_training_commands_help_says_where_a_run_goes():
    for command in COMMANDS:
        text = " ".join(build_parser().commands[command].format_help().split())
        assert f"runs/{command}-<time>" in text and "runs/latest" in text, command
        assert "refused unless --overwrite or --resume" in text, command


def _stretch_first_session(folder, seconds):
    """Rewrite the run's checkpoint as if its sessions so far had trained for ``seconds``."""
    path = folder / "model.npz"
    config, arrays, extra = load_checkpoint(path)
    record, state_arrays = load_train_state(path)
    record["train_seconds"] = seconds
    save_checkpoint(path, config, arrays, extra, (record, state_arrays), kind=checkpoint_kind(path))


@pytest.fixture(scope="module")
def resumed(tmp_path_factory):
    """{command: (folder, seconds of its second session's command)}: each run trained 1 epoch, stopped, its first
    session made to count 1000 s, then resumed to 2 epochs (from its folder or its model.npz)."""
    runs = {}
    for command, argv in COMMANDS.items():
        out = tmp_path_factory.mktemp(command)
        assert main([*argv, "--out", str(out)]) == 0
        _stretch_first_session(out, 1000.0)
        t0 = time.perf_counter()
        samples = ["--samples", "200"] if "--samples" in argv else []
        run = out / "model.npz" if command in ("gan", "vqvae") else out             # the folder, or its model.npz
        assert main([command, "--resume", str(run), "--epochs", "2", *samples, "--quiet", "--no-figures"]) == 0
        runs[command] = out, time.perf_counter() - t0
    return runs


@pytest.mark.parametrize("command", COMMANDS)
def test_a_resumed_runs_training_time_is_the_sum_of_its_sessions(command, resumed):
    out, second = resumed[command]
    final = json.loads((out / "metrics.json").read_text())["final"]
    assert 1000 < final["train_seconds"] <= 1000 + second                       # not the last session's alone
    assert final["sessions"] == 2 and final["epochs"] == 2
    assert [p["from_epoch"] for p in read_metrics(out)["provenance"]] == [0, 1]


def test_metrics_json_has_one_layout_for_every_kind(resumed):
    records = {command: json.loads((out / "metrics.json").read_text()) for command, (out, _) in resumed.items()}
    for command, m in records.items():
        assert set(m) == {"kind", "provenance", "config", "history", "final"}, command
        assert TOTALS <= set(m["final"]) and "wall_time_s" not in m["final"], command
        assert [h["epoch"] for h in m["history"]] == [1, 2], command
    assert [m["kind"] for m in records.values()] == ["vae", "vqvae", "gan", "vaegan"]


def test_compare_shows_the_training_time_over_every_session(resumed, tmp_path):
    out, _ = resumed["train"]
    table = tmp_path / "cmp.json"
    assert main(["compare", str(out), "--samples", "20", "--k", "0", "--quiet", "--json", str(table)]) == 0
    row = json.loads(table.read_text())["rows"][0]
    assert row["train_time_s"] == read_metrics(out)["final"]["train_seconds"] > 1000


def test_compare_reads_an_older_runs_training_time(tmp_path):
    (tmp_path / "model.npz").write_bytes((ROOT / "tests" / "data" / "checkpoint_bernoulli_f24dcae.npz").read_bytes())
    (tmp_path / "metrics.json").write_text(json.dumps({"config": {}, "history": [], "final": {}, "wall_time_s": 12.5}))
    from minivae.cli.compare import train_time
    assert train_time(str(tmp_path / "model.npz")) == train_time(str(tmp_path)) == 12.5


def test_provenance_names_the_command_line_of_each_session(tmp_path):
    """A real process (its sys.argv is the command line), without --out: the run goes to runs/train-<time>."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OPENBLAS_NUM_THREADS": "1"}
    argv = [sys.executable, "-m", "minivae", *COMMANDS["train"]]
    done = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    folder = tmp_path / wrote(done.stdout)
    assert folder.parent == tmp_path / "runs" and os.path.samefile(tmp_path / "runs" / "latest", folder)
    (session,) = read_metrics(folder)["provenance"]
    assert session["command"] == ["python", "-m", "minivae", *COMMANDS["train"]]      # as typed, not __main__.py's path
    assert session["numpy"] and session["minivae"] and "blas_threads" in session


def test_evaluate_and_compare_follow_a_latest_text_file_where_symlinks_fail(tmp_path):
    """Where the file system has no symlinks, runs/latest is a text file naming the newest run's folder."""
    from minivae.cli import main
    runs = tmp_path / "runs"
    run = runs / "train-20261207-120000"
    assert main([*COMMANDS["train"], "--out", str(run)]) == 0
    (runs / "latest").write_text(run.name + "\n")
    assert main(["evaluate", str(runs / "latest"), "--k", "2", "--n", "4", "--quiet"]) == 0
    assert main(["evaluate", str(runs / "latest" / "model.npz"), "--k", "2", "--n", "4",
                 "--quiet"]) == 0
