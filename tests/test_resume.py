"""Nothing lost: a run stopped by Ctrl-C, SIGTERM or a kill resumes to the very weights of the run never stopped.

The runs are small (2,000 MNIST images, a 784-32-4 VAE, binarized and
corrupted, with KL warm-up, so that every generator matters); the stopped
ones run as child processes of ``python -m minivae train`` and get real
signals.
"""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from minivae.bench.faults import OPTS        # the small run the fault-injection bench kills too
from minivae.models.checkpoint import load_checkpoint, load_train_state
from minivae.cli import main

ROOT = Path(__file__).resolve().parents[1]


def weights(folder):
    _, arrays, _ = load_checkpoint(Path(folder) / "model.npz")
    return arrays


def history(folder):
    """The run's history without its timings."""
    entries = json.loads((Path(folder) / "metrics.json").read_text())["history"]
    return [{k: v for k, v in e.items() if k != "epoch_time_s"} for e in entries]


def same_run(a, b):
    wa, wb = weights(a), weights(b)
    return wa.keys() == wb.keys() and all(np.array_equal(wa[k], wb[k]) for k in wa) and history(a) == history(b)


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    """The run that is never stopped: 5 epochs."""
    out = tmp_path_factory.mktemp("straight")
    assert main(["train", *OPTS, "--epochs", "5", "--out", str(out)]) == 0
    return out


def child(out, epochs=5, *extra):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "minivae", "train", *OPTS, "--epochs", str(epochs), "--out",
                             str(out), *extra], cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True)


def wait_for_checkpoint(out, proc, timeout=60):
    t0 = time.perf_counter()
    while not (Path(out) / "model.npz").exists():
        assert proc.poll() is None and time.perf_counter() - t0 < timeout, "the child ended before a checkpoint"
        time.sleep(0.02)


def test_a_run_stopped_after_2_epochs_and_resumed_to_5_is_the_run_of_5(straight, tmp_path):
    assert main(["train", *OPTS, "--epochs", "2", "--out", str(tmp_path)]) == 0
    record, arrays = load_train_state(tmp_path / "model.npz")
    assert record["epoch"] == 2 and record["step"] == 2 * 32 and "opt.vae.m.encoder.0.W" in arrays
    assert main(["train", "--resume", str(tmp_path), "--epochs", "5", "--quiet", "--no-figures"]) == 0
    assert same_run(straight, tmp_path)
    assert (tmp_path / "model.prev.npz").exists()                    # the checkpoint before the last, kept
    assert json.loads((tmp_path / "metrics.json").read_text())["config"]["epochs"] == 5   # the extended count


def test_resume_refuses_options_that_contradict_the_run(straight, capsys):
    assert main(["train", "--resume", str(straight), "--lr", "0.01", "--latent-dim", "4"]) == 2
    err = capsys.readouterr().err
    assert "--lr 0.01 (the run has 0.001)" in err and "only --epochs may change" in err and "latent-dim" not in err


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_stops_at_the_end_of_a_step_saves_and_says_how_to_resume(straight, tmp_path, sig, code):
    proc = child(tmp_path)
    wait_for_checkpoint(tmp_path, proc)
    time.sleep(0.05)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    assert f"python -m minivae train --resume {tmp_path}" in err
    record, _ = load_train_state(tmp_path / "model.npz")
    assert record["epoch"] < 5
    assert main(["train", "--resume", str(tmp_path), "--quiet", "--no-figures"]) == 0
    assert same_run(straight, tmp_path)


def test_kill_9_at_random_moments_loses_at_most_7_steps_and_resumes_exactly(straight, tmp_path):
    """Checkpoints every 7 steps (32 per epoch): most kills land inside an epoch, and resume from there."""
    rng = np.random.default_rng(0)
    kills, mid_epoch = 0, False
    for attempt in range(3):
        resume = ["--resume", str(tmp_path)] if attempt else []
        proc = child(tmp_path, 5, "--checkpoint-every", "7", *resume)
        wait_for_checkpoint(tmp_path, proc)
        if attempt == 0:                                              # the first kill: right after a mid-epoch save
            while proc.poll() is None and load_train_state(tmp_path / "model.npz")[0]["batch"] == 0:
                time.sleep(0.01)
        else:
            time.sleep(rng.uniform(0, 0.5))
        if proc.poll() is None:
            proc.kill()
            kills += 1
        proc.communicate(timeout=60)
        weights(tmp_path)                                             # whatever the moment, the file loads
        record, _ = load_train_state(tmp_path / "model.npz")
        mid_epoch = mid_epoch or record["batch"] > 0
    assert main(["train", "--resume", str(tmp_path), "--quiet", "--no-figures"]) == 0
    assert kills >= 1 and mid_epoch and same_run(straight, tmp_path)


def test_the_fault_injection_bench_counts_identical_resumes_and_leaves_no_temporary_folder(
        tmp_path, capsys, monkeypatch):
    import tempfile

    from minivae.bench.faults import main as faults

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))          # without --out, its runs go under here
    assert faults(["--runs", "1", "--epochs", "2"]) == 0
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert res["runs"] == 1 and res["identical"] == 1 and res["most_lost_s"] >= 0
    assert res["out"] is None and list(tmp_path.iterdir()) == []      # and are removed at the end


def test_a_run_whose_generator_cannot_be_saved_trains_and_says_it_cannot_be_resumed(tmp_path):
    """CuPy's generators give no state: such a run still writes its checkpoints, and resuming it is refused."""
    from minivae import VAE
    from minivae.errors import CheckpointError
    from minivae.train import TrainConfig, fit, load_run

    class OpaqueGenerator:                                       # draws like a generator, says nothing of its state
        def __init__(self):
            self._rng = np.random.default_rng(0)

        def standard_normal(self, *args, **kwargs):
            return self._rng.standard_normal(*args, **kwargs)

    vae = VAE(input_dim=6, hidden_dims=(5,), latent_dim=2)
    vae.rng = OpaqueGenerator()
    x = np.random.default_rng(1).random((32, 6)).astype(np.float32)
    fit(vae, x, epochs=1, batch_size=16, progress=False, out_dir=tmp_path)
    with pytest.raises(CheckpointError, match="model generator was not saved .* cannot be resumed exactly"):
        load_run(vae, TrainConfig(epochs=2, batch_size=16), tmp_path / "model.npz")
