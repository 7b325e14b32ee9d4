"""What every model shares from minivae.models.base.Model: one image validation, the same for every model."""
import numpy as np
import pytest

from minivae import GAN, VAE, VAEGAN, VQVAE
from minivae.errors import DataError, ShapeError
from minivae.models.base import Model

MODELS = {"vae": lambda: VAE(input_dim=6, hidden_dims=(5,), latent_dim=2),
          "gaussian vae": lambda: VAE(input_dim=6, hidden_dims=(5,), latent_dim=2, likelihood="gaussian"),
          "gan": lambda: GAN(data_dim=6, noise_dim=2, generator_dims=(4,), discriminator_dims=(4,)),
          "vaegan": lambda: VAEGAN(input_dim=6, hidden_dims=(5,), latent_dim=2, discriminator_dims=(4,)),
          "vqvae": lambda: VQVAE(input_dim=6, hidden_dims=(5,), latent_dim=2, codebook_size=4)}


def test_no_model_has_an_image_check_of_its_own():
    for make in MODELS.values():
        assert type(make()).as_images is Model.as_images


@pytest.mark.parametrize("name", MODELS)
def test_every_model_refuses_integer_pixels_instead_of_reading_them_as_0_to_255(name):
    model = MODELS[name]()
    with pytest.raises(DataError, match=r"^train_x: dtype uint8, expected floating point images"):
        model.check_data(np.full((3, 6), 255, dtype=np.uint8), name="train_x")


@pytest.mark.parametrize("name", MODELS)
def test_every_model_names_the_shape_it_expects(name):
    model = MODELS[name]()
    for bad in (np.zeros((3, 5)), np.zeros((0, 6)), np.zeros(6)):
        with pytest.raises(ShapeError, match=r"expected \(N, 6\) with N >= 1"):
            model.check_data(bad)


@pytest.mark.parametrize("name", MODELS)
def test_every_model_refuses_non_finite_images_and_a_unit_interval_model_values_outside_it(name):
    model = MODELS[name]()
    x = np.full((2, 6), 0.5)
    x[1, 2] = np.nan
    with pytest.raises(DataError, match="non-finite"):
        model.check_data(x)
    if model.unit_interval:
        with pytest.raises(DataError, match=r"expected \[0, 1\]"):
            model.check_data(np.full((2, 6), 1.5))
    else:
        assert model.check_data(np.full((2, 6), 1.5)).shape == (2, 6)


def test_images_come_back_contiguous_in_the_models_dtype():
    model = MODELS["vae"]()
    x = np.asfortranarray(np.random.default_rng(0).random((4, 6)))
    got = model.as_images(x)
    assert got.dtype == np.float32 and got.flags.c_contiguous
