"""The long commands as a user sees them in a terminal: a progress bar with a rate and the time left, nothing under
--quiet, and Ctrl-C (SIGINT to the whole process group, as a terminal sends it) ending them with one line, exit 130.

Each command runs in a subprocess with its stderr on a pseudo-terminal (``os.openpty``), so ``isatty()`` is true
as in a real terminal.
"""
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from minivae import VAE

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}

pytestmark = pytest.mark.skipif(not hasattr(os, "openpty") or not hasattr(os, "killpg"),
                                reason="needs pseudo-terminals and process groups (POSIX)")


def on_a_terminal(argv, interrupt_when=None, ready=lambda pid: True, timeout=120):
    """Run ``python -m minivae ARGV`` with its stderr on a pseudo-terminal; (exit status, the terminal's text).

    ``interrupt_when``: once the terminal shows this text and ``ready(pid)`` holds, SIGINT goes to the command's
    process group (its worker processes too), as Ctrl-C in a terminal does. The text is returned with "\\r\\n"
    as "\\n".
    """
    main_fd, term_fd = os.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "minivae", *argv], cwd=ROOT, env=ENV, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=term_fd, start_new_session=True)
    os.close(term_fd)
    shown, sent, deadline = b"", False, time.monotonic() + timeout
    try:
        while True:
            assert time.monotonic() < deadline, f"still running after {timeout} s: {shown[-300:]!r}"
            if select.select([main_fd], [], [], 0.1)[0]:
                try:
                    chunk = os.read(main_fd, 65536)
                except OSError:                            # EIO: every process holding the terminal has ended
                    chunk = b""
                if not chunk:
                    break
                shown += chunk
            if interrupt_when is not None and not sent and interrupt_when.encode() in shown and ready(proc.pid):
                os.killpg(proc.pid, signal.SIGINT)
                sent = True
        code = proc.wait(timeout=30)
    finally:
        os.close(main_fd)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert interrupt_when is None or sent, f"never showed {interrupt_when!r}: {shown[-300:]!r}"
    return code, shown.decode(errors="replace").replace("\r\n", "\n")


def after_the_bars(text):
    """The lines of ``text`` once each bar (a line rewritten after "\\r") is reduced to its last state."""
    return [line.rsplit("\r", 1)[-1] for line in text.strip("\n").split("\n")]


@pytest.fixture(scope="module")
def vae_path(tmp_path_factory):
    """An untrained small VAE (the plumbing only; its NLL with many samples is slow enough to watch)."""
    return VAE(hidden_dims=(16,), latent_dim=2, seed=0).save(tmp_path_factory.mktemp("vae") / "model.npz",
                                                             {"dataset": "mnist", "seed": 0})


def test_evaluate_shows_a_bar_with_rate_and_time_left_for_the_nll_and_the_yardstick(vae_path):
    # 5 batches of about 0.7 s each here: the bar is redrawn (at most every 0.2 s) while the NLL runs, with an ETA
    code, shown = on_a_terminal(["evaluate", str(vae_path), "--k", "3000", "--n", "200", "--batch-size", "40",
                                 "--samples", "300"])
    assert code == 0, shown
    assert "NLL (k=3000) [" in shown and "ETA " in shown and "/s" in shown      # a bar, drawn while it runs
    lines = after_the_bars(shown)
    for label, total in (("NLL (k=3000)", 200), ("sampling", 300), ("features of the images", 300)):
        assert any(line.startswith(f"{label} [{'#' * 30}] {total}/{total}") for line in lines), (label, lines)


def test_quiet_evaluate_writes_nothing_to_the_terminal(vae_path):
    code, shown = on_a_terminal(["evaluate", str(vae_path), "--k", "50", "--n", "100", "--samples", "100",
                                 "--quiet"])
    assert code == 0 and shown == ""


def _interrupted_once(code, shown, command):
    assert code == 130, shown
    assert "Traceback" not in shown and "KeyboardInterrupt" not in shown, shown
    said = [line for line in shown.split("\n") if "interrupted" in line]
    assert said == [f"{command}: interrupted (Ctrl-C); stopped before it finished"], shown
    assert after_the_bars(shown)[-1] == said[0]                        # nothing after it (no worker's traceback)


def test_ctrl_c_during_compare_is_one_line_and_exit_130(vae_path):
    code, shown = on_a_terminal(["compare", str(vae_path), "--samples", "50", "--k", "200000", "--nll-n", "200"],
                                interrupt_when="NLL (k=200000) [")
    _interrupted_once(code, shown, "compare")


def _cpu_seconds(pid):
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _pool_workers(pid):
    """The pool's worker processes among the children of ``pid``."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [c for c in children if b"--multiprocessing-fork" in Path(f"/proc/{c}/cmdline").read_bytes()]


def _ignores_sigint(pid):
    mask = next(line for line in Path(f"/proc/{pid}/status").read_text().splitlines() if line.startswith("SigIgn:"))
    return bool(int(mask.split()[1], 16) >> (signal.SIGINT - 1) & 1)


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="finds the workers in /proc")
def test_ctrl_c_during_bench_nll_ends_its_workers_with_one_line_and_exit_130(vae_path):
    ignoring = {}

    def workers_busy(pid):                                 # both workers past their imports, inside the NLL
        try:
            workers = _pool_workers(pid)
            if len(workers) == 2 and all(_cpu_seconds(w) >= 1.5 for w in workers):
                ignoring.update({w: _ignores_sigint(w) for w in workers})
        except OSError:                                    # a process that just ended
            return False
        return bool(ignoring)

    code, shown = on_a_terminal(["bench", "nll", "--eval-only", str(vae_path), "--k", "200000", "--n", "400",
                                 "--workers", "2"], interrupt_when="NLL (k=200000) [", ready=workers_busy)
    _interrupted_once(code, shown, "bench")
    # the terminal's SIGINT reaches the workers too: they leave it to the command, which ends them (a worker
    # that took it would print its own traceback, or not, as the race with the command's ending goes)
    assert ignoring and all(ignoring.values())


@pytest.mark.parametrize("argv, stages", [
    (["evaluate", "{vae}", "--k", "5", "--n", "100", "--samples", "50"],
     ["NLL (k=5): 100 in", "sampling: 50 in", "features of the images: 50 in"]),
    (["bench", "nll", "--eval-only", "{vae}", "--k", "5", "--n", "300", "--workers", "2"], ["NLL (k=5): 300 in"]),
    (["compare", "{vae}", "{vae}", "--samples", "50", "--k", "5", "--nll-n", "100"],
     ["[1/2] scoring", "sampling: 50 in", "reconstructions: 50 in", "NLL (k=5): 100 in", "[2/2] scoring"])])
def test_in_a_log_each_stage_is_one_line_with_its_rate(argv, stages, vae_path):
    """stderr to a file or a pipe: no bars (no "\\r"), one line per stage when it ends, "N in S s (R/s)"."""
    argv = [str(vae_path) if a == "{vae}" else a for a in argv]
    done = subprocess.run([sys.executable, "-m", "minivae", *argv], cwd=ROOT, env=ENV, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "\r" not in done.stderr and "ETA" not in done.stderr
    lines = done.stderr.splitlines()
    found = [next((i for i, line in enumerate(lines) if line.startswith(s)), None) for s in stages]
    assert None not in found and found == sorted(found), (stages, lines)       # each stage, in order
    assert all(line.endswith("/s)") for line in lines if " in " in line and not line.startswith("[")), lines
