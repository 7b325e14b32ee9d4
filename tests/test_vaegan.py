"""The VAE-GAN: each part's gradient is that of its own loss (float64 central differences), VAE_Dis_l, bad input."""
import numpy as np
import pytest

from minivae import GAN, VAE
from minivae.errors import CheckpointError, ConfigError, DataError, MiniVAEError, ShapeError
from minivae.gradcheck import check_model_gradients
from minivae.train import fit
from minivae.models.vaegan import VAEGAN

SMALL = dict(input_dim=6, hidden_dims=(5,), latent_dim=3, discriminator_dims=(4, 4), activation="tanh",
             discriminator_activation="tanh", dtype="float64")


def draws(n=5, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, 6)), rng.standard_normal((n, 3)), rng.standard_normal((n, 3))


@pytest.mark.parametrize("adversarial", [True, False])
@pytest.mark.parametrize("feature_layer", [1, 2])
@pytest.mark.parametrize("part, loss", [("encoder", "encoder"), ("decoder", "decoder"),
                                        ("discriminator", "discriminator")])
def test_each_part_gets_the_gradient_of_its_own_loss(adversarial, feature_layer, part, loss):
    """encoder: L_prior + L_llike; decoder: gamma L_llike - L_GAN (non-saturating); D: -L_GAN; D frozen for Dis_l."""
    model = VAEGAN(**SMALL, feature_layer=feature_layer, gamma=0.7, adversarial=adversarial)
    x, eps, z_p = draws()
    model.loss(x, eps, z_p)
    grads = {k: v.copy() for k, v in model.backward().items()}
    if part == "discriminator" and not adversarial:
        assert all(not g.any() for g in model.part_grads["discriminator"].values())
        return
    errors = check_model_gradients(lambda: model.loss(x, eps, z_p)[loss], model.params, grads,
                                   names=list(model.part_params[part]))
    assert max(errors.values()) < 1e-7, errors


def test_the_losses_are_the_papers_formulas():
    model = VAEGAN(**SMALL, gamma=0.5)
    x, eps, z_p = draws()
    out = model.loss(x, eps, z_p)
    mu, logvar = model.encode(x)
    z = mu + np.exp(logvar / 2) * eps
    kl = 0.5 * (mu**2 + np.exp(logvar) - logvar - 1).sum(1).mean()
    D = model.discriminator
    feats = lambda v: D.layers[0].predict(2 * v - 1) if model.feature_layer == 1 else \
        D.layers[1].predict(D.layers[0].predict(2 * v - 1))                               # noqa: E731
    x_t, x_p = model.decode(z), model.decode(z_p)
    llike = 0.5 * ((feats(x_t) - feats(x)) ** 2).sum(1).mean()
    d = model.discriminate
    gan = np.mean(np.log(d(x))) + np.mean(np.log(1 - d(x_t))) + np.mean(np.log(1 - d(x_p)))
    assert float(out["prior"]) == pytest.approx(kl, rel=1e-12)
    assert float(out["llike"]) == pytest.approx(llike, rel=1e-12)
    assert float(out["gan"]) == pytest.approx(gan, rel=1e-12)
    assert float(out["encoder"]) == pytest.approx(kl + llike, rel=1e-12)
    ns = -np.mean(np.log(d(x_t))) - np.mean(np.log(d(x_p)))
    assert float(out["decoder"]) == pytest.approx(0.5 * llike + ns, rel=1e-12)
    assert float(out["discriminator"]) == pytest.approx(-gan, rel=1e-12)


def test_vae_dis_l_takes_a_gans_discriminator_frozen(tmp_path):
    gan = GAN(data_dim=6, noise_dim=2, generator_dims=(4,), discriminator_dims=(4, 3), discriminator_activation="tanh",
              dtype="float64", seed=3)
    path = gan.save(tmp_path / "gan.npz")
    model = VAEGAN.from_gan(path, feature_layer=1, hidden_dims=(5,), latent_dim=3)
    assert not model.adversarial and model.config.input_dim == 6
    for k, v in gan.part_params["discriminator"].items():
        np.testing.assert_array_equal(model.params[k], v)
    x = draws(16)[0]
    before = {k: v.copy() for k, v in model.part_params["discriminator"].items()}
    fit(model, x, epochs=2, batch_size=8, progress=False)
    assert set(model.configure_optimizers(type("C", (), {"optimizer": "adam", "optimizer_options":
                                                          lambda self: {"lr": 1e-3}})())) == {"encoder", "decoder"}
    assert all(np.array_equal(before[k], v) for k, v in model.part_params["discriminator"].items())   # frozen
    with pytest.raises(ConfigError, match="reads 6 pixels, the data has 784"):
        VAEGAN.from_gan(path, input_dim=784)
    vae_path = VAE(input_dim=6, hidden_dims=(5,), latent_dim=2).save(tmp_path / "vae.npz")
    with pytest.raises(CheckpointError, match="VAE checkpoint, not a GAN one"):
        VAEGAN.from_gan(vae_path)


def test_training_runs_the_three_updates_and_round_trips(tmp_path):
    """With D frozen (Dis_l) the feature distance falls; with D trained its features move, so L_llike need not."""
    rng = np.random.default_rng(0)
    x = 0.5 + 0.4 * np.tanh(rng.standard_normal((64, 2)) @ rng.standard_normal((2, 6)))   # data on a 2-D manifold
    frozen = VAEGAN(**SMALL, adversarial=False)
    frozen.params["discriminator.0.W"] *= 5                       # features that tell the images apart
    history = fit(frozen, x, epochs=30, batch_size=16, lr=1e-2, progress=False)
    assert history[-1]["train_llike"] < 0.8 * history[0]["train_llike"]
    model = VAEGAN(**SMALL)
    d_before = {k: v.copy() for k, v in model.part_params["discriminator"].items()}
    history = fit(model, x, test_x=x[:16], epochs=30, batch_size=16, lr=1e-2, progress=False)
    assert not all(np.array_equal(d_before[k], v) for k, v in model.part_params["discriminator"].items())
    assert all(np.isfinite(v) for h in history for v in h.values())
    assert {"train_loss", "train_decoder", "train_discriminator", "test_loss", "test_recon", "test_kl"} <= set(history[-1])
    back = VAEGAN.load(model.save(tmp_path / "m.npz"))
    np.testing.assert_array_equal(back.reconstruct(x[:3]), model.reconstruct(x[:3]))
    with pytest.raises(CheckpointError, match="VAEGAN checkpoint, not a GAN one"):
        GAN.load(tmp_path / "m.npz")


@pytest.mark.parametrize("kwargs, match", [
    (dict(feature_layer=3), r"feature_layer must be an integer in 1..2"),
    (dict(feature_layer=0), r"feature_layer must be an integer in 1..2"),
    (dict(gamma=-1.0), "gamma"),
    (dict(gamma=float("inf")), "gamma"),
    (dict(discriminator_dims=()), "at least one hidden layer"),
])
def test_bad_options_are_clear_errors(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        VAEGAN(**{**SMALL, **kwargs})


def test_bad_input_is_a_clear_error():
    model = VAEGAN(**SMALL)
    x, eps, z_p = draws()
    with pytest.raises(ShapeError, match=r"eps must have shape \(5, 3\)"):
        model.loss(x, eps[:, :2], z_p)
    with pytest.raises(DataError, match="z_p has non-finite"):
        model.loss(x, eps, np.full_like(z_p, np.nan))
    with pytest.raises(DataError):
        model.loss(x * 3, eps, z_p)
    with pytest.raises(MiniVAEError, match="forward pass first"):
        VAEGAN(**SMALL).backward()
    with pytest.raises(ConfigError, match="unconditional"):
        fit(model, x, train_y=np.zeros(5, dtype=int), epochs=1, progress=False)
