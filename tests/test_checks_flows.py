"""minivae.checks for lessons 16 and 20: a planar step's log-determinant, the full-covariance KL, MADE's masks and an
IAF step.

Each check accepts the right answer, rejects plausible wrong ones with a message that names the mistake,
and its reference (the library's planar_flow and full_kl) agrees with an independent oracle: numpy's
slogdet of the step's Jacobian, and the KL of two Gaussians from the covariance matrix C C^T itself.
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minivae import checks
from minivae.checks import flows
from minivae.gradcheck import numerical_gradient
from minivae.planar import planar_flow, u_hat


def _log_det(z, uh, w, b):
    return np.log(np.abs(1 + (1 - np.tanh((z * w).sum(-1) + b) ** 2) * (uh * w).sum(-1)))


def _full_kl(mu, lv, l_flat):
    return 0.5 * (mu**2 + np.exp(lv) - lv - 1).sum(-1) + 0.5 * (l_flat**2).sum(-1)


def _a(z, w, b):
    return (z * w).sum(-1) + b


def _masks(deg_in, deg_h):
    return (deg_h[None, :] >= deg_in[:, None]) * 1.0, (deg_in[None, :] > deg_h[:, None]) * 1.0


def _iaf_step(z, m, s):
    sigma = (1 + np.tanh(s / 2)) / 2                                       # sigmoid(s), no overflow
    return sigma * z + (1 - sigma) * m, -np.logaddexp(0, -s).sum(-1)


# name -> (the right answer, {mistake: (wrong implementation, words the feedback must contain)})
CASES = {
    "check_planar_log_det": (
        _log_det,
        {"tanh for h'": (lambda z, uh, w, b: np.log(np.abs(1 + np.tanh(_a(z, w, b)) * (uh * w).sum(-1))),
                         "tanh(a) used where its derivative"),
         "no square": (lambda z, uh, w, b: np.log(np.abs(1 + (1 - np.tanh(_a(z, w, b))) * (uh * w).sum(-1))),
                       "square left out"),
         "no 1 +": (lambda z, uh, w, b: np.log(np.abs((1 - np.tanh(_a(z, w, b)) ** 2) * (uh * w).sum(-1))),
                    "the 1 + left out"),
         "no b": (lambda z, uh, w, b: _log_det(z, uh, w, 0 * b), "bias b left out"),
         "no log": (lambda z, uh, w, b: np.exp(_log_det(z, uh, w, b)), "not its log"),
         "w.w": (lambda z, uh, w, b: _log_det(z, w, w, b), "||w||^2 where u_hat^T w belongs"),
         "swapped in a": (lambda z, uh, w, b: np.log(np.abs(1 + (1 - np.tanh(_a(z, uh, b)) ** 2) * (uh * w).sum(-1))),
                          "u_hat and w swapped"),
         "summed": (lambda z, uh, w, b: _log_det(z, uh, w, b).sum(), "expected (")}),
    "check_full_kl": (
        _full_kl,
        {"diagonal KL": (lambda mu, lv, l: _full_kl(mu, lv, 0 * l), "left out (that is the diagonal"),
         "no 1/2 on L": (lambda mu, lv, l: _full_kl(mu, lv, l) + 0.5 * (l**2).sum(-1), "without its 1/2"),
         "L not squared": (lambda mu, lv, l: _full_kl(mu, lv, 0 * l) + 0.5 * l.sum(-1), "L_ij, not L_ij^2"),
         "log sigma": (lambda mu, lv, l: _full_kl(mu, lv, l) + 0.25 * lv.sum(-1), "sum_j log sigma_j (logvar / 2)"),
         "sigma for sigma^2": (lambda mu, lv, l: _full_kl(mu, lv, l) + 0.5 * (np.exp(lv / 2) - np.exp(lv)).sum(-1),
                               "sigma = exp(logvar / 2) used where sigma^2"),
         "no -M": (lambda mu, lv, l: _full_kl(mu, lv, l) + 0.5 * mu.shape[1], "the -M left out"),
         "negated": (lambda mu, lv, l: -_full_kl(mu, lv, l), "max relative error")}),
    "check_made_masks": (
        _masks,
        {">= in m_out": (lambda di, dh: (_masks(di, dh)[0], (di[None, :] >= dh[:, None]) * 1.0), "not autoregressive"),
         "> in m_in": (lambda di, dh: ((dh[None, :] > di[:, None]) * 1.0, _masks(di, dh)[1]), "its own degree"),
         "transposed": (lambda di, dh: (_masks(di, dh)[0].T, _masks(di, dh)[1]), "expected (4, 3)"),
         "one mask": (lambda di, dh: _masks(di, dh)[0], "expected a tuple of 2")}),
    "check_iaf_step": (
        _iaf_step,
        {"swapped": (lambda z, m, s: (_iaf_step(z, m, -s)[0], _iaf_step(z, m, s)[1]), "1 - sigma swapped"),
         "log(1 - sigma)": (lambda z, m, s: (_iaf_step(z, m, s)[0], _iaf_step(z, m, -s)[1]), "sum log(1 - sigma)"),
         "s for log sigma": (lambda z, m, s: (_iaf_step(z, m, s)[0], s.sum(-1)), "not s"),
         "naive log": (lambda z, m, s: (_iaf_step(z, m, s)[0], np.log(1 / (1 + np.exp(-s))).sum(-1)),
                       "underflows to 0")}),
}


def test_the_flow_checks_are_exported():
    assert set(CASES) <= set(checks.__all__)
    assert all(getattr(checks, name) is getattr(flows, name) for name in CASES)


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


def test_a_saturated_tanh_is_a_case_of_its_own(capsys):
    """Steps with |a| >= 4 are not the identity (log det ~ h' m ~ 1e-3, not 0): treating them so is caught there."""
    def saturated_as_identity(z, uh, w, b):
        a = _a(z, w, b)
        return np.zeros(len(z)) if np.all(np.abs(a) >= 4) else _log_det(z, uh, w, b)

    assert checks.check_planar_log_det(saturated_as_identity) is False
    out = capsys.readouterr().out
    assert "1 of 5 cases FAIL" in out and "tanh saturates" in out


def test_the_near_singular_step_is_checked(capsys):
    """At w^T u_hat ~ -0.95 and a = 0 the determinant is ~0.05: log(1 + x) approximated by x is caught there."""
    def first_order(z, uh, w, b):
        return (1 - np.tanh(_a(z, w, b)) ** 2) * (uh * w).sum(-1)           # log(1 + x) ~ x
    assert checks.check_planar_log_det(first_order) is False
    assert "log det ~ -3" in capsys.readouterr().out


def test_an_answer_that_only_works_for_the_prior_fails(capsys):
    assert checks.check_full_kl(lambda mu, lv, l: np.zeros(len(mu))) is False
    out = capsys.readouterr().out
    assert "FAIL kl" in out and "KL must be 0" not in out                   # the prior's own case passes


def test_feedback_says_which_output_by_how_much_and_where(capsys):
    assert checks.check_full_kl(CASES["check_full_kl"][1]["diagonal KL"][0]) is False
    out = capsys.readouterr().out
    assert "FAIL kl" in out and "max relative error" in out and "l_flat(4, 3)" in out and "worst at index" in out
    assert "KL must be 1/2 sum L_ij^2" in out                              # the L-only case names itself


def test_a_student_exception_propagates_with_a_note():
    def todo(z, u_hat, w, b):
        raise NotImplementedError()

    with pytest.raises(NotImplementedError) as info:
        checks.check_planar_log_det(todo)
    assert any("check_planar_log_det" in note for note in info.value.__notes__)


def test_a_student_who_writes_into_the_inputs_does_not_change_the_reference():
    def mutating(mu, logvar, l_flat):
        out = _full_kl(mu, logvar, l_flat)
        mu[...], logvar[...], l_flat[...] = 0.0, 0.0, 0.0
        return out

    assert checks.check_full_kl(mutating) is True


# ------------------------------------------------------------ the references
def _jacobian(f, z, h=1e-5):
    """df/dz (M, M) of f: (M,) -> (M,) by central differences."""
    cols = [(f(z + h * e) - f(z - h * e)) / (2 * h) for e in np.eye(z.size)]
    return np.stack(cols, axis=1)


@settings(max_examples=40, deadline=None)
@given(m=st.integers(1, 6), seed=st.integers(0, 2**16), scale=st.floats(0.1, 3.0))
def test_planar_reference_is_the_log_abs_det_of_the_steps_jacobian(m, seed, scale):
    """log det of one planar step = numpy's slogdet of its Jacobian I + u_hat psi^T, psi = h'(a) w (no determinant
    lemma), and that Jacobian is the one of the library's forward pass z -> z + u_hat tanh(w^T z + b) (central
    differences, to 1e-6 of its largest entry: their error is about h^2 |u_hat| |w|^3, with h = 1e-5)."""
    rng = np.random.default_rng(seed)
    z, u, w = rng.normal(size=(3, m)), scale * rng.normal(size=(3, m)), scale * rng.normal(size=(3, m))
    b = rng.normal(size=3)
    got, uh = flows._one_step_log_det(z, u, w, b), u_hat(u, w)
    for n in range(3):
        def step(v, n=n):                                    # one row's planar step, (M,) -> (M,)
            return planar_flow(v[None, None], u[n:n + 1, None], w[n:n + 1, None], b[n:n + 1, None])[0][0, 0]

        J = np.eye(m) + np.outer(uh[n], (1 - np.tanh(_a(z[n], w[n], b[n])) ** 2) * w[n])
        sign, want = np.linalg.slogdet(J)
        assert sign > 0 and np.isclose(got[n], want, rtol=1e-9, atol=1e-12)
        assert np.allclose(_jacobian(step, z[n]), J, rtol=0, atol=1e-6 * np.abs(J).max())


def test_planar_inputs_hit_the_cases_they_name():
    rng = np.random.default_rng(0)
    z, u, w, b = flows._planar_inputs(rng, (50, 4), "saturated")
    assert np.all(np.abs(_a(z, w, b)) >= 4 - 1e-9) and np.all(np.abs(_a(z, w, b)) <= 6 + 1e-9)
    z, u, w, b = flows._planar_inputs(rng, (50, 4), "near-singular")
    assert np.allclose((u_hat(u, w) * w).sum(-1), np.log1p(np.exp(-3.0)) - 1)  # m(-3) = softplus(-3) - 1
    assert np.allclose(_a(z, w, b), 0)                                          # h'(0) = 1: det = 1 + m = softplus(-3)
    assert np.allclose(flows._one_step_log_det(z, u, w, b), np.log(np.log1p(np.exp(-3.0))))


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 4), m=st.integers(1, 7), seed=st.integers(0, 2**16))
def test_full_kl_reference_is_the_gaussian_kl_of_the_covariance_matrix(n, m, seed):
    """KL(N(mu, S) || N(0, I)) = 1/2 (tr S + mu^T mu - M - log det S) with S = C C^T built as a matrix."""
    rng = np.random.default_rng(seed)
    mu, lv = rng.normal(size=(n, m)), rng.uniform(-2, 1.5, (n, m))
    l_flat = rng.normal(size=(n, m * (m - 1) // 2))
    want = []
    for k in range(n):
        C = np.diag(np.exp(lv[k] / 2))
        C[np.tril_indices(m, -1)] = l_flat[k]
        S = C @ C.T
        want.append(0.5 * (np.trace(S) + mu[k] @ mu[k] - m - np.linalg.slogdet(S)[1]))
    assert np.allclose(flows.full_kl(mu, lv, l_flat), want, rtol=1e-10, atol=1e-12)


def test_full_kl_gradient_in_l_is_l():
    """d KL / d L_ij = L_ij: the only place L enters is 1/2 ||L||^2 (the log det is L-free)."""
    rng = np.random.default_rng(1)
    mu, lv, l_flat = rng.normal(size=(2, 4)), rng.normal(size=(2, 4)), rng.normal(size=(2, 6))
    num = numerical_gradient(lambda: flows.full_kl(mu, lv, l_flat).sum(), l_flat, h=1e-4)
    assert np.allclose(num, l_flat, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("reverse", [False, True])
def test_masks_that_pass_the_check_make_an_autoregressive_made(reverse):
    """The masks of the library's MADE are those of its degrees, and they pass the student check."""
    from minivae.iaf import made_masks
    m_in, m_out = made_masks(5, 7, reverse)
    deg_in = np.arange(5, 0, -1) if reverse else np.arange(1, 6)
    np.testing.assert_array_equal(m_in, _masks(deg_in, np.arange(7) % 4 + 1)[0])
    assert not np.diag(m_in @ m_out).any()                                   # no output sees its own input
