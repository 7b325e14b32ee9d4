"""minivae.checks for lesson 17 (discrete latents): each check accepts the right answer, rejects plausible
wrong ones with a message naming the mistake, and the reference it compares with is right.

The right answers are written out here in float64 (closed forms, brute force, finite differences), not
taken from the library, so a bug in a reference would make them fail instead of cancelling out.
"""
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from minivae import checks
from minivae.gradcheck import numerical_gradient, rel_error
from minivae.gumbel import categorical_kl, gumbel_noise, gumbel_softmax, gumbel_softmax_backward
from minivae.quantizer import nearest_codes


def _softmax(s):
    e = np.exp(s - s.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def gumbel_softmax_ok(logits, g, tau):
    return _softmax((logits + g) / tau)


def backward_ok(dy, y, tau):
    return y * (dy - (dy * y).sum(-1, keepdims=True)) / tau


def kl_ok(logits):
    s = logits - logits.max(-1, keepdims=True)
    log_q = s - np.log(np.exp(s).sum(-1, keepdims=True))
    return (np.exp(log_q) * (log_q + np.log(logits.shape[-1]))).sum((-2, -1))


def nearest_ok(z_e, codebook):
    return ((z_e[:, None, :] - codebook[None]) ** 2).sum(-1).argmin(1)


def _out(capsys):
    return capsys.readouterr().out


# ------------------------------------------------------------ the references are right
@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 4), k=st.integers(2, 6), tau=st.floats(0.2, 5.0), seed=st.integers(0, 2**16))
def test_reference_backward_is_the_derivative_of_the_reference_sample(n, k, tau, seed):
    """d/dlogits sum(dy * y(logits)) by central differences equals gumbel_softmax_backward (float64)."""
    rng = np.random.default_rng(seed)
    a, g, dy = rng.normal(size=(n, k)), gumbel_noise(rng.random((n, k))), rng.normal(size=(n, k))
    y, cache = gumbel_softmax(a, g, tau)
    assume(y.min() > 1e-4)              # a saturated y has derivatives of ~y_min, below finite differences' resolution
    num = numerical_gradient(lambda: (dy * gumbel_softmax(a, g, tau)[0]).sum(), a, h=1e-3 * tau, order=4)   # y(a / tau)
    assert rel_error(gumbel_softmax_backward(dy, cache), num) < 1e-7
    assert rel_error(y, gumbel_softmax_ok(a, g, tau)) < 1e-12


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 4), m=st.integers(1, 3), k=st.integers(2, 6), seed=st.integers(0, 2**16))
def test_reference_kl_is_the_sum_over_variables_of_kl_to_uniform(n, m, k, seed):
    a = 3 * np.random.default_rng(seed).normal(size=(n, m, k))
    q = _softmax(a)
    assert rel_error(categorical_kl(a), (q * np.log(q / (1 / k))).sum((-2, -1))) < 1e-10


@settings(max_examples=25, deadline=None)
@given(r=st.integers(1, 40), d=st.integers(1, 5), k=st.integers(2, 20), seed=st.integers(0, 2**16))
def test_reference_nearest_codes_is_brute_force(r, d, k, seed):
    rng = np.random.default_rng(seed)
    z_e, codebook = rng.normal(size=(r, d)), rng.normal(size=(k, d)) * rng.uniform(0.3, 3, (k, 1))
    assert (np.asarray(nearest_codes(z_e, codebook)[0]) == nearest_ok(z_e, codebook)).all()


# ------------------------------------------------------------ right answers pass
@pytest.mark.parametrize("name,fn", [("check_gumbel_softmax", gumbel_softmax_ok),
                                     ("check_gumbel_softmax_backward", backward_ok),
                                     ("check_categorical_kl", kl_ok), ("check_nearest_codes", nearest_ok)])
def test_the_right_answer_passes_every_case(name, fn, capsys):
    assert getattr(checks, name)(fn) is True
    assert "cases pass" in _out(capsys)


def test_the_gemm_form_of_the_distances_passes_too():
    """||e||^2 - 2 z e^T differs from brute force by rounding only: no row changes its code."""
    assert checks.check_nearest_codes(lambda z, e: ((e ** 2).sum(1) - 2 * z @ e.T).argmin(1))


def test_inputs_are_not_shared_with_the_reference():
    def mutating(logits, g, tau):
        y = gumbel_softmax_ok(logits, g, tau)
        logits[...], g[...] = 0.0, 0.0
        return y

    assert checks.check_gumbel_softmax(mutating) is True


def test_student_exceptions_propagate_with_a_note():
    def todo(z_e, codebook):
        raise NotImplementedError()

    with pytest.raises(NotImplementedError) as info:
        checks.check_nearest_codes(todo)
    assert any("check_nearest_codes" in note and "z_e(" in note for note in info.value.__notes__)


# ------------------------------------------------------------ mistakes are named
def test_an_overflowing_softmax_fails_only_the_large_logits_case(capsys):
    def naive(logits, g, tau):
        e = np.exp((logits + g) / tau)
        return e / e.sum(-1, keepdims=True)

    with np.errstate(all="ignore"):
        assert checks.check_gumbel_softmax(naive) is False
    out = _out(capsys)
    assert "1 of 5 cases FAIL" in out and "NaN or inf" in out and "subtract max_k" in out and "tau = 0.05" in out


@pytest.mark.parametrize("wrong,words", [
    (lambda a, g, tau: _softmax(a / tau + g), "noise added after the division"),
    (lambda a, g, tau: _softmax((a + g) * tau), "tau multiplied where it divides"),
    (lambda a, g, tau: _softmax(a / tau), "Gumbel noise left out"),
    (lambda a, g, tau: _softmax((a - g) / tau), "noise subtracted"),
])
def test_gumbel_softmax_mistakes_are_diagnosed(wrong, words, capsys):
    assert checks.check_gumbel_softmax(wrong) is False
    out = _out(capsys)
    assert "FAIL y" in out and words in out


@pytest.mark.parametrize("wrong,words", [
    (lambda dy, y, tau: y * dy / tau, "<dy, y> term left out"),
    (lambda dy, y, tau: y * (dy - (dy * y).sum(-1, keepdims=True)), "1/tau left out"),
    (lambda dy, y, tau: y * (dy - (dy * y).sum()) / tau, "summed over every element"),
])
def test_gumbel_softmax_backward_mistakes_are_diagnosed(wrong, words, capsys):
    assert checks.check_gumbel_softmax_backward(wrong) is False
    out = _out(capsys)
    assert "FAIL dlogits" in out and words in out


def test_kl_mistakes_are_diagnosed(capsys):
    def reversed_kl(logits):
        s = logits - logits.max(-1, keepdims=True)
        log_q = s - np.log(np.exp(s).sum(-1, keepdims=True))
        return (-(log_q + np.log(logits.shape[-1])) / logits.shape[-1]).sum((-2, -1))

    assert checks.check_categorical_kl(reversed_kl) is False
    assert "reversed KL(uniform || q)" in _out(capsys)
    assert checks.check_categorical_kl(lambda a: kl_ok(a) - a.shape[-2] * np.log(a.shape[-1])) is False
    out = _out(capsys)
    assert "minus the entropy" in out and "uniform logits: KL must be 0" in out
    assert checks.check_categorical_kl(lambda a: kl_ok(a[..., None, :])) is False     # (N, M): no sum over M
    assert "expected (1,)" in _out(capsys)


def test_a_kl_with_0_log_0_is_told_to_use_log_softmax(capsys):
    def naive(logits):
        q = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
        return (q * np.log(logits.shape[-1] * q)).sum((-2, -1))

    with np.errstate(all="ignore"):
        assert checks.check_categorical_kl(naive) is False
    out = _out(capsys)
    assert "1 of 5 cases FAIL" in out and "NaN or inf" in out and "log q = logits - max" in out


def test_nearest_code_mistakes_are_diagnosed(capsys):
    assert checks.check_nearest_codes(lambda z, e: (z @ e.T).argmax(1)) is False
    out = _out(capsys)
    assert "FAIL idx" in out and "||e_k||^2 term of the distance left out" in out
    assert "first at row" in out and "the nearest is code" in out and "squared distance" in out
    assert checks.check_nearest_codes(lambda z, e: ((z[:, None] - e[None]) ** 2).sum(-1).argmax(1)) is False
    assert "the farthest code" in _out(capsys)


def test_nearest_codes_wants_one_integer_index_per_row(capsys):
    assert checks.check_nearest_codes(lambda z, e: nearest_ok(z, e).astype(float)) is False
    assert "expected integer indices" in _out(capsys)
    assert checks.check_nearest_codes(lambda z, e: ((z[:, None] - e[None]) ** 2).sum(-1).argmin(0)) is False
    assert "argmin over the wrong axis" in _out(capsys)
    assert checks.check_nearest_codes(lambda z, e: None) is False
    assert "returned None" in _out(capsys)


def test_a_missing_return_is_not_mistaken_for_an_overflow(capsys):
    assert checks.check_gumbel_softmax(lambda logits, g, tau: None) is False
    out = _out(capsys)
    assert "returned None" in out and "NaN or inf" not in out
    assert checks.check_categorical_kl(lambda logits: kl_ok(logits)[:, None]) is False      # (N, 1): a shape error
    out = _out(capsys)
    assert "expected (1,)" in out and "NaN or inf" not in out
