"""The VQ-VAE: its loss, float64 gradient checks (true and straight-through), options, codebook upkeep,
checkpoints and exact resume, and a short run on real MNIST."""
import math

import numpy as np
import pytest

from minivae.models.checkpoint import checkpoint_kind, load_checkpoint
from minivae.datasets import load_data
from minivae.errors import CheckpointError, ConfigError, DataError, MiniVAEError, ShapeError
from minivae.gradcheck import check_model_gradients
from minivae.layers import dense_forward
from minivae.quantizer import perplexity
from minivae.train import Batch, TrainConfig, evaluate, fit, load_run
from minivae.models.vae import VAE
from minivae.models.vqvae import VQVAE
from tests.conftest import data

SMALL = dict(input_dim=6, hidden_dims=(5,), latent_dim=3, code_dim=2, codebook_size=4, dtype="float64", init="he")


def nll(x, out, likelihood):
    """-log p(x|out) per example by the textbook formulas (an independent oracle)."""
    if likelihood == "bernoulli":
        return (np.logaddexp(0, out) - x * out).sum(axis=1)
    return (0.5 * (x - out) ** 2 + 0.5 * math.log(2 * math.pi)).sum(axis=1)


def smallest_pre_activation(model, x):
    """min |a| over every hidden ReLU input of encoder and decoder (the distance to a kink)."""
    P, pre = model.params, []
    z_q = model.params["codebook"][model.encode(x)].reshape(x.shape[0], -1)
    for part, h in (("encoder", x), ("decoder", z_q)):
        for i in range(len(model.config.hidden_dims)):
            a = dense_forward(h, P[f"{part}.{i}.W"], P[f"{part}.{i}.b"])[0]
            pre.append(np.abs(a).min())
            h = np.maximum(a, 0)
    return min(pre)


def ready_model(likelihood="bernoulli", seed=3, **kw):
    model = VQVAE(**{**SMALL, **kw}, likelihood=likelihood, seed=seed)
    x = data(7, 6)
    model.init_codebook(x)                                  # codes spread over the encoder outputs
    assert smallest_pre_activation(model, x) > 1e-2         # finite differences (steps <= 2e-3) cross no kink
    return model, x


def test_param_names_follow_the_documented_layout():
    model = VQVAE(hidden_dims=(400, 200))
    assert list(model.params) == ["encoder.0.W", "encoder.0.b", "encoder.1.W", "encoder.1.b", "encoder.2.W",
                                  "encoder.2.b", "decoder.0.W", "decoder.0.b", "decoder.1.W", "decoder.1.b",
                                  "decoder.2.W", "decoder.2.b", "codebook"]
    shapes = {k: v.shape for k, v in model.params.items()}
    assert shapes["encoder.2.W"] == (200, 160) and shapes["decoder.0.W"] == (160, 200)
    assert shapes["decoder.2.W"] == (400, 784) and shapes["codebook"] == (64, 8)
    assert list(model.grads) == list(model.params)


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
def test_loss_is_recon_plus_codebook_plus_beta_commitment(likelihood):
    model, x = ready_model(likelihood, commitment=0.4)
    out = model.loss(x)
    idx = model.encode(x)                                    # (N, G)
    z_e = model.encoder.predict(x).reshape(7, 3, 2)
    z_q = model.params["codebook"][idx]                      # (N, G, D)
    vq = ((z_e - z_q) ** 2).sum(axis=(1, 2)).mean()          # summed over G and D, mean over N
    recon = nll(x, model.decoder.predict(z_q.reshape(7, 6)), likelihood).mean()
    assert float(out["codebook"]) == pytest.approx(vq, rel=1e-12)
    assert float(out["commitment"]) == pytest.approx(vq, rel=1e-12)
    assert float(out["recon"]) == pytest.approx(recon, rel=1e-12)
    assert float(out["loss"]) == pytest.approx(recon + vq + 0.4 * vq, rel=1e-12)
    assert float(out["perplexity"]) == pytest.approx(float(perplexity(np.bincount(idx.ravel(), minlength=4))))


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
def test_decoder_and_codebook_gradients_are_true_gradients_at_fixed_codes(likelihood):
    """The argmin is piecewise constant: the small perturbations of the check leave every index as it was
    (asserted at each evaluation). With the stop-gradients, the codebook appears unstopped only in the
    codebook loss ||sg[z_e] - e||^2, so its gradient is that term's; the decoder's is the full loss's."""
    model, x = ready_model(likelihood)
    idx = model.encode(x)
    model.loss(x)
    grads = {k: v.copy() for k, v in model.backward().items()}

    def term(name):
        def f():
            out = model.loss(x)
            assert np.array_equal(model.encode(x), idx), "a perturbation changed a code"
            return out[name]
        return f
    decoder = [k for k in model.params if k.startswith("decoder.")]
    errors = check_model_gradients(term("loss"), model.params, grads, names=decoder)
    errors.update(check_model_gradients(term("codebook"), model.params, grads, names=["codebook"]))
    assert max(errors.values()) < 1e-7, errors
    # the plain loss value also moves with e through the decoder (z_q = e_idx): that path is stopped
    plain = check_model_gradients(term("loss"), model.params, grads, names=["codebook"])["codebook"]
    assert plain > 1e-3


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
def test_encoder_gradient_is_the_straight_through_surrogate(likelihood):
    """dL/dtheta_enc by definition: finite differences of the surrogate in which the decoder reads
    z_e + sg[z_q - z_e] (the value z_q, the gradient of z_e), plus beta ||z_e - sg[z_q]||^2."""
    model, x = ready_model(likelihood, commitment=0.7)
    z_q = model.params["codebook"][model.encode(x)].reshape(7, -1).copy()
    offset = z_q - model.encoder.predict(x)                 # sg[z_q - z_e] at the base point

    def surrogate():
        z_e = model.encoder.predict(x)
        recon = nll(x, model.decoder.predict(z_e + offset), likelihood).mean()
        return recon + 0.7 * ((z_e - z_q) ** 2).sum(axis=1).mean()
    model.loss(x)
    grads = {k: v.copy() for k, v in model.backward().items()}
    encoder = [k for k in model.params if k.startswith("encoder.")]
    errors = check_model_gradients(surrogate, model.params, grads, names=encoder)
    assert max(errors.values()) < 1e-7, errors


def test_float32_by_default_and_backward_needs_a_forward_pass():
    model = VQVAE(**{**SMALL, "dtype": "float32"})
    with pytest.raises(MiniVAEError, match="forward pass first"):
        model.backward()
    out = model.loss(data(5, 6))
    assert out["loss"].dtype == np.float32
    assert all(g.dtype == np.float32 for g in model.backward().values())


@pytest.mark.parametrize("option, value, message", [
    ("codebook_size", 1, "codebook_size"), ("codebook_size", 2.5, "codebook_size"), ("commitment", -0.1, "commitment"),
    ("commitment", math.nan, "commitment"), ("latent_dim", 0, "latent_dim"), ("code_dim", 0, "code_dim"),
    ("restart_every", 0, "restart_every"), ("restart_dead", "yes", "restart_dead"), ("hidden_dims", (4, 0), "hidden"),
    ("likelihood", "poisson", "likelihood"), ("activation", "swish", "activation"), ("init", "zeros", "init"),
    ("dtype", "float16", "dtype"), ("codebook_lr_scale", 0, "codebook_lr_scale"), ("input_dim", -1, "input_dim")])
def test_bad_options_raise_a_config_error_naming_the_option(option, value, message):
    with pytest.raises(ConfigError, match=message):
        VQVAE(**{**SMALL, option: value})


def test_bad_input_raises_clear_errors():
    model = VQVAE(**SMALL)
    with pytest.raises(ShapeError):
        model.loss(np.zeros((3, 5)))
    with pytest.raises(DataError, match="non-finite"):
        model.loss(np.full((3, 6), np.nan))
    with pytest.raises(DataError, match=r"\[0, 1\]"):
        model.encode(np.full((3, 6), 2.0))
    with pytest.raises(DataError, match=r"\[0, 4\)"):
        model.decode_codes(np.array([[0, 1, 4]]))
    with pytest.raises(ShapeError, match=r"\(N, 3\)"):
        model.decode_codes(np.array([[0, 1]]))
    with pytest.raises(MiniVAEError, match="fit_prior"):
        model.sample(2)
    with pytest.raises(ConfigError, match="unconditional"):
        model.check_data(data(3, 6), np.zeros(3, dtype=int))


def step(model, optimizers, x):
    return model.train_step(Batch(x=x, target=x), optimizers)


def test_the_first_train_step_sets_the_codebook_from_distinct_encoder_outputs():
    model = VQVAE(**SMALL, seed=4)
    x = data(8, 6)
    z_e = model.encoder.predict(x).reshape(-1, 2)            # 24 rows for 4 codes
    model.init_codebook(x)
    rows = [int(np.flatnonzero((z_e == e).all(axis=1))[0]) for e in model.params["codebook"]]
    assert len(set(rows)) == 4 and model.codebook_ready
    a, b = VQVAE(**SMALL, seed=4), VQVAE(**SMALL, seed=4)
    for m in (a, b):
        optimizers = m.configure_optimizers(TrainConfig())
        step(m, optimizers, x)                               # initialises, then one update
    np.testing.assert_array_equal(a.params["codebook"], b.params["codebook"])   # deterministic from the seed
    assert set(optimizers) == {"vqvae", "codebook"} and b.codebook_ready
    assert optimizers["codebook"].lr == pytest.approx(1e-3 * b.config.codebook_lr_scale)
    b.init_codebook = None                                   # a second step must not initialise again
    step(b, optimizers, x)


def test_a_denoising_target_is_what_the_decoder_reconstructs():
    model, x = ready_model()
    target = data(7, 6, seed=9)
    z_q = model.params["codebook"][model.encode(x)].reshape(7, -1)
    expected = nll(target, model.decoder.predict(z_q), "bernoulli").mean()
    assert float(model.loss(x, target=target)["recon"]) == pytest.approx(expected, rel=1e-12)
    out = model.train_step(Batch(x=x, target=target), model.configure_optimizers(TrainConfig()))
    assert float(out["recon"]) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("restart", [True, False])
def test_a_code_unused_for_restart_every_steps_moves_to_an_encoder_output(restart):
    model = VQVAE(**SMALL, restart_every=2, restart_dead=restart, seed=1)
    x = data(8, 6)
    optimizers = model.configure_optimizers(TrainConfig())
    model.init_codebook(x)
    model.params["codebook"][3] = 1e3                        # nothing will choose this code
    step(model, optimizers, x)
    assert model.params["codebook"][3, 0] == 1e3 and model.usage.sum() == 24
    step(model, optimizers, x)                               # step 2: the check
    moved = model.params["codebook"][3]
    if restart:
        assert (model._cache["z_e"] == moved).all(axis=1).any() and model.usage.sum() == 0
    else:
        np.testing.assert_array_equal(moved, 1e3)            # zero gradient, zero Adam step: it stays dead
        assert model.usage[3] == 0 and model.usage.sum() == 48


def test_code_stats_prior_and_samples():
    model = VQVAE(**SMALL, seed=2)
    x = data(50, 6)
    model.init_codebook(x)
    idx = model.encode(x)
    stats = model.code_stats(x, batch_size=7)
    np.testing.assert_array_equal(stats["usage"], np.bincount(idx.ravel(), minlength=4))
    assert stats["dead_codes"] == int((stats["usage"] == 0).sum()) and stats["dead_fraction"] == stats["dead_codes"] / 4
    model.fit_prior(x, batch_size=7)
    assert (model.prior_counts.sum(axis=1) == 50).all()
    np.testing.assert_array_equal(model.prior_counts[1], np.bincount(idx[:, 1], minlength=4))
    samples = model.sample(9)
    assert samples.shape == (9, 6) and (samples >= 0).all() and (samples <= 1).all()
    np.testing.assert_allclose(model.reconstruct(x[:3]), model.decode_codes(idx[:3]))


def small_run(restart_every=4):
    """96 images, batches of 16: 6 steps an epoch; 16 codes for 48 rows a step, so some codes die."""
    train = data(96, 6, seed=5).astype(np.float32)
    return VQVAE(**{**SMALL, "dtype": "float32", "codebook_size": 16}, restart_every=restart_every, seed=7), train


def test_save_load_round_trip_keeps_codes_state_prior_and_samples(tmp_path):
    model, train = small_run(restart_every=5)
    fit(model, train, epochs=2, batch_size=16, progress=False)
    assert model.usage.sum() == 2 * 48                       # steps 11 and 12 since the check at step 10
    model.fit_prior(train)
    path = model.save(tmp_path / "vq.npz")
    assert checkpoint_kind(path) == "vqvae"
    loaded = VQVAE.load(path)
    assert loaded.architecture() == model.architecture()
    for k in model.params:
        np.testing.assert_array_equal(loaded.params[k], model.params[k])
    assert (loaded.steps, loaded.codebook_ready) == (12, True)
    np.testing.assert_array_equal(loaded.usage, model.usage)
    np.testing.assert_array_equal(loaded.prior_counts, model.prior_counts)
    np.testing.assert_array_equal(loaded.encode(train), model.encode(train))
    model.rng, loaded.rng = np.random.default_rng(9), np.random.default_rng(9)
    np.testing.assert_array_equal(loaded.sample(5), model.sample(5))
    with pytest.raises(CheckpointError, match="VQVAE"):
        VAE.load(path)
    _, arrays, _ = load_checkpoint(path)
    del arrays["vq.usage"]
    with pytest.raises(CheckpointError, match="vq.usage"):
        VQVAE(**{**SMALL, "dtype": "float32", "codebook_size": 16}).load_state(arrays)


def test_a_resumed_run_is_the_run_never_stopped(tmp_path):
    """Usage counts, step count and the model's generator all carry over: restarts (every 4 steps, 6 steps an
    epoch, so the window of steps 5-8 spans the checkpoint) happen exactly as in the straight run."""
    straight, train = small_run()
    moved = []
    check = straight.restart_dead_codes
    straight.restart_dead_codes = lambda: moved.append(check()) or moved[-1]
    fit(straight, train, epochs=3, batch_size=16, progress=False)
    assert moved == [0, 2, 1, 0]                             # the step-8 check moves codes
    first, _ = small_run()
    fit(first, train, epochs=1, batch_size=16, progress=False, out_dir=tmp_path)
    resumed = VQVAE.load(tmp_path / "model.npz")
    config = TrainConfig(epochs=3, batch_size=16)
    fit(resumed, train, config=config, progress=False, state=load_run(resumed, config, tmp_path / "model.npz"))
    expected, got = straight.state_arrays(), resumed.state_arrays()
    assert expected.keys() == got.keys() and int(got["vq.step"]) == 18
    for k in expected:
        np.testing.assert_array_equal(got[k], expected[k], err_msg=k)


def test_training_on_real_mnist_lowers_the_reconstruction_and_keeps_the_codebook_alive():
    train, _, test = load_data("mnist", train_size=10000)
    x_test = test.x[:2000]
    model = VQVAE()
    untrained = evaluate(model, x_test)["recon"]
    history = fit(model, train.x, epochs=3, progress=False)
    trained = evaluate(model, x_test)
    stats = model.code_stats(x_test)
    assert trained["recon"] < 0.4 * untrained, (trained, untrained)      # about 137 vs 543 nats
    assert stats["dead_fraction"] <= 0.1, stats
    assert history[-1]["train_perplexity"] > 30


def test_the_reconstruction_nll_of_a_dataset_is_the_decoders_nll_at_the_nearest_codes_batch_by_batch():
    """-log p(x|z_q(x)) per image: the loss's reconstruction term (float64), whatever the batch size, with progress."""
    from minivae.likelihoods import bernoulli_log_likelihood, gaussian_log_likelihood
    x = np.random.default_rng(0).random((7, 6))
    for likelihood in ("bernoulli", "gaussian"):
        model = VQVAE(input_dim=6, hidden_dims=(5,), latent_dim=2, code_dim=3, codebook_size=4, likelihood=likelihood,
                      dtype="float64", seed=1).init_codebook(x)
        calls = []
        got = model.reconstruction_nll(x, batch_size=3, progress=lambda done, total: calls.append((done, total)))
        assert calls == [(3, 7), (6, 7), (7, 7)]
        z_q = model.params["codebook"][model.encode(x)].reshape(7, -1)
        out = model.decoder.predict(z_q)
        want = (-bernoulli_log_likelihood(x, out) if likelihood == "bernoulli"
                else -gaussian_log_likelihood(x, out, 0.0))
        np.testing.assert_allclose(got, want, rtol=1e-12)          # about 1e-15 expected
        assert float(model.loss(x)["recon"]) == pytest.approx(float(got.mean()), rel=1e-12)


def test_a_loaded_vqvae_samples_from_the_prior_it_was_saved_with(tmp_path):
    x = np.random.default_rng(0).random((20, 6))
    model = VQVAE(input_dim=6, hidden_dims=(5,), latent_dim=2, code_dim=3, codebook_size=4, seed=1)
    model.init_codebook(x).fit_prior(x)
    model.save(tmp_path / "vq.npz")
    back = VQVAE.load(tmp_path / "vq.npz")
    np.testing.assert_array_equal(back.prior_counts, model.prior_counts)
    model.rng, back.rng = np.random.default_rng(5), np.random.default_rng(5)
    np.testing.assert_array_equal(back.sample(4), model.sample(4))
