"""Every model's options: one frozen dataclass per model, in its own module, built by keyword, a comment per field."""
import dataclasses
import inspect

import pytest

from minivae import GAN, VAE, VAEGAN, VQVAE
from minivae.errors import ConfigError
from minivae.models.gan_config import GANConfig
from minivae.models.vae_config import VAEConfig
from minivae.models.vaegan_config import VAEGANConfig
from minivae.models.vqvae_config import VQVAEConfig

CONFIGS = {VAE: VAEConfig, GAN: GANConfig, VAEGAN: VAEGANConfig, VQVAE: VQVAEConfig}
TINY = {VAE: dict(input_dim=6, hidden_dims=(5,), latent_dim=2), GAN: dict(data_dim=6, noise_dim=2,
        generator_dims=(4,), discriminator_dims=(4,)), VAEGAN: dict(input_dim=6, hidden_dims=(5,), latent_dim=2,
        discriminator_dims=(4,)), VQVAE: dict(input_dim=6, hidden_dims=(5,), latent_dim=2, codebook_size=4)}


@pytest.mark.parametrize("config", CONFIGS.values(), ids=lambda c: c.__name__)
def test_a_config_refuses_positional_arguments(config):
    """Reordering two fields must not silently swap them: only keywords are accepted."""
    with pytest.raises(TypeError):
        config(784)
    assert all(f.kw_only for f in dataclasses.fields(config))


@pytest.mark.parametrize("config", CONFIGS.values(), ids=lambda c: c.__name__)
def test_a_config_is_frozen_and_lives_in_its_own_module(config):
    assert config.__module__.endswith("_config") and config.__dataclass_params__.frozen
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(config(), dataclasses.fields(config)[0].name, 1)


@pytest.mark.parametrize("config", CONFIGS.values(), ids=lambda c: c.__name__)
def test_every_field_has_a_comment(config):
    source = inspect.getsource(config)
    for f in dataclasses.fields(config):
        line = next(l for l in source.splitlines() if l.strip().startswith(f"{f.name}:"))
        assert "#" in line, f"{config.__name__}.{f.name} has no comment"


@pytest.mark.parametrize("model", CONFIGS, ids=lambda m: m.__name__)
def test_each_model_holds_its_own_config_and_rebuilds_from_it(model):
    m = model(**TINY[model], seed=3)
    assert type(m.config) is CONFIGS[model]
    assert m.architecture() == {**m.config.to_dict(), "seed": 3}
    again = model(**m.architecture())
    assert again.config == m.config


@pytest.mark.parametrize("model", CONFIGS, ids=lambda m: m.__name__)
def test_every_model_argument_reaches_its_config_by_name(model):
    """Each option the constructor takes lands in the config field of the same name (a swap would show)."""
    fields = {f.name for f in dataclasses.fields(CONFIGS[model])}
    params = set(inspect.signature(model).parameters) - {"seed", "backend"}
    assert params == fields


def test_a_vaegan_validates_its_own_options():
    with pytest.raises(ConfigError, match="feature_layer must be an integer in 1..2"):
        VAEGANConfig(discriminator_dims=(4, 4), feature_layer=3)
    with pytest.raises(ConfigError, match="gamma"):
        VAEGANConfig(gamma=-1)
    assert VAEGANConfig(discriminator_dims=(4, 4, 4), feature_layer=None).feature_layer == 3
