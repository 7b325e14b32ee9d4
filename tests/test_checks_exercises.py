"""The checkers of the exercises in lessons 1, 3, 7, 11, 19 and 22 name the mistake they see, and their references are right."""
import numpy as np
import pytest

from minivae import checks
from minivae.checks.attributes import attribute_vector
from minivae.checks.elbo import expected_log_likelihood
from minivae.checks.linear import linear_vae_optimum
from minivae.checks.sampling import effective_sample_size
from minivae.errors import DataError, ShapeError
from minivae.likelihoods import gaussian_log_likelihood


def _hint(capsys):
    out = capsys.readouterr().out
    assert "FAIL" in out
    return out


def test_ess_counts_equal_weights_as_k_and_one_dominant_weight_as_one():
    assert np.allclose(effective_sample_size(np.zeros((7, 2))), 7)
    assert np.allclose(effective_sample_size(np.array([[0.0], [-800.0], [-900.0]])), 1)


def test_ess_rejects_bad_log_weights():
    with pytest.raises(ShapeError, match="K, N"):
        effective_sample_size(np.zeros(3))
    with pytest.raises(DataError, match="finite"):
        effective_sample_size(np.array([[np.nan]]))


def test_ess_without_the_max_is_told_where_exp_underflows(capsys):
    naive = lambda lw: np.exp(lw).sum(0) ** 2 / (np.exp(lw) ** 2).sum(0)
    with np.errstate(all="ignore"):
        assert checks.check_effective_sample_size(naive) is False
    out = _hint(capsys)
    assert "non-finite" in out and "subtract the max" in out and "1 of 5 cases FAIL" in out


def test_ess_fraction_is_named(capsys):
    assert checks.check_effective_sample_size(lambda lw: effective_sample_size(lw) / len(lw)) is False
    assert "fraction ESS / K" in _hint(capsys)


def test_expected_log_likelihood_matches_monte_carlo():
    """The closed form against an average of the library's Gaussian log-density over z ~ q (float64)."""
    rng = np.random.default_rng(0)
    x, mu, lv = rng.standard_normal((1, 4)), rng.standard_normal((1, 2)), rng.uniform(-1, 0.5, (1, 2))
    W, b, s = rng.standard_normal((4, 2)), rng.standard_normal(4), 0.7
    z = mu + np.exp(lv / 2) * rng.standard_normal((200_000, 2))
    ll = gaussian_log_likelihood(np.broadcast_to(x, (len(z), 4)), z @ W.T + b, np.log(s ** 2))
    assert abs(ll.mean() - expected_log_likelihood(x, mu, lv, W, b, s)[0]) < 5 * ll.std() / np.sqrt(len(z))


def test_plugging_in_the_mean_is_named(capsys):
    at_mean = lambda x, mu, lv, W, b, s: gaussian_log_likelihood(x, mu @ W.T + b, np.log(s ** 2))
    assert checks.check_expected_log_likelihood(at_mean) is False
    assert "not its expectation over q" in _hint(capsys)


def test_linear_optimum_is_a_stationary_point_of_the_expected_loss():
    """The lesson's J(w, a, tau^2) has zero gradient at the reference (central differences, float64)."""
    v, s, beta = 4.0, 0.8, 2.0

    def J(w, a, t2):
        return ((1 - w * a) ** 2 * v + w * w * t2) / (2 * s * s) + beta / 2 * (a * a * v + t2 - np.log(t2) - 1)

    w2, a, t2 = (float(o) for o in linear_vae_optimum(np.array(v), np.array(s), np.array(beta)))
    p, h = np.array([np.sqrt(w2), a, t2]), 1e-6
    grad = [(J(*(p + h * e)) - J(*(p - h * e))) / (2 * h) for e in np.eye(3)]
    assert np.allclose(grad, 0, atol=1e-8)


@pytest.mark.parametrize("mistake,label", [
    (lambda v, s, beta: linear_vae_optimum(v, s, np.ones_like(beta)), "beta left out"),
    (lambda v, s, beta: (v - beta * s ** 2,) + linear_vae_optimum(v, s, beta)[1:], "no max(., 0)"),
])
def test_linear_optimum_mistakes_are_named(mistake, label, capsys):
    assert checks.check_linear_vae_optimum(mistake) is False
    assert label in _hint(capsys)


def test_balanced_vector_ignores_a_class_confound():
    """When the attribute only shifts codes along e_0 within every class, the balanced vector is along e_0."""
    rng = np.random.default_rng(1)
    labels = np.repeat(np.arange(3), 400)
    values = labels * 3.0 + rng.standard_normal(1200)                      # confounded with the class
    mu = np.c_[values - labels * 3.0, labels * 5.0]                          # e_0: attribute, e_1: class
    v = attribute_vector(mu, values, labels)
    assert abs(v[1]) < 1e-12 and v[0] > 1


def test_naive_attribute_vector_is_named(capsys):
    def naive(mu, values, labels):
        lo, hi = np.quantile(values, [0.25, 0.75])
        return mu[values >= hi].mean(0) - mu[values <= lo].mean(0)

    assert checks.check_attribute_vector(naive) is False
    assert "not within each class" in _hint(capsys)


def test_swapped_gap_parts_are_named(capsys):
    assert checks.check_gap_parts(lambda lp, best, am: (best - am, lp - best)) is False
    out = _hint(capsys)
    assert "the two parts swapped (this is the amortization gap)" in out
    assert "the two parts swapped (this is the approximation gap)" in out


def test_renyi_bound_without_its_factor_or_with_alpha_for_one_minus_alpha_is_named(capsys):
    from minivae import renyi
    assert checks.check_renyi_bound(lambda lw, a: (1 - a) * renyi.bound(lw, a)) is False
    assert "the factor 1/(1 - alpha) left out" in _hint(capsys)
    assert checks.check_renyi_bound(lambda lw, a: renyi.bound(lw, 1 - a) if a else lw.mean(0)) is False
    assert "alpha where 1 - alpha belongs" in _hint(capsys)
