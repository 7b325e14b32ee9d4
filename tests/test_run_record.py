"""metrics.json: one layout for every model, provenance per session, totals that add up across resumes."""
import json
import sys
import time

import numpy as np
import pytest

from minivae import VAE
from minivae.errors import DataError
from minivae.train import TrainConfig, fit, load_run
from minivae.train.run_record import read_metrics, train_seconds, update_metrics

TINY = dict(input_dim=6, hidden_dims=(5,), latent_dim=2, activation="tanh")
X = np.random.default_rng(0).random((40, 6)).astype(np.float32)


class Slow:
    """A callback that makes every step take at least ``seconds`` of wall-clock time."""

    def __init__(self, seconds):
        self.seconds = seconds

    def on_step(self, step, metrics, model):
        time.sleep(self.seconds)


def test_fit_writes_kind_provenance_config_history_and_totals(tmp_path):
    fit(VAE(**TINY), X, epochs=2, batch_size=10, progress=False, out_dir=tmp_path, extra={"dataset": "toy"})
    m = json.loads((tmp_path / "metrics.json").read_text())
    assert set(m) == {"kind", "provenance", "config", "history", "final"} and m["kind"] == "vae"
    assert m["config"]["epochs"] == 2 and m["config"]["dataset"] == "toy" and len(m["history"]) == 2
    (p,) = m["provenance"]
    assert p["numpy"] == np.__version__ and p["command"] == sys.argv and p["backend"] == "numpy"
    assert {"minivae", "python", "blas", "blas_threads", "started", "from_epoch"} <= set(p)
    assert m["final"]["epochs"] == 2 and m["final"]["steps"] == 8 and m["final"]["sessions"] == 1
    assert m["final"]["train_seconds"] > 0


def test_a_resumed_runs_training_time_is_the_sum_of_its_sessions(tmp_path):
    cfg = dict(batch_size=10, progress=False, out_dir=tmp_path, callbacks=[Slow(0.05)])   # >= 0.2 s an epoch
    fit(VAE(**TINY), X, epochs=1, **cfg)
    first = read_metrics(tmp_path)["final"]["train_seconds"]
    assert first >= 0.2
    config = TrainConfig(epochs=2, batch_size=10)
    again = VAE.load(tmp_path / "model.npz")                   # a new process would do just this
    fit(again, X, config=config, state=load_run(again, config, tmp_path / "model.npz"), **{
        k: v for k, v in cfg.items() if k != "batch_size"})
    m = read_metrics(tmp_path)
    assert m["final"]["train_seconds"] >= first + 0.2          # not the last session's alone
    assert m["final"]["sessions"] == 2 and [p["from_epoch"] for p in m["provenance"]] == [0, 1]
    assert m["final"]["steps"] == 8 and m["final"]["epochs"] == 2
    assert [h["epoch"] for h in m["history"]] == [1, 2]


def test_update_metrics_adds_the_end_figures_and_keeps_the_totals(tmp_path):
    fit(VAE(**TINY), X, epochs=1, batch_size=10, progress=False, out_dir=tmp_path)
    before = read_metrics(tmp_path)["final"]
    record = update_metrics(tmp_path, {"test_loss": 4.2, "train_seconds": 0.0, "epochs": 99},
                            figures=[tmp_path / "samples.png"])
    assert record["final"]["test_loss"] == 4.2 and record["figures"] == ["samples.png"]
    assert {k: record["final"][k] for k in before} == before


@pytest.mark.parametrize("layout", ["vae", "gan"])
def test_older_layouts_are_read_with_their_last_sessions_time(tmp_path, layout):
    old = {"config": {"epochs": 3}, "history": [{"epoch": 1}, {"epoch": 2}], "final": {"test_loss": 1.5}}
    if layout == "vae":
        old["wall_time_s"] = 31.0
    else:
        old["final"]["wall_time_s"] = 31.0
    (tmp_path / "metrics.json").write_text(json.dumps(old))
    (tmp_path / "model.npz").write_bytes(b"")
    for path in (tmp_path, tmp_path / "model.npz", tmp_path / "metrics.json"):
        m = read_metrics(path)
        assert m["final"]["train_seconds"] == 31.0 and m["final"]["train_seconds_partial"] is True
        assert m["final"]["epochs"] == 2 and m["provenance"] == [] and m["kind"] is None
    assert train_seconds(tmp_path) == 31.0


def test_a_missing_or_broken_metrics_file_is_one_clear_error(tmp_path):
    assert train_seconds(tmp_path) is None
    (tmp_path / "metrics.json").write_text("{not json")
    with pytest.raises(DataError, match="not a readable metrics.json"):
        read_metrics(tmp_path)


def test_the_command_line_is_recorded_as_typed_not_as_the_path_of_main():
    from minivae.train.run_record import command_line
    assert command_line(["/venv/lib/python3.11/site-packages/minivae/__main__.py", "train", "--epochs", "2"]) == \
        ["python", "-m", "minivae", "train", "--epochs", "2"]
    assert command_line(["/venv/bin/minivae", "gan"]) == ["/venv/bin/minivae", "gan"]     # the console script
    assert command_line(["script.py", 3]) == ["script.py", "3"]
