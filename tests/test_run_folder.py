"""Run folders: a new folder per run without --out, a used --out refused unless --overwrite or --resume."""
import datetime
import os

import pytest

from minivae.errors import ConfigError
from minivae.train import run_folder
from minivae.train.run_folder import claim_run_folder, resolve_run, run_files

NOON = datetime.datetime(2026, 12, 7, 12, 0, 0)


def test_without_out_each_run_gets_a_new_folder_and_latest_points_to_the_newest(tmp_path):
    runs = tmp_path / "runs"
    first = claim_run_folder(None, "train", runs_dir=runs, now=NOON)
    second = claim_run_folder(None, "train", runs_dir=runs, now=NOON)           # the same second
    third = claim_run_folder(None, "gan", runs_dir=runs, now=NOON + datetime.timedelta(seconds=1))
    assert [p.name for p in (first, second, third)] == ["train-20261207-120000", "train-20261207-120000-2",
                                                        "gan-20261207-120001"]
    assert all(p.is_dir() for p in (first, second, third))
    assert (runs / "latest").resolve() == third.resolve()
    assert resolve_run(runs / "latest" / "model.npz").parent.resolve() == third.resolve()


def test_where_symlinks_fail_latest_is_a_text_file_that_readers_follow(tmp_path, monkeypatch):
    def no_symlinks(*args, **kwargs):
        raise OSError("symlinks are not allowed here")
    monkeypatch.setattr(run_folder.os, "symlink", no_symlinks)
    runs = tmp_path / "runs"
    claim_run_folder(None, "train", runs_dir=runs, now=NOON)
    newest = claim_run_folder(None, "vaegan", runs_dir=runs, now=NOON)
    latest = runs / "latest"
    assert latest.is_file() and not latest.is_symlink() and latest.read_text().strip() == newest.name
    assert resolve_run(latest) == newest and resolve_run(latest / "model.npz") == newest / "model.npz"
    assert claim_run_folder(latest, "train", overwrite=True) == newest   # an --out through it too


def test_a_latest_folder_of_an_older_minivae_is_left_alone(tmp_path):
    old = tmp_path / "runs" / "latest"
    old.mkdir(parents=True)
    (old / "model.npz").write_bytes(b"an old run")
    claim_run_folder(None, "train", runs_dir=tmp_path / "runs", now=NOON)
    assert old.is_dir() and not old.is_symlink() and (old / "model.npz").read_bytes() == b"an old run"


@pytest.mark.parametrize("marker", ["model.npz", "metrics.json"])
def test_an_out_that_holds_a_run_is_refused_naming_the_flags(tmp_path, marker):
    (tmp_path / marker).write_text("{}")
    with pytest.raises(ConfigError) as info:
        claim_run_folder(tmp_path, "train")
    message = str(info.value)
    assert "\n" not in message and f"--out {tmp_path}" in message
    assert "--overwrite" in message and "--resume" in message and marker in message


def test_overwrite_removes_the_old_runs_files_and_nothing_else(tmp_path):
    run = ["model.npz", "model.prev.npz", "metrics.json", "steps.json", "samples_epoch_003.png", "losses.png",
           "samples_by_epoch.npz", "extra_figure.png"]
    for name in run:
        (tmp_path / name).write_text("old")
    (tmp_path / "metrics.json").write_text('{"figures": ["extra_figure.png", "../notes.txt"]}')
    keep = ["notes.txt", "my_plot.png", "data.csv"]
    for name in keep:
        (tmp_path / name).write_text("mine")
    (tmp_path / "sub").mkdir()
    assert run_files(tmp_path) == sorted(run)
    assert claim_run_folder(tmp_path, "gan", overwrite=True) == tmp_path
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(keep + ["sub"])


def test_resume_takes_the_runs_folder_or_its_model_npz(tmp_path):
    (tmp_path / "model.npz").write_text("a run")
    assert claim_run_folder(tmp_path, "train", resume=True) == tmp_path
    assert claim_run_folder(tmp_path / "model.npz", "train", resume=True) == tmp_path
    assert (tmp_path / "model.npz").read_text() == "a run"                     # nothing removed
    with pytest.raises(ConfigError, match=r"^--resume .*: no run there"):
        claim_run_folder(tmp_path / "empty", "train", resume=True)


def test_an_empty_or_missing_folder_is_fine(tmp_path):
    assert claim_run_folder(tmp_path, "train") == tmp_path
    assert claim_run_folder(tmp_path / "a" / "b", "train").is_dir()
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "notes.txt").write_text("no run here")
    assert claim_run_folder(tmp_path / "c", "train") == tmp_path / "c"


@pytest.mark.parametrize("case, expected", [
    ("file", r"^--out .*README\.md: a file, not a folder"),
    ("under_a_file", r"^--out .*README\.md/run: cannot make the folder"),
])
def test_an_unusable_out_is_one_line(tmp_path, case, expected):
    readme = tmp_path / "README.md"
    readme.write_text("text")
    out = readme if case == "file" else readme / "run"
    with pytest.raises(ConfigError, match=expected) as info:
        claim_run_folder(out, "train")
    assert "\n" not in str(info.value)
    assert readme.read_text() == "text"


def test_overwrite_and_resume_together_and_a_bad_command_name_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="--overwrite and --resume exclude each other"):
        claim_run_folder(tmp_path, "train", overwrite=True, resume=True)
    with pytest.raises(ConfigError, match="command must be a lower-case word"):
        claim_run_folder(None, "../x", runs_dir=tmp_path)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
def test_an_unwritable_out_is_one_line(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    with pytest.raises(ConfigError, match=r"^--out .*locked: the folder is not writable$"):
        claim_run_folder(locked, "train")
