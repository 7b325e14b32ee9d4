"""minivae.checks for the GAN lessons (13, 14): each check accepts the right answer, rejects plausible
wrong ones with a message naming the mistake, and its reference is right.

The right answers are closed forms written out here in float64, not the library's functions (a bug in
a reference then makes the closed form fail its check instead of cancelling out).
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minivae import checks
from minivae.checks import gan as gan_checks
from minivae.errors import DataError, ShapeError
from minivae.gradcheck import numerical_gradient


def _sigmoid(s):
    return 0.5 * (1 + np.tanh(s / 2))


def _w1_sorted(x, y):
    return np.abs(np.sort(x) - np.sort(y)).mean()


def _penalty(w, b, x_hat, lam):
    r = np.linalg.norm(w)
    return lam * (r - 1) ** 2, 2 * lam * (r - 1) * w / r, 0.0


# name -> (the closed form, {mistake: (wrong implementation, the words the feedback must contain)})
CASES = {
    "check_optimal_discriminator": (
        lambda p, q: p / (p + q),
        {"swapped": (lambda p, q: q / (p + q), "1 - D*"),
         "ratio": (lambda p, q: p / np.where(q > 0, q, 1e-300), "density ratio"),
         "no denominator": (lambda p, q: p, "denominator"),
         "one half": (lambda p, q: np.full_like(p, 0.5), "constant 1/2")}),
    "check_ns_generator_gradient": (
        lambda s: (_sigmoid(s) - 1) / len(s),
        {"minimax": (lambda s: -_sigmoid(s) / len(s), "saturating (minimax)"),
         "sign": (lambda s: (1 - _sigmoid(s)) / len(s), "sign error"),
         "no mean": (lambda s: _sigmoid(s) - 1, "1/M left out"),
         "w.r.t. D": (lambda s: -1 / (len(s) * _sigmoid(s)), "with respect to D")}),
    "check_wasserstein_1d": (
        _w1_sorted,
        {"unsorted": (lambda x, y: np.abs(x - y).mean(), "not sorted"),
         "means": (lambda x, y: abs(x.mean() - y.mean()), "distance of the means"),
         "signed": (lambda x, y: (np.sort(x) - np.sort(y)).mean(), "signed mean"),
         "W2": (lambda x, y: np.sqrt(((np.sort(x) - np.sort(y)) ** 2).mean()), "W_2"),
         "sum": (lambda x, y: np.abs(np.sort(x) - np.sort(y)).sum(), "sum over the pairs")}),
    "check_linear_critic_penalty": (
        _penalty,
        {"squared norm": (lambda w, b, x, lam: (lam * (w @ w - 1) ** 2, 4 * lam * (w @ w - 1) * w, 0.0),
                          "||w||^2 where ||w|| belongs"),
         "no 1/||w||": (lambda w, b, x, lam: (*_penalty(w, b, x, lam)[:1], 2 * lam * (np.linalg.norm(w) - 1) * w, 0.0),
                        "1 / ||w||"),
         "bias gradient": (lambda w, b, x, lam: (*_penalty(w, b, x, lam)[:2], 1.0), "does not depend on b"),
         "no lambda": (lambda w, b, x, lam: _penalty(w, b, x, 1.0), "lam left out"),
         "two outputs": (lambda w, b, x, lam: _penalty(w, b, x, lam)[:2], "expected a tuple of 3")}),
}


def test_the_gan_checks_are_exported():
    assert set(CASES) <= set(checks.__all__)
    assert all(getattr(checks, name) is getattr(gan_checks, name) for name in CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_right_answer_passes(name, capsys):
    assert getattr(checks, name)(CASES[name][0]) is True
    assert "cases pass" in capsys.readouterr().out


@pytest.mark.parametrize("name,mistake", [(n, m) for n in sorted(CASES) for m in CASES[n][1]])
def test_plausible_mistake_fails_and_is_named(name, mistake, capsys):
    wrong, words = CASES[name][1][mistake]
    with np.errstate(all="ignore"):
        assert getattr(checks, name)(wrong) is False
    out = capsys.readouterr().out
    assert "FAIL" in out and words in out, out


def test_feedback_says_which_output_by_how_much_and_where(capsys):
    assert checks.check_linear_critic_penalty(CASES["check_linear_critic_penalty"][1]["bias gradient"][0]) is False
    out = capsys.readouterr().out
    assert "FAIL db" in out and "FAIL P" not in out and "FAIL dw" not in out
    assert "max relative error" in out and "x_hat(4, 5)" in out


def test_a_student_exception_propagates_with_a_note():
    def todo(x, y):
        raise NotImplementedError()

    with pytest.raises(NotImplementedError) as info:
        checks.check_wasserstein_1d(todo)
    assert any("check_wasserstein_1d" in note for note in info.value.__notes__)


def test_a_student_who_sorts_in_place_does_not_change_the_reference():
    def sorts_inputs(x, y):
        x.sort()
        y.sort()
        return np.abs(x - y).mean()

    assert checks.check_wasserstein_1d(sorts_inputs) is True


# ------------------------------------------------------------ the references
@settings(max_examples=50, deadline=None)
@given(p=st.floats(0, 10), q=st.floats(0, 10))
def test_optimal_discriminator_maximizes_the_pointwise_value(p, q):
    """D* maximizes p log D + q log(1 - D) over D in (0, 1): no point of a fine grid does better."""
    if p + q < 1e-6:
        return
    d_star = float(gan_checks.optimal_discriminator(np.array([p]), np.array([q]))[0])
    D = np.linspace(1e-6, 1 - 1e-6, 2001)
    with np.errstate(divide="ignore", invalid="ignore"):
        value = lambda d: np.nan_to_num(p * np.log(d), nan=0.0) + np.nan_to_num(q * np.log1p(-d), nan=0.0)  # noqa: E731
        assert value(np.clip(d_star, 1e-6, 1 - 1e-6)) >= value(D).max() - 1e-9 * (1 + p + q)


def test_optimal_discriminator_refuses_points_without_mass():
    with pytest.raises(DataError, match="undefined"):
        gan_checks.optimal_discriminator(np.array([0.0, 1.0]), np.array([0.0, 1.0]))
    with pytest.raises(DataError, match=">= 0"):
        gan_checks.optimal_discriminator(np.array([-1.0]), np.array([1.0]))
    with pytest.raises(ShapeError, match="one shape"):
        gan_checks.optimal_discriminator(np.ones(2), np.ones(3))


@settings(max_examples=50, deadline=None)
@given(n=st.integers(1, 40), seed=st.integers(0, 2**16), shift=st.floats(-5, 5))
def test_wasserstein_1d_is_the_sorted_pairing_for_equal_sizes(n, seed, shift):
    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=n), rng.normal(0, 2, size=n)
    w = gan_checks.wasserstein_1d(x, y)
    assert np.isclose(w, _w1_sorted(x, y), rtol=1e-12, atol=1e-12)
    assert np.isclose(w, gan_checks.wasserstein_1d(y, x), rtol=1e-12, atol=1e-12)            # symmetric
    assert np.isclose(gan_checks.wasserstein_1d(x, x + shift), abs(shift), rtol=1e-9, atol=1e-12)   # a shift


def test_wasserstein_1d_for_unequal_sizes_is_the_quantile_integral():
    """x = {0, 1} against y = {0, 1, 2}: |F_x - F_y| is 1/2 - 1/3 on [0, 1) and 1 - 2/3 on [1, 2): area 1/6 + 1/3;
    by quantiles, |F_x^-1(u) - F_y^-1(u)| = 1 on (1/3, 1/2] and on (2/3, 1]: the same 1/2."""
    assert np.isclose(gan_checks.wasserstein_1d(np.array([0.0, 1.0]), np.array([0.0, 1.0, 2.0])), 0.5)
    assert gan_checks.wasserstein_1d(np.array([0.0]), np.array([0.0, 1.0])) == 0.5
    with pytest.raises(ShapeError):
        gan_checks.wasserstein_1d(np.ones((2, 2)), np.ones(2))


def test_linear_critic_reference_is_the_finite_difference_gradient():
    rng = np.random.default_rng(0)
    w, b, x_hat, lam = rng.normal(size=4), 0.3, rng.uniform(-1, 1, (5, 4)), 10.0
    P, dw, db = gan_checks._linear_critic_reference(w, b, x_hat, lam)
    assert np.isclose(P, lam * (np.linalg.norm(w) - 1) ** 2, rtol=1e-12)
    num = numerical_gradient(lambda: gan_checks._linear_critic_reference(w, b, x_hat, lam)[0], w)
    assert np.max(np.abs(num - dw) / np.maximum(1e-8, np.abs(num) + np.abs(dw))) < 1e-7
    assert db == 0.0
