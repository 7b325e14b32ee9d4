"""``python -m minivae bench faults``: kill training at random moments, resume it, count the identical endings.

One run of ``python -m minivae train`` goes through uninterrupted; then,
``--runs`` times, the same run is started in a child process, killed with
SIGKILL at a random moment after its first checkpoint, and resumed with
``--resume`` to the end. Each resumed run is compared with the
uninterrupted one: weights bit for bit, and ``metrics.json``'s history
without its timings. The work lost to a kill is the time between the
checkpoint the run resumed from and the kill. Prints a table and one JSON
line. Without ``--out`` the runs go to a temporary folder, removed at the end.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy

from ..models.checkpoint import load_checkpoint

ROOT = Path(__file__).resolve().parents[2]
OPTS = ["--train-size", "2000", "--test-size", "300", "--hidden-dims", "32", "--latent-dim", "4", "--no-figures",
        "--quiet", "--binarize", "--denoise", "0.1", "--warmup-epochs", "2", "--batch-size", "64"]


def _train(out, epochs, every, *extra, wait=True):
    cmd = [sys.executable, "-m", "minivae", "train", *OPTS, "--epochs", str(epochs), "--checkpoint-every",
           str(every), "--out", str(out), *extra]
    proc = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if wait:
        _, err = proc.communicate(timeout=600)
        if proc.returncode != 0:
            raise SystemExit(f"bench faults: `{' '.join(cmd[1:])}` failed ({proc.returncode}): {err.strip()[-300:]}")
    return proc


def _ending(folder):
    _, arrays, _ = load_checkpoint(Path(folder) / "model.npz")
    entries = json.loads((Path(folder) / "metrics.json").read_text())["history"]
    return arrays, [{k: v for k, v in e.items() if k != "epoch_time_s"} for e in entries]


def one_run(folder, epochs, every, rng, straight, window):
    """Kill a run once at a random moment (within ``window`` s of its first checkpoint), resume it to the end."""
    proc = _train(folder, epochs, every, wait=False)
    checkpoint, t0 = folder / "model.npz", time.perf_counter()
    while not checkpoint.exists():
        if proc.poll() is not None or time.perf_counter() - t0 > 300:
            raise SystemExit(f"bench faults: the run ended before its first checkpoint: {proc.stderr.read()[-300:]}")
        time.sleep(0.01)
    time.sleep(rng.uniform(0, window))
    killed = proc.poll() is None
    if killed:
        proc.send_signal(signal.SIGKILL)
    kill_time = time.time()
    proc.communicate(timeout=60)
    lost = max(0.0, kill_time - os.stat(checkpoint).st_mtime) if killed else 0.0
    _train(folder, epochs, every, "--resume", str(folder))
    arrays, history = _ending(folder)
    same = arrays.keys() == straight[0].keys() and all(numpy.array_equal(arrays[k], straight[0][k]) for k in arrays)
    return {"killed": killed, "identical": bool(same and history == straight[1]), "lost_s": lost}


def add_arguments(p):
    """The options of ``bench faults``, added to the parser ``p``."""
    p.add_argument("--runs", type=int, default=20, help="runs killed and resumed")
    p.add_argument("--epochs", type=int, default=4, help="epochs of each run")
    p.add_argument("--checkpoint-every", type=int, default=7, metavar="STEPS", help="(32 steps per epoch here)")
    p.add_argument("--seed", type=int, default=0, help="of the kill moments")
    p.add_argument("--out", default=None, metavar="DIR", help="where the runs go (none: a temporary folder)")
    return p


def main(argv=None):
    """``python -m minivae bench faults ARGV``'s exit status: the one command line's parser and errors."""
    from ..cli import main as cli_main
    return cli_main(["bench", "faults", *(sys.argv[1:] if argv is None else argv)])


def run_command(a):
    if a.runs < 1 or a.epochs < 1 or a.checkpoint_every < 1:
        print("bench faults: --runs, --epochs and --checkpoint-every must be >= 1", file=sys.stderr)
        return 2
    if a.out is not None:
        return measure(a, Path(a.out))
    with tempfile.TemporaryDirectory(prefix="minivae-faults-") as tmp:    # removed afterwards, even on an error
        return measure(a, Path(tmp), keep=False)


def measure(a, base, keep=True):
    """The straight run and ``a.runs`` killed-and-resumed runs under ``base``; prints the table and JSON; exit code."""
    _train(base / "straight", a.epochs, a.checkpoint_every)
    straight = _ending(base / "straight")
    seconds = json.loads((base / "straight" / "metrics.json").read_text())["history"]
    window = 0.9 * sum(e["epoch_time_s"] for e in seconds[1:])       # the training left after the first epoch
    rng = numpy.random.default_rng(a.seed)
    results = [one_run(base / f"run-{r}", a.epochs, a.checkpoint_every, rng, straight, window)
               for r in range(a.runs)]
    killed = [r for r in results if r["killed"]]
    summary = {"bench": "faults", "runs": a.runs, "killed": len(killed),
               "identical": sum(r["identical"] for r in results),
               "most_lost_s": max((r["lost_s"] for r in killed), default=0.0), "checkpoint_every": a.checkpoint_every,
               "epochs": a.epochs, "out": str(base) if keep else None}
    print(f"minivae bench faults: {a.runs} runs of {a.epochs} epochs, checkpoints every {a.checkpoint_every} steps, "
          f"SIGKILL at a random moment")
    print(f"  killed before the end: {summary['killed']}; resumed to identical weights and history: "
          f"{summary['identical']} of {a.runs}; most work lost to a kill: {summary['most_lost_s']:.2f} s")
    print(json.dumps(summary))
    return 0 if summary["identical"] == a.runs else 1

if __name__ == "__main__":
    raise SystemExit(main())
