"""minivae.checks: each check accepts the correct answer and rejects plausible wrong answers.

The correct answers are closed forms written out here in float64, not the
library's functions: a check compares with the library's reference, so a bug
in that reference makes the closed form fail its check (with the library's own
function as the answer, the bug would cancel out).
"""
import math

import numpy as np
import pytest

from minivae import checks

LOG_2PI = math.log(2 * math.pi)


def _kl(mu, lv):
    return 0.5 * (mu**2 + np.exp(lv) - lv - 1).sum(-1)


def _bernoulli_ll(x, l):
    return (x * l - np.logaddexp(0, l)).sum(-1)


def _mean_of_weights(lw):
    """log (1/K) sum_k exp(lw_k), the max taken out first."""
    m = lw.max(0)
    return m + np.log(np.exp(lw - m).mean(0))


def _log_w(ll, z, logvar, eps, sq_z_in_q=False, half_logvar=False):
    lv = logvar / 2 if half_logvar else logvar
    sq = z * z if sq_z_in_q else eps * eps
    return ll - 0.5 * (z * z + LOG_2PI).sum(-1) + 0.5 * (sq + lv + LOG_2PI).sum(-1)


def _log_w2(ll, z1, eps1, lv1, mu_p, lv_p, z2, eps2, lv2, prior1=True, q2=True, sigma_p_var=False):
    """The two-layer log weight, written out: log p(x|z1) + log p(z1|z2) + log p(z2) - log q(z1|x) - log q(z2|z1)."""
    var_p = np.exp(lv_p / 2) if sigma_p_var else np.exp(lv_p)
    log_p1 = (-0.5 * ((z1 - mu_p) ** 2 / var_p + np.log(var_p) + LOG_2PI)).sum(-1) if prior1 else \
        -0.5 * (z1 * z1 + LOG_2PI).sum(-1)
    log_q2 = -0.5 * (eps2 * eps2 + lv2 + LOG_2PI).sum(-1) if q2 else 0.0
    return (ll + log_p1 - 0.5 * (z2 * z2 + LOG_2PI).sum(-1) + 0.5 * (eps1 * eps1 + lv1 + LOG_2PI).sum(-1)
            - log_q2)


def _ess(lw):
    w = np.exp(lw - lw.max(0))
    return w.sum(0) ** 2 / (w ** 2).sum(0)


def _exp_ll(x, mu, lv, W, b, s):
    r = x - mu @ W.T - b
    return -0.5 * (((r ** 2).sum(1) + np.exp(lv) @ (W ** 2).sum(0)) / s ** 2 + x.shape[1] * np.log(2 * np.pi * s ** 2))


def _linear_opt(v, s, beta, use_beta=True):
    n2 = (beta if use_beta else 1.0) * s ** 2          # the effective noise variance
    w2 = np.clip(v - n2, 0, None)
    return w2, np.sqrt(w2) / (w2 + n2), n2 / (w2 + n2)


def _attr(mu, values, labels, q=0.25, balanced=True):
    groups = [labels == c for c in np.unique(labels)] if balanced else [np.ones(len(labels), bool)]
    out = []
    for g in groups:
        lo, hi = np.quantile(values[g], [q, 1 - q])
        out.append(mu[g & (values >= hi)].mean(0) - mu[g & (values <= lo)].mean(0))
    return np.mean(out, 0)


def _onehot(y, c):
    return np.eye(c)[y]


def _planar_log_det(z, uh, w, b, h_prime=lambda a: 1 - np.tanh(a) ** 2, with_b=True):
    a = (z * w).sum(-1) + (b if with_b else 0)
    return np.log(np.abs(1 + h_prime(a) * (uh * w).sum(-1)))


def _gumbel_softmax(a, g, tau):
    s = (a + g) / tau
    e = np.exp(s - s.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _categorical_kl(a):
    s = a - a.max(-1, keepdims=True)
    log_q = s - np.log(np.exp(s).sum(-1, keepdims=True))
    return (np.exp(log_q) * (log_q + np.log(a.shape[-1]))).sum((-2, -1))


def _sq_dist(z, e):
    return ((z[:, None, :] - e[None]) ** 2).sum(-1)


def _mmd2(z, zp, kernel, s, unbiased=True, cross=2.0):
    def k(a, b):
        d = ((a[:, None] - b[None]) ** 2).sum(-1)
        return np.exp(-d / s) if kernel == "rbf" else s / (s + d)
    n, p, kzz, kpp = len(z), len(zp), k(z, z), k(zp, zp)
    if unbiased:
        return ((kzz.sum() - np.trace(kzz)) / (n * (n - 1)) + (kpp.sum() - np.trace(kpp)) / (p * (p - 1))
                - cross * k(z, zp).mean())
    return kzz.mean() + kpp.mean() - cross * k(z, zp).mean()


def _kl_split(mu, lv, eps, log_n=True):
    z = mu + np.exp(lv / 2) * eps
    lq = -0.5 * ((z[:, None] - mu[None]) ** 2 / np.exp(lv[None]) + lv[None] + LOG_2PI).sum(-1)   # log q(z_i|x_m)
    log_qz = np.logaddexp.reduce(lq, axis=1) - (np.log(len(mu)) if log_n else 0)
    log_pz = -0.5 * (z * z + LOG_2PI).sum(-1)
    return (np.diag(lq) - log_qz).mean(), (log_qz - log_pz).mean()


# name -> (the closed form, {mistake: wrong implementation})
CASES = {
    "check_kl_divergence": (
        _kl,
        {"missing 1/2": lambda mu, lv: (mu**2 + np.exp(lv) - lv - 1).sum(-1),
         "sigma for sigma^2": lambda mu, lv: 0.5 * (mu**2 + np.exp(lv / 2) - lv - 1).sum(-1),
         "sign error": lambda mu, lv: 0.5 * (mu**2 + np.exp(lv) + lv - 1).sum(-1),
         "no sum": lambda mu, lv: 0.5 * (mu**2 + np.exp(lv) - lv - 1)}),
    "check_kl_backward": (
        lambda d, mu, lv: (d[:, None] * mu, d[:, None] * 0.5 * (np.exp(lv) - 1)),
        {"missing 1/2": lambda d, mu, lv: (d[:, None] * mu, d[:, None] * (np.exp(lv) - 1)),
         "sigma for sigma^2": lambda d, mu, lv: (d[:, None] * mu, d[:, None] * 0.5 * (np.exp(lv / 2) - 1)),
         "sign error": lambda d, mu, lv: (d[:, None] * mu, d[:, None] * 0.5 * (1 - np.exp(lv))),
         "one output": lambda d, mu, lv: d[:, None] * mu}),
    "check_reparameterize": (
        lambda mu, lv, eps: mu + np.exp(lv / 2) * eps,
        {"sigma^2 for sigma": lambda mu, lv, eps: mu + np.exp(lv) * eps,
         "sign error": lambda mu, lv, eps: mu - np.exp(lv / 2) * eps}),
    "check_reparameterize_backward": (
        lambda dz, mu, lv, eps: (dz, 0.5 * dz * eps * np.exp(lv / 2)),
        {"missing 1/2": lambda dz, mu, lv, eps: (dz, dz * eps * np.exp(lv / 2)),
         "sigma^2 for sigma": lambda dz, mu, lv, eps: (dz, 0.5 * dz * eps * np.exp(lv)),
         "sign error": lambda dz, mu, lv, eps: (dz, -0.5 * dz * eps * np.exp(lv / 2))}),
    "check_dense_backward": (
        lambda dy, x, W, b: (dy @ W.T, x.T @ dy, dy.sum(0)),
        {"sign error": lambda dy, x, W, b: (-(dy @ W.T), x.T @ dy, dy.sum(0)),
         "db mean": lambda dy, x, W, b: (dy @ W.T, x.T @ dy, dy.mean(0)),
         "dW transposed": lambda dy, x, W, b: (dy @ W.T, dy.T @ x, dy.sum(0))}),
    "check_bernoulli_log_likelihood": (
        _bernoulli_ll,
        {"sign error": lambda x, l: -_bernoulli_ll(x, l),
         "naive log sigmoid": lambda x, l: (x * np.log(1 / (1 + np.exp(-l)))
                                            + (1 - x) * np.log(1 - 1 / (1 + np.exp(-l)))).sum(-1),
         "mean not sum": lambda x, l: (x * l - np.logaddexp(0, l)).mean(-1)}),
    "check_bernoulli_backward": (
        lambda d, x, l: d[:, None] * (x - 1 / (1 + np.exp(-l))),
        {"sign error": lambda d, x, l: d[:, None] * (1 / (1 + np.exp(-l)) - x),
         "dll ignored": lambda d, x, l: x - 1 / (1 + np.exp(-l))}),
    "check_gaussian_log_likelihood": (
        lambda x, m, lv: -0.5 * ((x - m) ** 2 / np.exp(lv) + lv + LOG_2PI).sum(-1),
        {"missing 1/2": lambda x, m, lv: -((x - m) ** 2 / np.exp(lv) + lv + LOG_2PI).sum(-1),
         "sigma for sigma^2": lambda x, m, lv: -0.5 * ((x - m) ** 2 / np.exp(lv / 2) + lv + LOG_2PI).sum(-1),
         "sign error": lambda x, m, lv: 0.5 * ((x - m) ** 2 / np.exp(lv) + lv + LOG_2PI).sum(-1)}),
    "check_log_weights": (
        lambda ll, z, lv, eps: _log_w(ll, z, lv, eps),
        {"log sigma for log sigma^2": lambda ll, z, lv, eps: _log_w(ll, z, lv, eps, half_logvar=True),
         "z^2 in log q": lambda ll, z, lv, eps: _log_w(ll, z, lv, eps, sq_z_in_q=True),
         "sign error": lambda ll, z, lv, eps: 2 * ll - _log_w(ll, z, lv, eps)}),
    "check_iwae_bound": (
        _mean_of_weights,
        {"no -log K": lambda lw: _mean_of_weights(lw) + math.log(lw.shape[0]),
         "naive exp underflows": lambda lw: np.log(np.exp(lw).mean(0)),
         "sign error": lambda lw: -_mean_of_weights(lw)}),
    "check_renyi_bound": (
        lambda lw, a: _mean_of_weights((1 - a) * lw) / (1 - a),
        {"no 1/(1 - alpha)": lambda lw, a: _mean_of_weights((1 - a) * lw),
         "w^alpha for w^(1 - alpha)": lambda lw, a: _mean_of_weights(a * lw) / a if a else lw.mean(0),
         "naive exp underflows": lambda lw, a: np.log(np.exp((1 - a) * lw).mean(0)) / (1 - a),
         "the IWAE bound whatever alpha": lambda lw, a: _mean_of_weights(lw)}),
    "check_two_layer_log_weight": (
        _log_w2,
        {"N(0, I) for p(z1|z2)": lambda *a: _log_w2(*a, prior1=False),
         "no log q(z2|z1)": lambda *a: _log_w2(*a, q2=False),
         "sigma_p for sigma_p^2": lambda *a: _log_w2(*a, sigma_p_var=True)}),
    "check_condition_input": (
        lambda z, y, c: np.concatenate([z, _onehot(y, c)], 1),
        {"onehot first": lambda z, y, c: np.concatenate([_onehot(y, c), z], 1),
         "raw label": lambda z, y, c: np.concatenate([z, y[:, None].astype(float)], 1),
         "negated label block": lambda z, y, c: np.concatenate([z, -_onehot(y, c)], 1)}),
    "check_free_bits_kl": (
        lambda mu, lv, lam: np.maximum(0.5 * (mu**2 + np.exp(lv) - lv - 1).mean(0), lam).sum(),
        {"per example floor": lambda mu, lv, lam: np.maximum(0.5 * (mu**2 + np.exp(lv) - lv - 1), lam).mean(0).sum(),
         "missing 1/2": lambda mu, lv, lam: np.maximum((mu**2 + np.exp(lv) - lv - 1).mean(0), lam).sum(),
         "min for max": lambda mu, lv, lam: np.minimum(0.5 * (mu**2 + np.exp(lv) - lv - 1).mean(0), lam).sum()}),
    "check_active_units": (
        lambda mu, t: int((mu.var(0) > t).sum()),
        {"std for var": lambda mu, t: int((mu.std(0) > t).sum()),
         "sign error": lambda mu, t: int((mu.var(0) < t).sum()),
         "wrong axis": lambda mu, t: int((mu.var(1) > t).sum())}),
    "check_optimal_discriminator": (
        lambda p, q: p / (p + q),
        {"swapped": lambda p, q: q / (p + q),
         "density ratio": lambda p, q: p / q}),
    "check_ns_generator_gradient": (
        lambda s: (0.5 * (1 + np.tanh(s / 2)) - 1) / len(s),
        {"minimax gradient": lambda s: -0.5 * (1 + np.tanh(s / 2)) / len(s),
         "no 1/M": lambda s: 0.5 * (1 + np.tanh(s / 2)) - 1,
         "sign error": lambda s: (1 - 0.5 * (1 + np.tanh(s / 2))) / len(s)}),
    "check_wasserstein_1d": (
        lambda x, y: np.abs(np.sort(x) - np.sort(y)).mean(),
        {"not sorted": lambda x, y: np.abs(x - y).mean(),
         "squared": lambda x, y: ((np.sort(x) - np.sort(y)) ** 2).mean()}),
    "check_linear_critic_penalty": (
        lambda w, b, x, lam: (lam * (np.linalg.norm(w) - 1) ** 2,
                              2 * lam * (np.linalg.norm(w) - 1) * w / np.linalg.norm(w), 0.0),
        {"norm squared": lambda w, b, x, lam: (lam * (w @ w - 1) ** 2, 4 * lam * (w @ w - 1) * w, 0.0),
         "no chain through the norm": lambda w, b, x, lam: (lam * (np.linalg.norm(w) - 1) ** 2,
                                                            2 * lam * (np.linalg.norm(w) - 1) * w, 0.0)}),
    "check_feature_matching_loss": (
        lambda fx, ft: (0.5 * ((ft - fx) ** 2).sum() / len(fx), (ft - fx) / len(fx)),
        {"no 1/2": lambda fx, ft: (((ft - fx) ** 2).sum() / len(fx), 2 * (ft - fx) / len(fx)),
         "sign error": lambda fx, ft: (0.5 * ((ft - fx) ** 2).sum() / len(fx), (fx - ft) / len(fx)),
         "sum not mean": lambda fx, ft: (0.5 * ((ft - fx) ** 2).sum(), ft - fx)}),
    "check_planar_log_det": (
        _planar_log_det,
        {"tanh for h'": lambda z, uh, w, b: _planar_log_det(z, uh, w, b, h_prime=np.tanh),
         "no b": lambda z, uh, w, b: _planar_log_det(z, uh, w, b, with_b=False),
         "no 1 +": lambda z, uh, w, b: np.log(np.abs((1 - np.tanh((z * w).sum(-1) + b) ** 2) * (uh * w).sum(-1))),
         "no log": lambda z, uh, w, b: np.exp(_planar_log_det(z, uh, w, b))}),
    "check_full_kl": (
        lambda mu, lv, l: _kl(mu, lv) + 0.5 * (l**2).sum(-1),
        {"no L term": lambda mu, lv, l: _kl(mu, lv),
         "L term without 1/2": lambda mu, lv, l: _kl(mu, lv) + (l**2).sum(-1),
         "log sigma for log sigma^2": lambda mu, lv, l: 0.5 * (mu**2 + np.exp(lv) - lv / 2 - 1).sum(-1)
                                                         + 0.5 * (l**2).sum(-1)}),
    "check_made_masks": (
        lambda di, dh: ((dh[None, :] >= di[:, None]) * 1.0, (di[None, :] > dh[:, None]) * 1.0),
        {"sees itself": lambda di, dh: ((dh[None, :] >= di[:, None]) * 1.0, (di[None, :] >= dh[:, None]) * 1.0)}),
    "check_iaf_step": (
        lambda z, m, s: (m + (1 + np.tanh(s / 2)) / 2 * (z - m), -np.logaddexp(0, -s).sum(-1)),
        {"log(1 - sigma)": lambda z, m, s: (m + (1 + np.tanh(s / 2)) / 2 * (z - m), -np.logaddexp(0, s).sum(-1))}),
    "check_gumbel_softmax": (
        _gumbel_softmax,
        {"tau multiplied": lambda a, g, tau: _gumbel_softmax(a, g, 1 / tau),
         "noise outside the temperature": lambda a, g, tau: _gumbel_softmax(a, g * tau, tau),
         "no noise": lambda a, g, tau: _gumbel_softmax(a, 0 * g, tau)}),
    "check_gumbel_softmax_backward": (
        lambda dy, y, tau: y * (dy - (dy * y).sum(-1, keepdims=True)) / tau,
        {"no 1/tau": lambda dy, y, tau: y * (dy - (dy * y).sum(-1, keepdims=True)),
         "diagonal only": lambda dy, y, tau: y * dy / tau,
         "sign error": lambda dy, y, tau: -y * (dy - (dy * y).sum(-1, keepdims=True)) / tau}),
    "check_categorical_kl": (
        _categorical_kl,
        {"no log K": lambda a: _categorical_kl(a) - a.shape[-2] * np.log(a.shape[-1]),
         "naive softmax": lambda a: (np.exp(a) / np.exp(a).sum(-1, keepdims=True)
                                     * np.log(a.shape[-1] * np.exp(a) / np.exp(a).sum(-1, keepdims=True))).sum((-2, -1)),
         "no sum over M": lambda a: _categorical_kl(a[..., None, :])}),
    "check_nearest_codes": (
        lambda z, e: _sq_dist(z, e).argmin(1),
        {"argmax": lambda z, e: _sq_dist(z, e).argmax(1),
         "largest dot product": lambda z, e: (z @ e.T).argmax(1),
         "float indices": lambda z, e: _sq_dist(z, e).argmin(1).astype(float)}),
    "check_mmd": (
        _mmd2,
        {"biased": lambda z, zp, k, s: _mmd2(z, zp, k, s, unbiased=False),
         "no factor 2": lambda z, zp, k, s: _mmd2(z, zp, k, s, cross=1.0),
         "MMD not squared": lambda z, zp, k, s: np.sqrt(abs(_mmd2(z, zp, k, s)))}),
    "check_kl_decomposition": (
        _kl_split,
        {"no 1/N": lambda mu, lv, eps: _kl_split(mu, lv, eps, log_n=False),
         "swapped": lambda mu, lv, eps: _kl_split(mu, lv, eps)[::-1],
         "closed-form KL": lambda mu, lv, eps: (_kl_split(mu, lv, eps)[0], _kl(mu, lv).mean())}),
    "check_effective_sample_size": (
        _ess,
        {"ESS / K": lambda lw: _ess(lw) / len(lw),
         "inverse": lambda lw: 1 / _ess(lw),
         "exp without the max": lambda lw: np.exp(lw).sum(0) ** 2 / (np.exp(lw) ** 2).sum(0)}),
    "check_expected_log_likelihood": (
        _exp_ll,
        {"log p(x|z) at z = mu": lambda x, mu, lv, W, b, s: _exp_ll(x, mu, lv - 60, W, b, s),
         "s for s^2": lambda x, mu, lv, W, b, s: _exp_ll(x, mu, lv, W, b, np.sqrt(s)),
         "no constant": lambda x, mu, lv, W, b, s: _exp_ll(x, mu, lv, W, b, s)
                                                   + 0.5 * x.shape[1] * np.log(2 * np.pi * s ** 2)}),
    "check_linear_vae_optimum": (
        _linear_opt,
        {"no beta": lambda v, s, beta: _linear_opt(v, s, beta, use_beta=False),
         "no max": lambda v, s, beta: (v - beta * s ** 2,) + _linear_opt(v, s, beta)[1:],
         "tau2 swapped": lambda v, s, beta: _linear_opt(v, s, beta)[:2] + (1 - _linear_opt(v, s, beta)[2],)}),
    "check_gap_parts": (
        lambda lp, best, am: (lp - best, best - am),
        {"swapped": lambda lp, best, am: (best - am, lp - best),
         "total for the approximation part": lambda lp, best, am: (lp - am, best - am),
         "sign of the amortization part": lambda lp, best, am: (lp - best, am - best)}),
    "check_attribute_vector": (
        _attr,
        {"naive": lambda mu, v, y: _attr(mu, v, y, balanced=False),
         "sign": lambda mu, v, y: -_attr(mu, v, y),
         "halves": lambda mu, v, y: _attr(mu, v, y, q=0.5)}),
}


def test_every_check_is_covered():
    names = {n for n in checks.__all__ if n.startswith("check_")}
    assert names == set(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_reference_passes(name, capsys):
    """The closed form passes: so the library's reference, which the check compares with, is right too."""
    ref, _ = CASES[name]
    assert getattr(checks, name)(ref) is True
    assert "all" in capsys.readouterr().out


@pytest.mark.parametrize("name,mistake", [(n, m) for n in sorted(CASES) for m in CASES[n][1]])
def test_plausible_mistake_is_rejected(name, mistake, capsys):
    wrong = CASES[name][1][mistake]
    with np.errstate(all="ignore"):
        assert getattr(checks, name)(wrong) is False
    assert "FAIL" in capsys.readouterr().out


def test_feedback_names_output_error_input_and_mistake(capsys):
    def kl_without_half(mu, logvar):
        return (mu**2 + np.exp(logvar) - logvar - 1).sum(-1)

    assert checks.check_kl_divergence(kl_without_half) is False
    out = capsys.readouterr().out
    assert "FAIL kl" in out                          # which output
    assert "max relative error" in out               # by how much
    assert "mu(4, 3)" in out and "worst at index" in out   # on what input
    assert "missing factor 1/2" in out               # the diagnosis


def test_feedback_for_sigma_in_place_of_sigma_squared(capsys):
    def dlogvar_with_sigma(dkl, mu, logvar):
        return dkl[:, None] * mu, dkl[:, None] * 0.5 * (np.exp(logvar / 2) - 1)

    assert checks.check_kl_backward(dlogvar_with_sigma) is False
    out = capsys.readouterr().out
    assert "FAIL dlogvar" in out and "FAIL dmu" not in out
    assert "sigma = exp(logvar / 2) used where sigma^2 belongs" in out


def test_wrong_shape_is_reported(capsys):
    assert checks.check_kl_divergence(lambda mu, lv: 0.5 * (mu**2 + np.exp(lv) - lv - 1)) is False
    assert "expected (4,)" in capsys.readouterr().out


def test_student_exceptions_propagate_with_a_note():
    def todo(mu, logvar):
        raise NotImplementedError()

    with pytest.raises(NotImplementedError) as info:
        checks.check_kl_divergence(todo)
    assert any("check_kl_divergence" in note for note in info.value.__notes__)


def test_inputs_are_not_shared_with_the_reference():
    def mutating(mu, logvar):
        out = _kl(mu, logvar)
        mu[...] = 0.0
        logvar[...] = 0.0
        return out

    assert checks.check_kl_divergence(mutating) is True


def test_quick_mode_and_figure_path(monkeypatch, tmp_path):
    monkeypatch.setenv("MINIVAE_QUICK", "1")
    monkeypatch.delenv("MINIVAE_FIGURES", raising=False)
    assert checks.quick_mode()
    assert "minivae-lesson-figures" in str(checks.figure_path("a.png"))
    monkeypatch.setenv("MINIVAE_QUICK", "0")
    monkeypatch.chdir(tmp_path)
    assert not checks.quick_mode()
    assert checks.figure_path("a.png") == tmp_path / "runs" / "lesson-figures" / "a.png"


@pytest.mark.parametrize("quick", ["1", "0"])
def test_neither_quick_nor_default_full_mode_writes_into_the_committed_figures(monkeypatch, tmp_path, quick):
    monkeypatch.setenv("MINIVAE_QUICK", quick)
    monkeypatch.delenv("MINIVAE_FIGURES", raising=False)
    (tmp_path / "lessons").mkdir()
    for cwd in (tmp_path, tmp_path / "lessons"):                # Jupyter started in the root or in lessons/
        monkeypatch.chdir(cwd)
        where = checks.figure_path("a.png")
        where.write_bytes(b"png")
        assert (tmp_path / "figures") not in where.parents
    assert not (tmp_path / "figures").exists()


def test_full_mode_writes_figures_where_minivae_figures_says(monkeypatch, tmp_path):
    """MINIVAE_FIGURES is the one way to regenerate the committed figures; relative to the root, from lessons/ too."""
    monkeypatch.setenv("MINIVAE_QUICK", "0")
    (tmp_path / "lessons").mkdir()
    monkeypatch.chdir(tmp_path / "lessons")
    monkeypatch.setenv("MINIVAE_FIGURES", "figures/lessons")
    assert checks.figure_path("a.png") == tmp_path / "figures" / "lessons" / "a.png"
    monkeypatch.setenv("MINIVAE_FIGURES", str(tmp_path / "elsewhere"))
    assert checks.figure_path("b.png") == tmp_path / "elsewhere" / "b.png"
    monkeypatch.setenv("MINIVAE_QUICK", "1")                   # quick mode ignores it: never the committed figures
    assert "minivae-lesson-figures" in str(checks.figure_path("c.png"))


def test_figure_path_in_a_clone_named_lessons(monkeypatch, tmp_path):
    """A repository whose folder is called "lessons" keeps its figures inside it; from its lessons/ they go there too."""
    monkeypatch.setenv("MINIVAE_QUICK", "0")
    monkeypatch.delenv("MINIVAE_FIGURES", raising=False)
    repo = tmp_path / "lessons"
    (repo / "lessons").mkdir(parents=True)
    monkeypatch.chdir(repo)
    assert checks.figure_path("a.png") == repo / "runs" / "lesson-figures" / "a.png"
    monkeypatch.chdir(repo / "lessons")
    assert checks.figure_path("b.png") == repo / "runs" / "lesson-figures" / "b.png"
