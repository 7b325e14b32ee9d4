"""``bench --model gan``: the torch side is the same algorithm as minivae's, step for step; the report's figures.

The proof that the benchmark compares like with like: from the same weights,
batch and noise, one iteration of each side gives the same gradients, losses
and new weights in float64, to ~1e-10 (seen: 1e-13), for every loss.
"""
import json
import sys

import numpy as np
import pytest

from minivae import GAN
from minivae.bench import main
from minivae.bench.gan import MiniGANTrainer, epoch_flops, step_flops, yardstick
from minivae.datasets import load_dataset
from minivae.train import Batch, TrainConfig

LOSSES = ["minimax", "ns", "lsgan", "wgan", "wgan-gp"]
TOL = 1e-10                     # float64; both sides agree to ~1e-13
N = 32


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch", reason="PyTorch is not installed: the torch side cannot be compared")


@pytest.fixture(scope="module")
def images():
    return load_dataset("mnist", "train").x[:12 * N].astype(np.float64)


def rel_diff(a, b):
    """Gradients, array by array: the largest max|a - b| / max(|a|, |b|) (0 where both are all zeros)."""
    def one(u, v):
        d = float(np.abs(u - v).max())
        return d and d / max(float(np.abs(u).max()), float(np.abs(v).max()))
    return max(one(a[k], b[k]) for k in b)


def weight_diff(a, b):
    """Weights: max|a - b| over all of them / their largest magnitude.

    Not array by array: a gradient that is 0 up to rounding (~1e-18, e.g. a bias's under WGAN's loss,
    -1/N + 1/N) moves its weight by lr g / (|g| + eps), so Adam and RMSProp turn that rounding into
    ~lr/eps * 1e-18 = 1e-14, which is large next to a bias that has itself moved only by ~lr.
    """
    return max(float(np.abs(a[k] - b[k]).max()) for k in b) / max(float(np.abs(b[k]).max()) for k in b)


def twins(loss, seed=3):
    """A float64 minivae GAN with its optimizers, and the torch trainer built from it (weights, rng copied)."""
    from minivae.bench.torch_gan import TorchGANTrainer

    gan = GAN(loss=loss, dtype="float64", seed=seed)
    opts = gan.configure_optimizers(TrainConfig(lr=gan.train_defaults()["lr"]))
    return gan, opts, TorchGANTrainer(gan, None, opts, threads=1)


def snapshot(gan):
    return {k: v.copy() for k, v in gan.params.items()}


@pytest.mark.parametrize("loss", LOSSES)
def test_one_iteration_from_the_same_weights_z_and_batch_gives_the_same_gradients_and_new_weights(torch, images,
                                                                                                   loss):
    gan, opts, tt = twins(loss)
    rng = np.random.default_rng(7)
    x, z = images[:N], rng.uniform(-1, 1, (N, 96))
    alpha = rng.random((N, 1)) if loss == "wgan-gp" else None
    start = snapshot(gan)
    assert weight_diff(tt.parameters(), start) == 0                          # the torch side starts from the copy
    # critic step: loss, gradients, then the update (and WGAN's clipping)
    d = gan.discriminator_loss(x, z=z, alpha=alpha)
    gan.backward()
    d_torch = tt.critic_step(torch.from_numpy(2 * x - 1), z=z, alpha=alpha)
    assert float(d["loss"]) == pytest.approx(d_torch, rel=TOL, abs=TOL)
    assert rel_diff(tt.gradients("discriminator"), gan.part_grads["discriminator"]) < TOL
    opts["discriminator"].step(gan.part_grads["discriminator"])
    gan.apply_constraints()
    assert weight_diff(tt.parameters(), gan.params) < TOL
    # generator step through the updated critic
    z2 = rng.uniform(-1, 1, (N, 96))
    g = gan.generator_loss(z=z2)
    gan.backward()
    g_torch = tt.generator_step(N, z=z2)
    assert float(g["loss"]) == pytest.approx(g_torch, rel=TOL, abs=TOL)
    assert rel_diff(tt.gradients("generator"), gan.part_grads["generator"]) < TOL
    opts["generator"].step(gan.part_grads["generator"])
    assert weight_diff(tt.parameters(), gan.params) < TOL
    for part in ("generator", "discriminator"):                          # both players really moved
        moved = max(float(np.abs(gan.params[k] - start[k]).max()) for k in gan.part_params[part])
        assert moved > 1e-5, (part, moved)


@pytest.mark.parametrize("loss", LOSSES)
def test_the_bench_step_sequence_and_its_drawn_noise_are_the_same_on_both_sides(torch, images, loss):
    """gan.train_step (z, alpha from gan.rng) against the trainer's step (z, alpha from its copy of that rng),
    over n_critic + 2 iterations: critic steps, the generator step after the n_critic-th, and more."""
    gan, opts, tt = twins(loss)
    k = gan.config.n_critic
    for i in range(k + 2):
        xb = images[i * N:(i + 1) * N]
        m = gan.train_step(Batch(x=xb, target=xb), opts)
        d, g = tt.step(torch.from_numpy(2 * xb - 1))
        assert float(m["d_loss"]) == pytest.approx(d, rel=TOL, abs=TOL)
        assert ("g_loss" in m) == (g is not None) == ((i + 1) % k == 0)
        if g is not None:
            assert float(m["g_loss"]) == pytest.approx(g, rel=TOL, abs=TOL)
    assert weight_diff(tt.parameters(), gan.params) < TOL
    assert np.array_equal(tt.rng.random(4), gan.rng.random(4))          # both drew exactly as much noise


def test_the_comparison_tells_a_different_optimizer_setting_apart(torch, images):
    """The tolerance is meaningful: RMSprop's alpha 0.9 instead of minivae's rho 0.99 shows after two steps."""
    gan, opts, tt = twins("wgan")
    tt.d_opt.param_groups[0]["alpha"] = 0.9
    for i in range(2):
        xb = images[i * N:(i + 1) * N]
        gan.train_step(Batch(x=xb, target=xb), opts)
        tt.step(torch.from_numpy(2 * xb - 1))
    assert weight_diff(tt.parameters(), gan.params) > 1e3 * TOL


def test_flop_count_of_the_cs231n_gan():
    gan, n = GAN(), 128
    G = 96 * 1024 + 1024 * 1024 + 1024 * 784
    D = 784 * 256 + 256 * 256 + 256 * 1
    critic = 2 * n * G + 2 * (2 * 2 * n * D) + 2 * 2 * n * (D - 784 * 256)   # G fwd; D fwd, dW on 2n; dx but the first
    generator = 2 * (2 * n * G) + 2 * n * (G - 96 * 1024) + 2 * (2 * n * D)   # G fwd, dW, dx but the first; D fwd, dx
    assert step_flops(gan, n) == (critic, generator)
    assert epoch_flops(gan, 300, 128) == 2 * (critic + generator) + sum(step_flops(gan, 44))
    wgan = GAN(loss="wgan")                                                  # a generator step after every 5th
    assert epoch_flops(wgan, 6 * 128, 128) == 6 * critic + generator


def test_the_yardstick_is_skipped_with_a_note_without_minivae_metrics(monkeypatch):
    monkeypatch.setitem(sys.modules, "minivae.metrics", None)
    quality, note = yardstick({"minivae": np.zeros((10, 784))})
    assert quality is None and "minivae.metrics is not available" in note


def test_the_minivae_side_trains_as_fit_would():
    x = load_dataset("mnist", "train").x[:200]
    t = MiniGANTrainer(dict(loss="ns"), x, lr=1e-3, seed=0)
    sec, losses = t.epoch(np.arange(200), 128)
    assert sec > 0 and t.opt["discriminator"].t == t.opt["generator"].t == 2       # 2 iterations, last of 72
    assert np.isfinite(losses["d_loss"]) and np.isfinite(losses["g_loss"])
    imgs = t.sample(np.zeros((3, 96), np.float32))
    assert imgs.shape == (3, 784) and imgs.min() >= 0 and imgs.max() <= 1


SMOKE = ["--model", "gan", "--limit", "256", "--epochs", "2", "--warmup", "0", "--samples", "100", "--pause", "0"]


def test_smoke_run_vs_torch_reports_times_ratio_and_the_yardstick(torch, capsys):
    assert main(SMOKE + ["--vs", "torch", "--threads", "1"]) == 0
    out = capsys.readouterr().out
    res = json.loads(out.strip().splitlines()[-1])
    assert "ratio minivae / torch" in out and "ms / iteration" in out and "FID" in out
    assert res["steps_per_epoch"] == 2 and res["batch_size"] == 128 and res["lr"] == 1e-3
    assert len(res["epoch_times_s"]) == len(res["torch_epoch_times_s"]) == 2
    assert res["ratio"] == pytest.approx(res["epoch_time_s"] / res["torch_epoch_time_s"])
    assert res["iteration_ms"] == pytest.approx(1e3 * res["epoch_time_s"] / 2)
    assert res["examples_per_s"] == pytest.approx(256 / res["epoch_time_s"])
    assert res["flops_per_epoch"] == 2 * sum(step_flops(GAN(), 128))
    # same data order, noise and algorithm in the child process: the float32 losses agree to rounding
    assert res["d_loss"] == pytest.approx(res["torch_d_loss"], rel=1e-4)
    assert res["g_loss"] == pytest.approx(res["torch_g_loss"], rel=1e-4)
    q = res["quality"]
    assert set(q) == {"minivae", "torch", "real data"} and q["minivae"]["n"] == 100
    assert q["minivae"]["fid"] == pytest.approx(q["torch"]["fid"], rel=1e-3)   # same z, same weights to rounding
    assert q["real data"]["fid"] < q["minivae"]["fid"]                         # 4 steps make no digits yet
    assert res["torch_peak_rss_mb"] > 0


def test_without_torch_the_gan_bench_says_how_to_get_it(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)
    assert main(SMOKE + ["--vs", "torch", "--samples", "0", "--epochs", "1", "--limit", "128"]) == 2
    assert "pip install torch" in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["--loss", "wgan"], "--model gan"),                                        # a GAN option on the VAE bench
    (SMOKE + ["--batch-size", "64", "128"], "one --batch-size"),
    (SMOKE + ["--backend", "cupy"], "NumPy backend"),
    (SMOKE + ["--samples", "1"], "--samples"),
    (SMOKE + ["--threads", "0"], "--threads"),
])
def test_bad_gan_bench_options_are_refused(capsys, argv, message):
    assert main(argv) == 2
    assert message in capsys.readouterr().err
