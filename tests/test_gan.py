"""The GAN: both players' gradients by hand against central differences, for every loss; the game's rules; bad input."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from minivae import VAE
from minivae.errors import CheckpointError, ConfigError, DataError, MiniVAEError, ShapeError
from minivae.models.gan import GAN
from minivae.gradcheck import check_model_gradients
from minivae.layers import dense_forward
from minivae.train import Batch, TrainConfig, fit

LOSSES = ["minimax", "ns", "lsgan", "wgan", "wgan-gp"]
SMALL = dict(data_dim=6, noise_dim=3, generator_dims=(5,), discriminator_dims=(4, 3), dtype="float64")


def small(loss="ns", **kw):
    return GAN(**{**SMALL, "loss": loss, **kw})


def draws(n=7, seed=1):
    rng = np.random.default_rng(seed)
    return rng.random((n, 6)), rng.uniform(-1, 1, (n, 3)), rng.random((n, 1))


def part(grads, prefix):
    return {k: v for k, v in grads.items() if k.startswith(prefix)}


def test_parameter_names_and_shapes_follow_the_documented_layout():
    gan = GAN()
    shapes = {k: v.shape for k, v in gan.params.items()}
    assert list(shapes) == ["generator.0.W", "generator.0.b", "generator.1.W", "generator.1.b", "generator.2.W",
                            "generator.2.b", "discriminator.0.W", "discriminator.0.b", "discriminator.1.W",
                            "discriminator.1.b", "discriminator.2.W", "discriminator.2.b"]
    assert shapes["generator.0.W"] == (96, 1024) and shapes["generator.2.W"] == (1024, 784)
    assert shapes["discriminator.0.W"] == (784, 256) and shapes["discriminator.2.W"] == (256, 1)
    assert list(gan.grads) == list(gan.params)
    assert gan.generator.layers[-1].activation == "tanh" and gan.discriminator.layers[-1].activation == "identity"
    assert gan.generator.layers[0].activation == "relu" and gan.discriminator.layers[0].activation == "leaky_relu"


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("acts", [("tanh", "tanh"), ("sigmoid", "tanh")])
def test_discriminator_gradients_match_central_differences(loss, acts):
    """dL_D/dtheta_D through D on [x; G(z)] (and, for WGAN-GP, the penalty's double backprop); G's grads zero."""
    gan = small(loss, generator_activation=acts[0], discriminator_activation=acts[1])
    x, z, alpha = draws()
    a = alpha if loss == "wgan-gp" else None
    gan.discriminator_loss(x, z, a)
    grads = {k: v.copy() for k, v in gan.backward().items()}
    errors = check_model_gradients(lambda: gan.discriminator_loss(x, z, a)["loss"], gan.params, grads,
                                   names=list(part(gan.params, "discriminator.")))
    assert max(errors.values()) < 1e-7, errors
    assert all(not g.any() for g in part(grads, "generator.").values())


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("acts", [("tanh", "tanh"), ("tanh", "sigmoid")])
def test_generator_gradients_match_central_differences(loss, acts):
    """dL_G/dtheta_G through D's input gradient and G; D's grads zero."""
    gan = small(loss, generator_activation=acts[0], discriminator_activation=acts[1])
    _, z, _ = draws()
    gan.generator_loss(z)
    grads = {k: v.copy() for k, v in gan.backward().items()}
    errors = check_model_gradients(lambda: gan.generator_loss(z)["loss"], gan.params, grads,
                                   names=list(part(gan.params, "generator.")))
    assert max(errors.values()) < 1e-7, errors
    assert all(not g.any() for g in part(grads, "discriminator.").values())


def min_pre_activation(gan, inputs, net):
    """min |a| over the hidden pre-activations of ``net`` (the distance to a (leaky) ReLU kink)."""
    P, h, best = gan.params, inputs, np.inf
    layers = getattr(gan, net).layers
    for i, layer in enumerate(layers[:-1]):
        a = dense_forward(h, P[f"{net}.{i}.W"], P[f"{net}.{i}.b"])[0]
        best = min(best, np.abs(a).min())
        h = np.maximum(a, 0) if layer.activation == "relu" else np.where(a > 0, a, 0.01 * a)
    return best


def test_default_relu_and_leaky_relu_networks_check_too():
    """The cs231n activations, away from their kinks: differences with steps (2e-5) below the kink distance (1e-4)."""
    gan = small("ns", generator_dims=(8,), discriminator_dims=(4,))
    x, z, _ = draws(4)
    x_fake = gan.generate(z) * 2 - 1
    assert min_pre_activation(gan, z, "generator") > 1e-4
    assert min_pre_activation(gan, np.concatenate([2 * x - 1, x_fake]), "discriminator") > 1e-4
    for loss_fn, prefix in ((lambda: gan.discriminator_loss(x, z)["loss"], "discriminator."),
                            (lambda: gan.generator_loss(z)["loss"], "generator.")):
        loss_fn()
        grads = {k: v.copy() for k, v in gan.backward().items()}
        errors = check_model_gradients(loss_fn, gan.params, grads, h=1e-5, order=4, names=list(part(grads, prefix)))
        assert max(errors.values()) < 1e-7, errors


def test_the_discriminator_loss_is_the_lecture_formula():
    """-E log D(x) - E log(1 - D(G(z))), D = sigmoid(score), computed from the layers by hand."""
    gan = small("minimax")
    x, z, _ = draws()
    fake = gan.generate(z) * 2 - 1
    d = lambda v: 1 / (1 + np.exp(-gan.discriminator.predict(v)[:, 0]))  # noqa: E731
    expected = -np.mean(np.log(d(2 * x - 1))) - np.mean(np.log(1 - d(fake)))
    out = gan.discriminator_loss(x, z)
    assert float(out["loss"]) == pytest.approx(expected, rel=1e-12)
    assert float(out["d_real"]) == pytest.approx(d(2 * x - 1).mean()) and float(out["d_fake"]) == pytest.approx(
        d(fake).mean())
    assert float(gan.generator_loss(z)["loss"]) == pytest.approx(np.mean(np.log(1 - d(fake))), rel=1e-12)
    np.testing.assert_allclose(gan.discriminate(x), d(2 * x - 1), rtol=1e-12)


def test_lsgan_and_wgan_losses_are_their_papers_formulas():
    x, z, _ = draws()
    for loss in ("lsgan", "wgan"):
        gan = small(loss)
        s_r, s_f = gan.discriminate(x), gan.discriminate(gan.generate(z))
        d, g = float(gan.discriminator_loss(x, z)["loss"]), float(gan.generator_loss(z)["loss"])
        if loss == "lsgan":
            assert d == pytest.approx(0.5 * np.mean((s_r - 1) ** 2) + 0.5 * np.mean(s_f ** 2), rel=1e-12)
            assert g == pytest.approx(0.5 * np.mean((s_f - 1) ** 2), rel=1e-12)
        else:
            assert d == pytest.approx(-(s_r.mean() - s_f.mean()), rel=1e-12)
            assert g == pytest.approx(-s_f.mean(), rel=1e-12)
            assert float(gan.discriminator_loss(x, z)["wasserstein"]) == pytest.approx(s_r.mean() - s_f.mean())


def test_non_saturating_and_minimax_generator_gradients_point_the_same_way():
    """For one fake image, dL_ns/dtheta_G = (1 - D) / D * dL_minimax/dtheta_G, D = D(G(z)): the same direction,
    and much larger when D rejects the fake (D -> 0), where the saturating loss's gradient vanishes."""
    z = draws(1)[1]
    grads = {}
    for loss in ("minimax", "ns"):
        gan = small(loss, seed=4)
        d_fake = float(gan.generator_loss(z)["d_fake"])
        grads[loss] = np.concatenate([g.ravel() for g in part(gan.backward(), "generator.").values()])
    np.testing.assert_allclose(grads["ns"], (1 - d_fake) / d_fake * grads["minimax"], rtol=1e-9, atol=1e-15)


def test_weight_clipping_is_applied_after_each_critic_step_only_for_wgan():
    x, _, _ = draws(8)
    gan = small("wgan", clip=0.05)
    opts = gan.configure_optimizers(TrainConfig(lr=0.5, optimizer="rmsprop"))
    for _ in range(3):
        gan.train_step(Batch(x=x, target=x), opts)
    d = np.concatenate([v.ravel() for v in part(gan.params, "discriminator.").values()])
    assert np.abs(d).max() <= 0.05 and np.isclose(np.abs(d).max(), 0.05)      # the bound is reached, never passed
    g = np.concatenate([v.ravel() for v in part(gan.params, "generator.").values()])
    assert np.abs(g).max() > 0.05                                              # the generator is not clipped


@settings(max_examples=20, deadline=None)
@given(c=st.floats(1e-3, 0.2), lr=st.floats(1e-3, 1.0), seed=st.integers(0, 100))
def test_clipping_keeps_every_critic_weight_in_the_box(c, lr, seed):
    x, _, _ = draws(5, seed)
    gan = small("wgan", clip=c, seed=seed)
    gan.train_step(Batch(x=x, target=x), gan.configure_optimizers(TrainConfig(lr=lr)))
    assert all(np.abs(v).max() <= c for v in part(gan.params, "discriminator.").values())


def test_k_critic_steps_per_generator_step_and_metrics_of_the_steps_that_have_them():
    x = np.random.default_rng(0).random((40, 6))
    gan = small("wgan-gp", n_critic=3)
    state_cfg = TrainConfig(epochs=2, batch_size=4, lr=1e-3)
    from minivae.train import TrainState
    state = TrainState.start(gan, state_cfg)
    history = fit(gan, x, config=state_cfg, state=state, progress=False)
    d, g = state.optimizers["discriminator"], state.optimizers["generator"]
    assert d.t == 20 and g.t == 6                                             # 20 critic steps, every 3rd one more
    assert {"train_d_loss", "train_g_loss", "train_d_real", "train_d_fake", "train_wasserstein",
            "train_gp"} <= set(history[-1])
    assert d.beta1 == 0.5 and d.beta2 == 0.9                                  # Gulrajani et al.'s Adam


def test_same_z_same_pass_and_images_in_the_unit_interval():
    gan = small()
    x, z, _ = draws()
    assert float(gan.discriminator_loss(x, z)["loss"]) == float(gan.discriminator_loss(x, z)["loss"])
    images = gan.generate(z)
    assert images.shape == (7, 6) and images.min() >= 0 and images.max() <= 1
    samples = gan.sample(50)
    assert samples.shape == (50, 6) and samples.min() >= 0 and samples.max() <= 1
    assert GAN(**SMALL, noise="normal").noise(1000).std() == pytest.approx(1, abs=0.1)
    assert np.abs(gan.noise(1000)).max() <= 1


def test_save_and_load_round_trip_and_refuse_other_models(tmp_path):
    gan = small("lsgan", seed=3)
    z = draws()[1]
    path = gan.save(tmp_path / "gan.npz")
    back = GAN.load(path)
    assert back.config == gan.config and np.array_equal(back.generate(z), gan.generate(z))
    with pytest.raises(CheckpointError, match="GAN checkpoint, not a VAE one .minivae.load reads a model of any kind"):
        VAE.load(path)
    vae_path = VAE(input_dim=6, hidden_dims=(5,), latent_dim=2).save(tmp_path / "vae.npz")
    with pytest.raises(CheckpointError, match="VAE checkpoint, not a GAN one .minivae.load reads a model of any kind"):
        GAN.load(vae_path)
    other = small("lsgan", discriminator_dims=(4,)).save(tmp_path / "other.npz")
    assert GAN.load(other).config.discriminator_dims == (4,)
    with pytest.raises(CheckpointError, match="another architecture"):
        gan.load_state(dict(np.load(other)), source="other.npz")


@pytest.mark.parametrize("make, error, match", [
    (lambda: small("hinge"), ConfigError, "unknown GAN loss 'hinge'"),
    (lambda: small("wgan", n_critic=0), ConfigError, "n_critic"),
    (lambda: small("wgan", clip=0.0), ConfigError, "clip"),
    (lambda: small("wgan", clip=-1.0), ConfigError, "clip"),
    (lambda: small("ns", clip=0.01), ConfigError, "does not clip"),
    (lambda: small("wgan-gp", gp_lambda=-1.0), ConfigError, "gp_lambda"),
    (lambda: small("wgan-gp", gp_lambda=float("nan")), ConfigError, "gp_lambda"),
    (lambda: small("lsgan", gp_lambda=10.0), ConfigError, "has none"),
    (lambda: small(noise="cauchy"), ConfigError, "noise"),
    (lambda: small(generator_dims=(0,)), ConfigError, "generator_dims"),
    (lambda: small(optimizer="lbfgs"), ConfigError, "optimizer"),
])
def test_bad_options_are_clear_errors(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_bad_input_is_a_clear_error():
    gan = small("wgan-gp")
    x, z, alpha = draws()
    with pytest.raises(ShapeError, match=r"expected \(N, 6\)"):
        gan.discriminator_loss(x[:, :5], z)
    with pytest.raises(ShapeError, match=r"z must have shape \(7, 3\)"):
        gan.discriminator_loss(x, z[:, :2])
    with pytest.raises(ShapeError, match=r"z must have shape \(N, 3\)"):
        gan.generate(z[:, :2])
    with pytest.raises(ShapeError, match="alpha"):
        gan.discriminator_loss(x, z, alpha[:3])
    with pytest.raises(DataError, match=r"expected \[0, 1\]"):
        gan.discriminator_loss(2 * x - 1, z)
    with pytest.raises(DataError, match="uint8"):
        gan.discriminator_loss((x * 255).astype(np.uint8), z)
    with pytest.raises(DataError, match="non-finite"):
        gan.generator_loss(np.full((2, 3), np.nan))
    with pytest.raises(ConfigError, match="does not use it"):
        small("ns").discriminator_loss(x, z, alpha)
    with pytest.raises(MiniVAEError, match="forward pass first"):
        small().backward()
    with pytest.raises(ConfigError, match="is unconditional: pass no labels"):
        fit(small(), x, train_y=np.zeros(7, dtype=int), epochs=1, progress=False)
    with pytest.raises(ConfigError, match="GAN's optimizers are set by GAN"):
        small().configure_optimizers(TrainConfig(optimizer="sgd"))


@pytest.mark.parametrize("loss", ["ns", "wgan", "wgan-gp"])
def test_a_training_step_allocates_no_data_sized_array_after_the_first(loss):
    """tracemalloc sees NumPy's allocations: after the first step (the buffers), a step's peak stays under a quarter
    of one (N, D) image batch: D's input [x; G(z)], x_hat and every layer's output are reused buffers."""
    import tracemalloc
    n, d = 64, 784
    x = np.random.default_rng(0).random((n, d), dtype=np.float32)
    gan = GAN(generator_dims=(128,), discriminator_dims=(128,), loss=loss, n_critic=1)
    opts = gan.configure_optimizers(TrainConfig(lr=1e-4))
    batch = Batch(x=x, target=x)
    tracemalloc.start()
    try:
        gan.train_step(batch, opts)
        first = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        for _ in range(2):
            gan.train_step(batch, opts)
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    data_sized = n * d * 4
    assert first > 3 * data_sized
    assert peak < data_sized / 4, f"{loss}: {peak} bytes at the peak of a later step"
