"""``python -m minivae bench gpu-check``: the plumbing of the one prepared GPU command, tested without a GPU.

The dry run goes through every part (the GPU tests, which skip here with
their reasons; the epoch comparison, NumPy against NumPy; the benchmark on
the NumPy ops), writes the JSON and the log, and a part that hangs is
stopped at its own limit while the others still run.
"""
import json
import time

import pytest

from minivae.backend.cupy_backend import gpu_unavailable_reason
from minivae.bench.gpu.check import junit_counts, main


def test_dry_run_goes_through_every_part_and_writes_json_and_log(tmp_path, capsys):
    assert main(["--out", str(tmp_path), "--dry-run"]) == 0
    result = json.loads((tmp_path / "gpu_check.json").read_text())
    assert result["status"] == "passed" and result["dry_run"] and list(result["parts"]) == ["tests", "train", "bench"]
    tests, train, bench = (result["parts"][k] for k in ("tests", "train", "bench"))
    assert tests["failed"] == 0 and tests["passed"] + tests["skipped"] > 100                 # the GPU-marked tests
    assert train["steps"] == 4 and train["epoch_mean_rel"] == 0.0 and train["first_step_rel"] == 0.0
    assert {k["op"] for k in bench["kernels"]} >= {"reparam_kl_forward", "bernoulli_nll_grad"}
    assert [r["batch"] for r in bench["train"]] == [32, 64] and all(r["step_ms"] > 0 for r in bench["train"])
    log = (tmp_path / "gpu_check.log").read_text()
    assert "===== tests: passed" in log and "===== bench: passed" in log
    out = capsys.readouterr().out
    assert "gpu-check on CPU (NumPy) (dry run): passed" in out and "train  passed" in out
    bench_line = next(line for line in out.splitlines() if line.strip().startswith("bench"))
    assert "at batch 32" in bench_line and "fused kernels" in bench_line      # figures, no verdict on targets
    assert "NOT met" not in out


@pytest.mark.skipif(gpu_unavailable_reason() is None, reason="a GPU is here: the real parts would run")
def test_without_a_gpu_a_part_fails_at_once_with_its_reason_in_its_line(tmp_path, capsys):
    t0 = time.perf_counter()
    assert main(["--out", str(tmp_path), "--parts", "train"]) == 1
    assert time.perf_counter() - t0 < 30                                   # no NumPy epoch before finding out
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and "failed" in lines[1]
    assert "backend 'cupy'" in lines[1] and ("CuPy" in lines[1] or "CUDA device" in lines[1])


def test_a_part_that_hangs_is_stopped_at_its_limit_and_the_run_fails(tmp_path, capsys):
    t0 = time.perf_counter()
    assert main(["--out", str(tmp_path), "--dry-run", "--parts", "train", "bench", "--limit-train", "1",
                 "--simulate-hang", "train"]) == 1
    assert time.perf_counter() - t0 < 60
    parts = json.loads((tmp_path / "gpu_check.json").read_text())["parts"]
    assert parts["train"]["status"] == "timed out" and parts["train"]["limit_s"] == 1
    assert parts["bench"]["status"] == "passed"                                                # the rest still ran
    assert "train  timed out" in capsys.readouterr().out


def test_junit_counts_read_failures_errors_and_skips(tmp_path):
    xml = tmp_path / "t.xml"
    xml.write_text('<testsuites><testsuite><testcase name="a"/><testcase name="b"><failure message="x"/></testcase>'
                   '<testcase name="c"><error message="y"/></testcase>'
                   '<testcase name="d"><skipped message="no GPU"/></testcase></testsuite></testsuites>')
    assert junit_counts(xml) == {"passed": 1, "failed": 2, "skipped": 1, "skip_reasons": ["no GPU"]}
    assert junit_counts(tmp_path / "missing.xml")["failed"] is None
