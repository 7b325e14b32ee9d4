"""The checks of lesson 18: the MMD^2 estimate and the split E_x KL = I_q(x; z) + KL(q(z) || p(z)).

The reference of the split is checked against the VAE's own estimator, against a direct (N, N, M)
formula, against the closed-form KL, and on inputs whose answer is known (0, log N); the checks
accept independent correct answers and name the common mistakes.
"""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minivae
from minivae import checks
from minivae.checks.mmd import kl_decomposition
from minivae.errors import DataError, ShapeError

LOG_2PI = math.log(2 * math.pi)


def _posteriors(seed, n, m):
    r = np.random.default_rng(seed)
    return r.standard_normal((n, m)), r.uniform(-2.0, 1.0, (n, m)), r.standard_normal((n, m))


def _direct_split(mu, logvar, eps):
    """The same estimates from the (N, N, M) differences and numpy's logaddexp: no GEMM expansion."""
    z = mu + np.exp(logvar / 2) * eps
    lq = -0.5 * ((z[:, None] - mu[None]) ** 2 / np.exp(logvar[None]) + logvar[None] + LOG_2PI).sum(-1)
    log_qz = np.logaddexp.reduce(lq, axis=1) - math.log(len(mu))
    return (np.diag(lq) - log_qz).mean(), (log_qz + 0.5 * (z * z + LOG_2PI).sum(-1)).mean()


def _mmd_double_loop(z, zp, kernel, s):
    """The unbiased MMD^2 by its definition, one pair at a time (an oracle independent of minivae.mmd)."""
    def k(a, b):
        d = float(((a - b) ** 2).sum())
        return math.exp(-d / s) if kernel == "rbf" else s / (s + d)
    n, p = len(z), len(zp)
    zz = sum(k(z[i], z[j]) for i in range(n) for j in range(n) if i != j)
    pp = sum(k(zp[i], zp[j]) for i in range(p) for j in range(p) if i != j)
    return zz / (n * (n - 1)) + pp / (p * (p - 1)) - 2 * sum(k(a, b) for a in z for b in zp) / (n * p)


# ------------------------------------------------------ the reference of the split
def test_its_mutual_information_is_the_vaes_estimator():
    """I_hat with the eps that vae.mutual_information draws equals that method's value (float64)."""
    vae = minivae.VAE(input_dim=10, hidden_dims=(8,), latent_dim=3, dtype="float64", seed=0)
    x = np.random.default_rng(1).uniform(0, 1, (40, 10))
    mu, logvar = vae.encode(x)
    eps = vae.backend.default_rng(7).standard_normal(mu.shape)
    assert np.isclose(kl_decomposition(mu, logvar, eps)[0], vae.mutual_information(x, seed=7), rtol=1e-12, atol=0)


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 12), m=st.integers(1, 5), seed=st.integers(0, 2**16))
def test_it_matches_a_direct_formula_and_adds_up_to_the_one_sample_kl(n, m, seed):
    mu, logvar, eps = _posteriors(seed, n, m)
    mi, kl = kl_decomposition(mu, logvar, eps)
    assert np.allclose((mi, kl), _direct_split(mu, logvar, eps), rtol=1e-10, atol=1e-10)
    z = mu + np.exp(logvar / 2) * eps
    one_sample_kl = (-0.5 * (eps * eps + logvar).sum(1) + 0.5 * (z * z).sum(1)).mean()   # log q(z|x) - log p(z)
    assert math.isclose(mi + kl, one_sample_kl, rel_tol=1e-12, abs_tol=1e-12)
    assert mi <= math.log(n) + 1e-12                 # q(z_n) >= q(z_n|x_n) / N, for every draw


def test_averaged_over_draws_the_parts_sum_to_the_closed_form_kl():
    mu, logvar, _ = _posteriors(3, 20, 2)
    draws = np.random.default_rng(4).standard_normal((2000, 20, 2))
    total = np.array([sum(kl_decomposition(mu, logvar, e)) for e in draws])
    closed = (0.5 * (mu ** 2 + np.exp(logvar) - logvar - 1)).sum(1).mean()
    assert abs(total.mean() - closed) < 4 * total.std() / math.sqrt(len(total))


def test_known_answers():
    """q(z|x) = p(z): both parts 0; one posterior for all x: I = 0; far-apart posteriors: I = log N."""
    eps = np.random.default_rng(5).standard_normal((6, 3))
    assert np.allclose(kl_decomposition(np.zeros((6, 3)), np.zeros((6, 3)), eps), 0.0, atol=1e-12)
    mu, logvar = np.tile([[0.5, -1.0, 2.0]], (6, 1)), np.tile([[-1.0, 0.3, 0.0]], (6, 1))
    assert abs(kl_decomposition(mu, logvar, eps)[0]) < 1e-12
    mu_far = 40.0 * np.arange(6)[:, None] * np.ones((6, 3))
    # |z| ~ 200: the mixture's GEMM expansion of (z - mu)^2 / sigma^2 rounds at about 1e-16 * 1e5
    assert math.isclose(kl_decomposition(mu_far, np.full((6, 3), -1.0), eps)[0], math.log(6), rel_tol=1e-9)


def test_it_rejects_bad_input():
    with pytest.raises(ShapeError, match="one shape"):
        kl_decomposition(np.zeros((3, 2)), np.zeros((3, 2)), np.zeros((3, 4)))
    with pytest.raises(ShapeError, match="one shape"):
        kl_decomposition(np.zeros(3), np.zeros(3), np.zeros(3))
    with pytest.raises(DataError, match="finite"):
        kl_decomposition(np.full((3, 2), np.nan), np.zeros((3, 2)), np.zeros((3, 2)))


# ------------------------------------------------------------------ the checks
def test_check_mmd_accepts_the_definition_written_as_a_double_loop(capsys):
    assert checks.check_mmd(_mmd_double_loop) is True
    assert "all 7 cases pass" in capsys.readouterr().out


def test_check_mmd_is_not_fooled_by_a_function_that_changes_its_inputs():
    def mutating(z, zp, kernel, s):
        out = _mmd_double_loop(z, zp, kernel, s)
        z[...], zp[...] = 0.0, 0.0
        return out

    assert checks.check_mmd(mutating) is True


def test_check_mmd_names_the_biased_estimate(capsys):
    def biased(z, zp, kernel, s):
        def k(a, b):
            d = ((a[:, None] - b[None]) ** 2).sum(-1)
            return np.exp(-d / s) if kernel == "rbf" else s / (s + d)
        return k(z, z).mean() + k(zp, zp).mean() - 2 * k(z, zp).mean()

    assert checks.check_mmd(biased) is False
    out = capsys.readouterr().out
    assert "FAIL MMD^2" in out and "biased V-statistic" in out


def test_check_mmd_names_the_bandwidth_read_as_a_variance(capsys):
    def half_bandwidth(z, zp, kernel, s):
        return _mmd_double_loop(z, zp, kernel, 2 * s if kernel == "rbf" else s)

    assert checks.check_mmd(half_bandwidth) is False
    out = capsys.readouterr().out
    assert "read as a variance" in out and "kernel 'imq'" not in out      # only the rbf cases fail


def test_check_kl_decomposition_accepts_a_direct_formula(capsys):
    assert checks.check_kl_decomposition(_direct_split) is True
    assert "all 7 cases pass" in capsys.readouterr().out


def test_check_kl_decomposition_names_the_missing_mixture_weights(capsys):
    def log_sum(mu, logvar, eps):
        mi, kl = _direct_split(mu, logvar, eps)
        return mi - math.log(len(mu)), kl + math.log(len(mu))

    assert checks.check_kl_decomposition(log_sum) is False
    out = capsys.readouterr().out
    assert "FAIL I (the mutual information)" in out and "FAIL KL(q(z) || p(z))" in out
    assert "weights 1/N left out" in out


def test_check_kl_decomposition_names_the_closed_form_kl_in_place_of_the_aggregates(capsys):
    def closed(mu, logvar, eps):
        return _direct_split(mu, logvar, eps)[0], (0.5 * (mu ** 2 + np.exp(logvar) - logvar - 1)).sum(1).mean()

    assert checks.check_kl_decomposition(closed) is False
    out = capsys.readouterr().out
    assert "FAIL KL(q(z) || p(z))" in out and "FAIL I" not in out and "not the aggregate posterior's" in out


def test_check_kl_decomposition_reports_a_single_output(capsys):
    assert checks.check_kl_decomposition(lambda mu, logvar, eps: 0.0) is False
    assert "expected a tuple of 2" in capsys.readouterr().out


@pytest.mark.parametrize("check", ["check_mmd", "check_kl_decomposition"])
def test_an_open_exercise_raises_with_a_note(check):
    def todo(*args):
        raise NotImplementedError()

    with pytest.raises(NotImplementedError) as info:
        getattr(checks, check)(todo)
    assert any(check in note for note in info.value.__notes__)
