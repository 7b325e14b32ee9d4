"""``python -m minivae bench``: a tiny smoke run on a small subset, the FLOP count, clear errors."""
import json
import sys
from pathlib import Path

import numpy as np
import pytest

import minivae.bench
from minivae import VAE
from minivae.bench import main
from minivae.bench.flops import epoch_flops, step_flops
from minivae.bench.variants import main as variants_main

TINY = ["--limit", "300", "--test-limit", "100", "--epochs", "2", "--warmup", "0", "--peak-sizes", "64",
        "--batch-size", "128"]


def last_json(capsys):
    out = capsys.readouterr().out
    return out, json.loads(out.strip().splitlines()[-1])


def negative_elbo_by_hand(vae, x, eps):
    """Mean negative ELBO (analytic KL) of a one-hidden-layer ReLU Bernoulli VAE, in float64 from its weights."""
    P = {k: np.asarray(v, np.float64) for k, v in vae.params.items()}
    x, eps = x.astype(np.float64), eps.astype(np.float64)
    h = np.maximum(x @ P["encoder.0.W"] + P["encoder.0.b"], 0)
    mu, logvar = h @ P["mu.W"] + P["mu.b"], h @ P["logvar.W"] + P["logvar.b"]
    z = mu + np.exp(logvar / 2) * eps
    logits = np.maximum(z @ P["decoder.0.W"] + P["decoder.0.b"], 0) @ P["decoder.1.W"] + P["decoder.1.b"]
    nll = (np.logaddexp(0, logits) - x * logits).sum(axis=1)
    kl = 0.5 * (mu**2 + np.exp(logvar) - logvar - 1).sum(axis=1)
    return float((nll + kl).mean())


def test_smoke_run_prints_a_table_and_a_json_line(capsys, monkeypatch):
    trainers = []

    class Recorded(minivae.bench.MiniVAETrainer):
        def __init__(self, *a, **k):
            super().__init__(*a, **k)
            trainers.append(self)
    monkeypatch.setattr(minivae.bench, "MiniVAETrainer", Recorded)
    assert main(TINY) == 0
    out, res = last_json(capsys)
    assert "float32 matmul peak" in out and "epoch time median" in out and "share of matmul peak" in out
    for key in ("epoch_time_s", "peak_gflops", "gflops", "share_of_peak", "peak_rss_mb", "examples_per_s",
                "epoch_time_min_s", "epoch_time_max_s", "test_loss"):
        assert key in res, key
    assert res["steps_per_epoch"] == 3 and res["flops_per_epoch"] == 2 * step_flops(VAE(), 128) + step_flops(VAE(), 44)
    assert res["epoch_time_min_s"] <= res["epoch_time_s"] <= res["epoch_time_max_s"]
    assert res["gflops"] == pytest.approx(res["flops_per_epoch"] / res["epoch_time_s"] / 1e9)
    assert res["share_of_peak"] == pytest.approx(res["gflops"] / res["peak_gflops"])
    assert "torch_epoch_time_s" not in res
    # test_loss: the trained model's -ELBO on the first 100 test images with eps from seed 1, as evaluated
    # by hand; and the 6 Adam steps have lowered it from the untrained model's (seen: 550 -> 378 nats)
    from minivae.datasets import load_dataset
    x_test = load_dataset("mnist", "test").x[:100]
    eps = np.random.default_rng(1).standard_normal((100, 20), dtype=np.float32)
    (trained,) = trainers
    assert res["test_loss"] == pytest.approx(negative_elbo_by_hand(trained.vae, x_test, eps), rel=1e-5)
    untrained = negative_elbo_by_hand(VAE(seed=0), x_test, eps)
    assert res["test_loss"] < untrained - 50, (res["test_loss"], untrained)


def test_iwae_config_runs_every_batch_size(capsys):
    argv = [a for a in TINY if a not in ("--batch-size", "128")] + ["--config", "iwae", "--epochs", "1"]
    assert main(argv) == 0
    _, res = last_json(capsys)
    assert [r["batch_size"] for r in res["runs"]] == [20, 100] and res["batch_size"] == 20


def test_vs_torch_reports_both_frameworks(capsys):
    pytest.importorskip("torch")
    assert main(TINY + ["--vs", "torch", "--torch-adam", "fused"]) == 0
    out, res = last_json(capsys)
    assert "torch (fused Adam)" in out and "ratio minivae / torch" in out
    assert res["ratio"] == pytest.approx(res["epoch_time_s"] / res["torch_epoch_time_s"])
    assert abs(res["test_loss"] - res["torch_test_loss"]) < 20        # same model, same data, same init
    assert res["torch_peak_rss_mb"] > 0 and "the PyTorch process" in out   # torch ran in a process of its own


def test_a_failure_in_the_torch_process_is_reported_not_hung():
    pytest.importorskip("torch")
    from minivae.bench.torch_vae import TorchProcess
    from minivae.errors import ConfigError

    with pytest.raises(ConfigError, match="PyTorch process failed.*activations"):
        TorchProcess(dict(input_dim=784, hidden_dims=(8,), latent_dim=2, activation="identity"), seed=0, limit=10,
                     test_limit=10)


def test_vs_torch_without_torch_says_how_to_get_it(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)                  # import torch -> ImportError
    assert main(TINY + ["--vs", "torch"]) == 2
    assert "pip install torch" in capsys.readouterr().err


def test_a_torch_process_that_dies_is_reported():
    pytest.importorskip("torch")
    from minivae.bench.torch_vae import TorchProcess
    from minivae.errors import ConfigError

    tp = TorchProcess(dict(input_dim=784, hidden_dims=(8,), latent_dim=2), seed=0, limit=10, test_limit=10)
    tp._proc.kill()
    with pytest.raises(ConfigError, match="ended without an answer"):
        tp.epoch(np.arange(10), 5)


@pytest.mark.parametrize("flag, value", [("--threads", "0"), ("--pause", "-1")])
def test_bad_bench_options_are_refused(capsys, flag, value):
    assert main(TINY + [flag, value]) == 2
    assert flag in capsys.readouterr().err


def test_cupy_backend_without_the_gpu_module_fails_clearly(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "minivae.bench.gpu.speed", None)
    assert main(["--backend", "cupy"]) == 2
    assert "CuPy" in capsys.readouterr().err


def test_cupy_backend_without_cupy_fails_clearly(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)
    assert main(["--backend", "cupy"]) == 2
    assert "CuPy" in capsys.readouterr().err


def test_flop_count_of_the_examples_vae():
    # forward + dW for all five products; dx for all but the first (784x400) layer
    n = 128
    fwd = 2 * n * (784 * 400 + 2 * 400 * 20 + 20 * 400 + 400 * 784)
    dx = 2 * n * (2 * 400 * 20 + 20 * 400 + 400 * 784)
    assert step_flops(VAE(), n) == 2 * fwd + dx == 419_840_000
    assert epoch_flops(VAE(), 60000, 128) == 468 * 419_840_000 + step_flops(VAE(), 96)


def test_variants_bench_times_each_variant_against_the_default_and_a_baseline_checkout(capsys):
    """`bench variants`: every variant's step next to the default's; --baseline runs a checkout in a child."""
    root = str(Path(__file__).resolve().parents[1])               # this tree, as its own baseline
    argv = ["--steps", "2", "--rounds", "2", "--limit", "300", "--variants", "cvae", "denoising", "iwae k = 5",
            "--baseline", root]
    assert variants_main(argv) == 0
    out, res = last_json(capsys)
    assert list(res["variants"]) == ["default", "cvae", "denoising", "iwae k = 5"]
    assert res["variants"]["default"]["ratio_to_default"] == 1.0
    for v in res["variants"].values():
        assert v["ms"] > 0 and v["baseline_ms"] > 0 and 0 <= v["batch_ms"] < v["ms"]
        assert v["ratio_to_baseline"] == pytest.approx(v["ms"] / v["baseline_ms"])
    assert res["variants"]["denoising"]["batch_ms"] > res["variants"]["default"]["batch_ms"]   # noise is drawn
    assert "worst non-IWAE variant" in out and f"baseline: {root}" in out


def test_variants_bench_refuses_a_baseline_that_is_no_checkout(tmp_path):
    with pytest.raises(SystemExit, match="no minivae/ package"):
        variants_main(["--steps", "1", "--rounds", "1", "--limit", "200", "--variants", "default",
                       "--baseline", str(tmp_path)])
