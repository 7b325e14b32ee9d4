"""The training loop serves any model: a two-optimizer model through fit unchanged, one TrainState, reused buffers."""
import math

import numpy as np
import pytest

from minivae import VAE, Adam
from minivae.backend import get_backend
from minivae.backend.buffers import Buffers
from minivae.errors import TrainingDivergedError
from minivae.layers import Dense, pack_parameters
from minivae.models.base import Model
from minivae.train import Batch, TrainConfig, TrainState, corrupt, fit


class TwoPlayer(Model):
    """An autoencoder x -> Dense a -> Dense b trained like a GAN: k steps of part a, then one of part b.

    Each part has its own optimizer; ``train_step`` does the whole sequence,
    as a GAN's k discriminator steps and a generator step will.
    """

    def __init__(self, d=6, h=3, k=2, seed=0):
        rng = np.random.default_rng(seed)
        self.backend, self.k, self.rng = get_backend("numpy"), k, np.random.default_rng(seed)
        self.a = Dense(d, h, rng, self.backend, "float64", activation="tanh")
        self.b = Dense(h, d, rng, self.backend, "float64")
        self.params, self.grads = pack_parameters([("a", self.a), ("b", self.b)], backend=self.backend,
                                                  dtype="float64")

    def _loss(self, x):
        r = self.b.forward(self.a.forward(x)) - x
        return 0.5 * float((r * r).sum()) / len(x), r / len(x)

    def check_data(self, x, y=None, name="x"):
        return np.asarray(x, dtype="float64")

    def configure_optimizers(self, config):
        part = lambda p: {k: v for k, v in self.params.items() if k.startswith(p)}  # noqa: E731
        return {"a": Adam(part("a."), lr=config.lr), "b": Adam(part("b."), lr=config.lr / 2)}

    def train_step(self, batch, optimizers):
        for _ in range(self.k):
            loss_a, dr = self._loss(batch.x)
            self.a.backward(self.b.backward(dr))
            optimizers["a"].step({k: v for k, v in self.grads.items() if k.startswith("a.")})
        loss_b, dr = self._loss(batch.x)
        self.b.backward(dr, need_dx=False)
        optimizers["b"].step({k: v for k, v in self.grads.items() if k.startswith("b.")})
        return {"loss": loss_b, "loss_a": loss_a}

    def eval_step(self, batch):
        return {"loss": self._loss(batch.x)[0]}


def data(n=64, d=6, seed=0):
    return np.random.default_rng(seed).random((n, d))


def test_fit_trains_a_model_with_two_optimizers_and_k_steps_unchanged():
    model = TwoPlayer()
    state = TrainState.start(model, TrainConfig(epochs=30, batch_size=16, lr=1e-2))
    history = fit(model, data(), test_x=data(16, seed=1), epochs=30, batch_size=16, lr=1e-2, progress=False,
                  state=state, lr_schedule="cosine", lr_min=1e-3)
    assert len(history) == 30 and {"train_loss", "train_loss_a", "test_loss", "lr_a", "lr_b"} <= set(history[0])
    assert history[-1]["train_loss"] < 0.5 * history[0]["train_loss"]
    assert state.optimizers["a"].t == 2 * 30 * 4 and state.optimizers["b"].t == 30 * 4   # k = 2 steps of a per step
    assert state.step == 120 and state.epoch == 30 and state.history is history
    assert history[-1]["lr_b"] == pytest.approx(history[-1]["lr_a"] / 2)               # one schedule, each base lr


def test_fit_resumes_from_its_state_exactly():
    """Everything a run needs is in TrainState: 2 + 2 epochs give the weights of 4 in one go."""
    x = data(50)
    once = VAE(input_dim=6, hidden_dims=(5,), latent_dim=2, seed=3)
    fit(once, x, epochs=4, batch_size=16, binarize=True, denoise=0.1, warmup_epochs=3, progress=False)
    twice = VAE(input_dim=6, hidden_dims=(5,), latent_dim=2, seed=3)
    cfg = dict(batch_size=16, binarize=True, denoise=0.1, warmup_epochs=3)
    state = TrainState.start(twice, TrainConfig(epochs=2, **cfg))
    fit(twice, x, config=TrainConfig(epochs=2, **cfg), progress=False, state=state)
    history = fit(twice, x, config=TrainConfig(epochs=4, **cfg), progress=False, state=state)
    assert [h["epoch"] for h in history] == [1, 2, 3, 4]
    for k, p in once.params.items():
        np.testing.assert_array_equal(p, twice.params[k])


def test_the_nan_guard_works_for_any_model():
    model = TwoPlayer()
    model.params["b.W"][0, 0] = np.nan
    with pytest.raises(TrainingDivergedError, match="epoch 1, batch 1 of 4"):
        fit(model, data(), epochs=2, batch_size=16, progress=False)


def test_buffers_are_reused_and_only_a_few_batch_sizes_are_kept():
    buf = Buffers(np, "float32", keep=2)
    a = buf("y", (8, 3))
    assert buf("y", (8, 3)) is a and a.dtype == np.float32
    assert buf("y", (8, 5)) is not a                                        # another shape: a new array
    buf("y", (4, 3))
    buf("y", (2, 3))                                                        # a third size evicts the oldest (8)
    assert buf.sizes() == [4, 2] and buf("y", (8, 5)) is not a


def test_dense_outputs_are_its_buffers_until_the_next_call_of_that_size():
    layer = Dense(3, 4, np.random.default_rng(0), np, "float64", activation="relu")
    x1, x2 = np.ones((5, 3)), np.full((5, 3), 2.0)
    y1 = layer.forward(x1)
    saved = y1.copy()
    assert layer.forward(x2) is y1 and not np.array_equal(y1, saved)       # same storage, new values
    assert layer.forward(np.ones((7, 3))) is not y1                         # another batch size, another buffer


def test_corrupt_into_buffers_equals_corrupt_alone_and_leaves_x_alone():
    x = data(20, 8).astype(np.float32)
    before = x.copy()
    want = corrupt(x, np.random.default_rng(4), 0.3, 0.2)
    out, work = np.empty_like(x), np.empty_like(x)
    got = corrupt(x, np.random.default_rng(4), 0.3, 0.2, out=out, work=work)
    assert got is out and np.array_equal(got, want)
    np.testing.assert_array_equal(x, before)
    assert got.min() >= 0 and got.max() <= 1 and 0.1 < np.mean(got == 0) < 0.4


def test_an_uncorrupted_batch_is_its_own_target():
    vae = VAE(input_dim=6, hidden_dims=(5,), latent_dim=2)
    seen = []
    step = vae.train_step
    vae.train_step = lambda batch, opts: (seen.append(batch), step(batch, opts))[1]
    fit(vae, data(16).astype(np.float32), epochs=1, batch_size=16, progress=False)
    assert isinstance(seen[0], Batch) and seen[0].x is seen[0].target and seen[0].warmup == 1.0
    assert math.isfinite(vae.eval_step(seen[0])["loss"])


class EveryOther(TwoPlayer):
    """Reports ``sometimes`` = 1 on every other step only (as a GAN's generator loss comes every n_critic steps)."""

    calls = 0

    def train_step(self, batch, optimizers):
        out = super().train_step(batch, optimizers)
        self.calls += 1
        return {**out, **({"sometimes": 1.0} if self.calls % 2 else {})}


def test_a_metric_that_some_steps_lack_is_averaged_over_the_steps_that_have_it():
    history = fit(EveryOther(), data(64), epochs=2, batch_size=8, progress=False)
    assert [h["train_sometimes"] for h in history] == [1.0, 1.0]              # not 0.5: divided by its own count


class Recorder:
    """A callback that keeps what fit tells it."""

    def __init__(self):
        self.steps, self.epochs = [], []

    def on_step(self, step, metrics, model):
        self.steps.append((step, float(metrics["loss"])))

    def on_epoch_end(self, entry, model):
        self.epochs.append(entry["epoch"])


def test_callbacks_see_every_step_and_epoch_in_order_and_the_model_is_not_patched():
    model, rec, calls = TwoPlayer(), Recorder(), []
    history = fit(model, data(), epochs=2, batch_size=16, progress=False, callbacks=[rec],
                  on_epoch_end=lambda entry, m: calls.append(("plain", entry["epoch"], list(rec.epochs))))
    assert [s for s, _ in rec.steps] == list(range(1, 9)) and rec.epochs == [1, 2]
    assert calls == [("plain", 1, [1]), ("plain", 2, [1, 2])]                     # after the callbacks
    assert "train_step" not in vars(model)
    per_epoch = [np.mean([v for s, v in rec.steps if (s - 1) // 4 == e]) for e in range(2)]
    np.testing.assert_allclose([h["train_loss"] for h in history], per_epoch, rtol=1e-12)


def test_a_resumed_run_numbers_its_steps_on_from_its_state():
    model, rec = TwoPlayer(), Recorder()
    state = TrainState.start(model, TrainConfig(epochs=1, batch_size=16))
    fit(model, data(), config=TrainConfig(epochs=1, batch_size=16), progress=False, state=state)
    fit(model, data(), config=TrainConfig(epochs=2, batch_size=16), progress=False, state=state, callbacks=[rec])
    assert [s for s, _ in rec.steps] == [5, 6, 7, 8] and rec.epochs == [2]


def test_the_step_log_as_a_callback_means_each_window_of_steps_and_no_window_crosses_an_epoch(tmp_path):
    from minivae.train import StepLog
    rec, called = Recorder(), StepLog(["loss", "loss_a"], 3, 4, path=tmp_path / "s.json")
    fit(TwoPlayer(), data(), epochs=2, batch_size=16, progress=False, callbacks=[rec, called])
    loss = [v for _, v in rec.steps]                                    # 8 steps, 4 an epoch: windows 1-3, 4, 5-7, 8
    assert called.record()["step"] == [3, 4, 7, 8]
    np.testing.assert_allclose(called.record()["loss"], [np.mean(loss[:3]), loss[3], np.mean(loss[4:7]), loss[7]],
                               rtol=1e-12)
    again = StepLog.resume(tmp_path / "s.json", ["loss", "loss_a"], 3, 4, step=4)   # resumed after epoch 1
    assert again.columns["step"] == [3, 4]
