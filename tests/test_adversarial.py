"""The GAN losses as functions of the raw score: stable for any score, gradients by hand, and how they relate."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra.numpy import arrays

from minivae import adversarial
from minivae.errors import ConfigError
from minivae.gradcheck import numerical_gradient, rel_error

scores = arrays(np.float64, st.integers(1, 6), elements=st.floats(-30, 30)).map(lambda s: s.reshape(-1, 1))
extreme = arrays(np.float64, st.integers(1, 6), elements=st.floats(-1e6, 1e6)).map(lambda s: s.reshape(-1, 1))


@settings(max_examples=60, deadline=None)
@given(s=scores)
def test_non_saturating_gradient_is_the_minimax_one_times_one_minus_d_over_d(s):
    """dL_ns/ds = (D - 1)/M and dL_mm/ds = -D/M: the same sign (both raise the score of a fake), ratio (1 - D)/D."""
    d = 1 / (1 + np.exp(-s))
    _, g_ns = adversarial.ns_generator(s)
    _, g_mm = adversarial.minimax_generator(s)
    assert np.all(g_ns <= 0) and np.all(g_mm <= 0)
    np.testing.assert_allclose(g_ns, (1 - d) / d * g_mm, rtol=1e-9, atol=1e-300)


@settings(max_examples=60, deadline=None)
@given(s_r=extreme, s_f=extreme, name=st.sampled_from(["minimax", "ns", "lsgan", "wgan"]))
def test_every_loss_and_gradient_is_finite_for_any_score(s_r, s_f, name):
    with np.errstate(over="raise", invalid="raise", divide="raise", under="ignore"):
        loss, dr, df = adversarial.discriminator_loss(name, s_r, s_f)
        g_loss, dg = adversarial.generator_loss(name, s_f)
    assert all(np.all(np.isfinite(a)) for a in (loss, dr, df, g_loss, dg))


def test_cross_entropy_at_extreme_scores_is_the_linear_asymptote():
    """-log sigmoid(-s) = s for a very confident wrong D (s = 1e4): no log(0), no overflow."""
    loss, dr, df = adversarial.bce_discriminator(np.array([[-1e4]]), np.array([[1e4]]))
    assert float(loss) == pytest.approx(2e4) and dr.item() == -1 and df.item() == 1


@pytest.mark.parametrize("name", ["minimax", "ns", "lsgan", "wgan"])
def test_gradients_match_central_differences(name):
    rng = np.random.default_rng(0)
    s_r, s_f = rng.standard_normal((5, 1)) * 3, rng.standard_normal((4, 1)) * 3
    _, dr, df = adversarial.discriminator_loss(name, s_r, s_f)
    assert rel_error(dr, numerical_gradient(lambda: adversarial.discriminator_loss(name, s_r, s_f)[0], s_r)) < 1e-8
    assert rel_error(df, numerical_gradient(lambda: adversarial.discriminator_loss(name, s_r, s_f)[0], s_f)) < 1e-8
    _, dg = adversarial.generator_loss(name, s_f)
    assert rel_error(dg, numerical_gradient(lambda: adversarial.generator_loss(name, s_f)[0], s_f)) < 1e-8


def test_the_minimax_game_is_zero_sum_in_the_fake_term():
    """L_D + L_G(minimax) = -E log D(x): the generator's loss is minus the discriminator's fake term."""
    rng = np.random.default_rng(1)
    s_r, s_f = rng.standard_normal((6, 1)), rng.standard_normal((6, 1))
    d_loss = adversarial.bce_discriminator(s_r, s_f)[0]
    g_loss = adversarial.minimax_generator(s_f)[0]
    assert d_loss + g_loss == pytest.approx(np.mean(np.log1p(np.exp(-s_r))), rel=1e-12)


def test_unknown_loss_is_a_clear_error():
    with pytest.raises(ConfigError, match=r"unknown GAN loss 'hinge'; expected one of \['minimax'"):
        adversarial.generator_loss("hinge", np.zeros((1, 1)))
