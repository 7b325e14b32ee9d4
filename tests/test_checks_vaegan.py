"""The feature-matching check of lesson 15: its reference is the VAE-GAN's L_llike, and it diagnoses mistakes."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minivae import checks
from minivae.checks.vaegan import feature_matching_loss
from minivae.errors import DataError, ShapeError
from minivae.gradcheck import numerical_gradient, rel_error
from minivae.models.vaegan import VAEGAN


def test_reference_is_the_vaegans_llike():
    """L_llike of the reference on Dis_l(x), Dis_l(x_tilde) equals VAEGAN.loss()['llike'] (float64)."""
    m = VAEGAN(input_dim=6, hidden_dims=(5,), latent_dim=2, discriminator_dims=(4, 3), feature_layer=1,
               dtype="float64", seed=0)
    rng = np.random.default_rng(0)
    x, eps = rng.random((3, 6)), rng.standard_normal((3, 2))
    llike = float(m.loss(x, eps, rng.standard_normal((3, 2)))["llike"])
    mu, logvar = m.vae.encode(x)
    x_tilde = m.vae.decode(mu + np.exp(logvar / 2) * eps)
    layer = m.discriminator.layers[0]
    assert np.isclose(feature_matching_loss(layer.predict(2 * x - 1), layer.predict(2 * x_tilde - 1))[0],
                      llike, rtol=1e-12)


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 6), f=st.integers(1, 6), seed=st.integers(0, 2**16))
def test_reference_gradient_matches_finite_differences(n, f, seed):
    rng = np.random.default_rng(seed)
    f_x, f_tilde = rng.normal(size=(n, f)), rng.normal(size=(n, f))
    num = numerical_gradient(lambda: feature_matching_loss(f_x, f_tilde)[0], f_tilde, h=1e-3)   # exact for a quadratic
    assert rel_error(num, feature_matching_loss(f_x, f_tilde)[1]) < 1e-7


def test_perfect_reconstruction_costs_nothing():
    f = np.random.default_rng(1).normal(size=(4, 3))
    L, df = feature_matching_loss(f, f)
    assert L == 0 and not df.any()


def test_reference_rejects_bad_features():
    with pytest.raises(ShapeError, match="one shape"):
        feature_matching_loss(np.zeros((2, 3)), np.zeros((2, 4)))
    with pytest.raises(DataError, match="finite"):
        feature_matching_loss(np.full((2, 3), np.nan), np.zeros((2, 3)))


def test_missing_half_is_diagnosed(capsys):
    def no_half(f_x, f_tilde):
        d = f_tilde - f_x
        return float((d * d).sum()) / len(d), d / len(d)

    assert checks.check_feature_matching_loss(no_half) is False
    out = capsys.readouterr().out
    assert "FAIL L_llike" in out and "FAIL df_tilde" not in out and "factor 1/2 left out" in out


def test_gradient_with_respect_to_the_data_features_is_diagnosed(capsys):
    def wrong_side(f_x, f_tilde):
        d = f_tilde - f_x
        return 0.5 * float((d * d).sum()) / len(d), -d / len(d)

    assert checks.check_feature_matching_loss(wrong_side) is False
    out = capsys.readouterr().out
    assert "FAIL df_tilde" in out and "gradient with respect to f_x" in out


def test_one_output_is_reported(capsys):
    assert checks.check_feature_matching_loss(lambda f_x, f_tilde: 0.0) is False
    assert "expected a tuple of 2" in capsys.readouterr().out
