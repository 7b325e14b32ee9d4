"""The trainer: KL warm-up, learning-rate schedules, time budget, divergence stop,
early stopping / model selection, dynamic binarization, denoising, and learning."""
import math
import types

import numpy as np
import pytest

import minivae.train.loop as train_mod
from minivae import VAE
from minivae.datasets import load_dataset
from minivae.errors import ConfigError, TrainingDivergedError
from minivae.train import TrainConfig, fit, kl_weight, learning_rate

TINY = dict(input_dim=6, hidden_dims=(5,), latent_dim=2, activation="tanh")


def tiny_data(n=40, seed=0):
    return np.random.default_rng(seed).random((n, 6)).astype(np.float32)


def record_calls(vae, on_call=None):
    """Wrap vae.loss to record (KL weight, x, target) of every training batch; on_call(i) may act first."""
    calls, orig = [], vae.loss

    def loss(x, y=None, eps=None, target=None, check=True, beta=None):
        if on_call is not None:
            on_call(len(calls))
        calls.append({"beta": vae.beta if beta is None else beta, "x": np.array(x),
                      "target": None if target is None else np.array(target)})
        return orig(x, y=y, eps=eps, target=target, check=check, beta=beta)
    vae.loss = loss
    return calls


def test_kl_warmup_schedule_values():
    assert kl_weight(2.0, 0, 10) == 0.0
    assert kl_weight(2.0, 5, 10) == 1.0
    assert kl_weight(2.0, 10, 10) == 2.0 and kl_weight(2.0, 99, 10) == 2.0
    assert kl_weight(2.0, 0, 0) == 2.0                      # no warm-up: beta from the first step
    vae = VAE(**TINY, beta=2.0)
    calls = record_calls(vae)
    history = fit(vae, tiny_data(40), epochs=3, batch_size=10, warmup_epochs=2, progress=False)
    steps = len(calls)                                       # 4 steps per epoch, 12 in all
    assert steps == 12
    np.testing.assert_allclose([c["beta"] for c in calls], [2.0 * min(1, s / 8) for s in range(steps)])
    assert [h["beta"] for h in history] == pytest.approx([2.0 * 3 / 8, 2.0 * 7 / 8, 2.0])   # at each epoch's end
    assert vae.beta == 2.0                                   # the model's KL weight is never changed


def test_learning_rate_schedules():
    cos = TrainConfig(lr=1e-3, lr_min=1e-4, lr_schedule="cosine")
    assert learning_rate(cos, 0, 0.0) == pytest.approx(1e-3)
    assert learning_rate(cos, 5, 0.5) == pytest.approx(5.5e-4)
    assert learning_rate(cos, 9, 1.0) == pytest.approx(1e-4)
    assert learning_rate(cos, 9, 2.0) == pytest.approx(1e-4)  # past the end: the floor
    exp = TrainConfig(lr=1e-3, lr_min=2e-4, lr_schedule="exponential", lr_decay=0.5)
    assert learning_rate(exp, 1, 0) == pytest.approx(5e-4)
    assert learning_rate(exp, 1.5, 0) == pytest.approx(1e-3 * 0.5 ** 1.5)
    assert learning_rate(exp, 10, 0) == pytest.approx(2e-4)
    assert learning_rate(TrainConfig(lr=3e-3), 50, 0.9) == 3e-3
    vae = VAE(**TINY)
    history = fit(vae, tiny_data(40), epochs=4, batch_size=10, lr=1e-2, lr_min=1e-3, lr_schedule="cosine",
                  progress=False)
    lrs = [h["lr"] for h in history]                       # the lr of each epoch's last step
    assert lrs == sorted(lrs, reverse=True)
    assert lrs[-1] == pytest.approx(1e-3 + 9e-3 * 0.5 * (1 + math.cos(math.pi * 15 / 16)))
    for bad, match in ((dict(lr_schedule="step"), r"lr_schedule must be one of .*, got 'step'"),
                       (dict(lr_min=1.0), r"lr_min must be a finite number in \[0, lr=0.001\], got 1.0"),
                       (dict(lr_decay=0.0), r"lr_decay .* in \(0, 1\], got 0.0"),
                       (dict(lr_decay=1.5), r"lr_decay .* in \(0, 1\], got 1.5"),
                       (dict(eval_every=0), r"eval_every must be an integer >= 1, got 0"),
                       (dict(budget_clock="gpu"), r"budget_clock must be 'wall' or 'cpu', got 'gpu'")):
        with pytest.raises(ConfigError, match=match):
            TrainConfig(**bad)


class FakeTime:
    """A clock that only moves when a training batch runs (0.1 s each): deterministic time budgets."""

    def __init__(self):
        self.now = 0.0

    def perf_counter(self):
        return self.now

    process_time = perf_counter


@pytest.mark.parametrize("clock", ["wall", "cpu"])
def test_time_budget_stops_before_an_epoch_would_overrun_it(monkeypatch, clock):
    fake = FakeTime()
    monkeypatch.setattr(train_mod, "time", fake)
    vae = VAE(**TINY)
    record_calls(vae, on_call=lambda i: setattr(fake, "now", fake.now + 0.1))
    # 4 batches per epoch = 0.4 s; after 2 epochs (0.8 s) a third would end at 1.2 s > 1.0 s
    history = fit(vae, tiny_data(40), epochs=100, batch_size=10, time_budget=1.0, budget_clock=clock,
                  progress=False)
    assert len(history) == 2 and fake.now <= 1.0
    history = fit(VAE(**TINY), tiny_data(40), epochs=3, batch_size=10, time_budget=1e9, progress=False)
    assert len(history) == 3                               # a generous budget changes nothing


def test_time_budget_real_clock():
    history = fit(VAE(**TINY), tiny_data(40), epochs=10**6, batch_size=10, time_budget=0.3, progress=False)
    assert 1 <= len(history) < 10**6
    assert sum(h["epoch_time_s"] for h in history) < 5.0


def test_nan_stop_names_epoch_and_batch_and_keeps_the_last_good_checkpoint(tmp_path):
    vae = VAE(**TINY, seed=1)
    ckpt = tmp_path / "model.npz"
    saved = []

    def poison(i):                                         # the 3rd batch of epoch 2 meets a NaN weight
        if i == 4 + 2:
            vae.params["decoder.0.W"][0, 0] = np.nan

    record_calls(vae, on_call=poison)
    with pytest.raises(TrainingDivergedError, match=r"epoch 2, batch 3 of 4") as info:
        fit(vae, tiny_data(40), epochs=5, batch_size=10, progress=False,
            on_epoch_end=lambda entry, m: (m.save(ckpt), saved.append(entry["epoch"])))
    assert "--lr" in str(info.value)                       # and says what to try
    assert saved == [1]
    good = VAE.load(ckpt)
    for name, p in vae.params.items():                     # the model is back at its epoch-1 weights
        assert np.all(np.isfinite(p))
        np.testing.assert_array_equal(p, good.params[name])


def test_early_stopping_restores_the_best_validation_weights(monkeypatch):
    val_losses = iter([5.0, 3.0, 4.0, 6.0, 7.0, 8.0])
    real_evaluate = train_mod.evaluate

    def scripted(vae, x, y=None, batch_size=1000):
        out = real_evaluate(vae, x, y, batch_size)
        return {**out, "loss": next(val_losses)} if x.shape[0] == 10 else out
    monkeypatch.setattr(train_mod, "evaluate", scripted)
    vae = VAE(**TINY)
    weights = {}
    history = fit(vae, tiny_data(40), val_x=tiny_data(10, seed=1), epochs=20, batch_size=10, patience=2,
                  progress=False, on_epoch_end=lambda e, m: weights.__setitem__(e["epoch"], {k: v.copy() for k, v in m.params.items()}))
    assert [h["epoch"] for h in history] == [1, 2, 3, 4]   # no improvement for 2 epochs after epoch 2
    for name, p in vae.params.items():
        np.testing.assert_array_equal(p, weights[2][name])
        assert not np.array_equal(p, weights[4][name])


def test_keep_best_and_eval_every():
    vae = VAE(**TINY)
    history = fit(vae, tiny_data(40), val_x=tiny_data(10, seed=1), epochs=5, batch_size=10, eval_every=2,
                  keep_best=True, progress=False)
    assert [("val_loss" in h) for h in history] == [False, True, False, True, True]
    with pytest.raises(ConfigError, match="validation"):
        fit(VAE(**TINY), tiny_data(40), epochs=1, keep_best=True, progress=False)
    with pytest.raises(ConfigError, match="validation"):
        fit(VAE(**TINY), tiny_data(40), epochs=1, patience=2, progress=False)


def test_binarized_batches_are_binary_and_resampled():
    vae = VAE(**TINY)
    calls = record_calls(vae)
    x = np.full((20, 6), 0.3, dtype=np.float32)
    fit(vae, x, epochs=3, batch_size=20, binarize=True, progress=False)
    batches = [c["x"] for c in calls]
    assert all(set(np.unique(b)) <= {0.0, 1.0} for b in batches)
    assert 0.2 < np.mean(batches) < 0.4                     # P(pixel = 1) = intensity
    assert not np.array_equal(batches[0], batches[1])       # a new draw every batch
    np.testing.assert_array_equal(x, np.float32(0.3))       # the training data is untouched


def test_denoising_feeds_a_corrupted_input_and_reconstructs_the_clean_one():
    vae = VAE(**TINY)
    calls = record_calls(vae)
    x = tiny_data(20)
    fit(vae, x, epochs=1, batch_size=20, denoise=0.2, mask_noise=0.3, progress=False, seed=3)
    c = calls[0]
    assert c["target"] is not None and not np.array_equal(c["x"], c["target"])
    assert np.mean(c["x"] == 0) > 0.2                        # masked pixels
    assert c["x"].min() >= 0 and c["x"].max() <= 1
    assert sorted(map(tuple, c["target"])) == sorted(map(tuple, x))   # the clean batch is the target


def test_train_loss_falls_on_real_mnist():
    """The model learns more than the mean image: started there (output bias), it ends 20 nats below the
    negative ELBO of a decoder that always outputs the mean image (seen: 37 below).

    That decoder's expected NLL on binarized images is the cross-entropy of the pixel means p against
    the intensities x (E[b] = x), and its KL is 0 (q = the prior)."""
    x = load_dataset("mnist", "train").x[:1000]
    p = np.clip(x.astype(np.float64).mean(axis=0), 1e-6, 1 - 1e-6)
    mean_image_loss = -(x * np.log(p) + (1 - x) * np.log1p(-p)).sum(axis=1).mean()      # 203 nats
    vae = VAE(hidden_dims=(64,), latent_dim=8, seed=0).init_output_bias(x)
    history = fit(vae, x, epochs=4, batch_size=50, binarize=True, lr=3e-3, progress=False)
    losses = [h["train_loss"] for h in history]
    assert all(math.isfinite(v) for v in losses)
    assert losses[0] > mean_image_loss - 5, losses                 # the first epoch: about the mean image
    assert losses[-1] < mean_image_loss - 20, (losses, mean_image_loss)


def test_conditional_training_uses_the_labels():
    """Every batch the CVAE sees (the shuffled training batches, the test evaluation) carries each
    image's own label, and the epoch shows every training image once."""
    ds = load_dataset("mnist", "train")
    vae = VAE(hidden_dims=(32,), latent_dim=4, num_classes=10, seed=0)
    seen, orig = [], vae.loss

    def loss(x, y=None, eps=None, target=None, check=True, beta=None):
        seen.append((np.array(x), None if y is None else np.array(y)))
        return orig(x, y=y, eps=eps, target=target, check=check, beta=beta)
    vae.loss = loss
    history = fit(vae, ds.x[:200], train_y=ds.y[:200], test_x=ds.x[200:300], test_y=ds.y[200:300], epochs=1,
                  batch_size=50, progress=False)
    assert math.isfinite(history[0]["test_loss"])
    label_of = {row.tobytes(): label for row, label in zip(ds.x[:300], ds.y[:300])}
    assert len(label_of) == 300                                          # no two of these images are equal
    for x, y in seen:
        assert y is not None and y.tolist() == [label_of[row.tobytes()] for row in x]
    train_rows = [row.tobytes() for x, _ in seen if len(x) == 50 for row in x]      # the test set is one batch of 100
    assert sorted(train_rows) == sorted(row.tobytes() for row in ds.x[:200])
    with pytest.raises(ConfigError, match="train_y"):
        fit(vae, ds.x[:200], train_y=ds.y[:100], epochs=1, progress=False)


def test_fit_does_not_touch_global_numpy_state():
    state = np.random.get_state()[1].copy()
    fit(VAE(**TINY), tiny_data(20), epochs=1, batch_size=10, progress=False, binarize=True, denoise=0.1)
    np.testing.assert_array_equal(np.random.get_state()[1], state)
    assert isinstance(train_mod.time, types.ModuleType)


def test_learned_variance_floor_holds_during_training_and_survives_a_checkpoint(tmp_path):
    """Constant pixels pull their variance towards 0; the floor stops it there, the other pixels are free."""
    rng = np.random.default_rng(0)
    x = (2 * rng.standard_normal((256, 12))).astype("float32")      # noisy pixels, variance 4 ...
    x[:, :4] = 0.0                                                   # ... and a border that is always off
    kw = dict(input_dim=12, hidden_dims=(8,), latent_dim=2, likelihood="gaussian", learn_variance=True, seed=0)
    free = VAE(**kw)
    fit(free, x, epochs=30, batch_size=32, lr=0.05, progress=False)
    floored = VAE(**kw, min_obs_logvar=-1.5)
    fit(floored, x, epochs=30, batch_size=32, lr=0.05, progress=False)
    assert free.params["decoder.logvar"][:4].max() < -1.5                # without the floor it falls through
    lv = floored.params["decoder.logvar"]
    assert lv.min() >= -1.5 and np.allclose(lv[:4], -1.5)                # held at the floor
    assert lv[4:].max() > -1.5                                            # the other pixels still learn
    floored.save(tmp_path / "m.npz")
    assert VAE.load(tmp_path / "m.npz").config.min_obs_logvar == -1.5
