"""The backend object: resolution, the context manager, and clear errors."""
import importlib.util

import numpy as np
import pytest

from minivae import VAE, get_backend, use_backend
from minivae.backend import array_module, get_backend as resolve
from minivae.backend.numpy_backend import NumpyBackend
from minivae.errors import BackendError, ConfigError


def test_numpy_backend_is_the_default():
    b = get_backend()
    assert b.name == "numpy" and b.xp is np
    assert VAE(input_dim=4, hidden_dims=(3,), latent_dim=2).backend.name == "numpy"
    assert array_module(np.zeros(2)) is np


def test_use_backend_sets_and_resets_the_default():
    custom = NumpyBackend()
    with use_backend(custom):
        assert resolve() is custom
        assert VAE(input_dim=4, hidden_dims=(3,), latent_dim=2).backend is custom
    assert resolve() is not custom


def test_array_modules_name_their_backend():
    b = get_backend(np)
    assert isinstance(b, NumpyBackend) and b.ops.__name__ == "minivae.backend.kernels.numpy_ops"


def test_unknown_backend_is_a_clear_error():
    with pytest.raises(ConfigError, match="unknown backend 'tpu'"):
        get_backend("tpu")


@pytest.mark.skipif(importlib.util.find_spec("cupy") is not None, reason="CuPy is installed here")
def test_cupy_backend_without_cupy_says_how_to_get_it():
    with pytest.raises(BackendError, match="needs CuPy"):
        VAE(backend="cupy")


def test_model_rng_is_owned_by_the_model_not_global():
    a = VAE(input_dim=4, hidden_dims=(3,), latent_dim=2, seed=5)
    np.random.seed(0)
    s1 = a.sample(3)
    b = VAE(input_dim=4, hidden_dims=(3,), latent_dim=2, seed=5)
    np.random.seed(123)
    np.testing.assert_array_equal(s1, b.sample(3))
