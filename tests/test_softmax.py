"""Softmax cross-entropy: values by hand, stability, the backward against finite differences, bad labels."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from minivae.errors import DataError, ShapeError
from minivae.gradcheck import numerical_gradient, rel_error
from minivae.softmax import log_softmax, softmax, softmax_cross_entropy, softmax_cross_entropy_backward

TOL = 1e-7


def naive_log_softmax(a):
    """log(exp(a) / sum exp(a)), the textbook formula (overflows for large logits)."""
    return np.log(np.exp(a) / np.exp(a).sum(axis=1, keepdims=True))


def test_log_softmax_matches_the_textbook_formula(rng):
    a = rng.standard_normal((5, 4)) * 3
    np.testing.assert_allclose(log_softmax(a), naive_log_softmax(a), rtol=0, atol=1e-12)
    np.testing.assert_allclose(softmax(a), np.exp(naive_log_softmax(a)), rtol=0, atol=1e-12)


def test_the_loss_is_the_mean_negative_log_probability_of_the_labels():
    a = np.array([[2.0, 0.0, -1.0], [0.0, 0.0, 0.0]])
    y = np.array([0, 2])
    loss, _ = softmax_cross_entropy(a, y)
    by_hand = -(np.log(np.exp(2) / (np.exp(2) + 1 + np.exp(-1))) + np.log(1 / 3)) / 2
    assert float(loss) == pytest.approx(by_hand, rel=1e-14)


def test_huge_logits_neither_overflow_nor_lose_the_answer():
    a = np.array([[1e4, 0.0, -1e4], [-1e4, -1e4 + 1.0, -1e4]])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        log_p = log_softmax(a)
        loss, cache = softmax_cross_entropy(a, np.array([0, 1]))
        d = softmax_cross_entropy_backward(cache)
    np.testing.assert_allclose(log_p[0], [0.0, -1e4, -2e4])
    # row 2 is [0, 1, 0] - 1e4: log softmax is [0, 1, 0] - log(2 + e), as for [0, 1, 0]
    np.testing.assert_allclose(log_p[1], np.array([0.0, 1.0, 0.0]) - np.log(2 + np.e), rtol=0, atol=1e-12)
    assert np.isfinite(float(loss)) and np.isfinite(d).all()


def test_the_backward_is_softmax_minus_onehot_over_n(rng):
    a, y = rng.standard_normal((4, 3)), np.array([2, 0, 1, 2])
    _, cache = softmax_cross_entropy(a, y)
    d = softmax_cross_entropy_backward(cache)
    onehot = np.eye(3)[y]
    np.testing.assert_allclose(d, (softmax(a) - onehot) / 4, rtol=0, atol=1e-15)
    np.testing.assert_allclose(d.sum(axis=1), 0, atol=1e-15)           # shifting a row changes nothing


def test_the_backward_matches_finite_differences_in_float64(rng):
    a, y = rng.standard_normal((6, 5)) * 2, rng.integers(0, 5, size=6)
    _, cache = softmax_cross_entropy(a, y)
    d = softmax_cross_entropy_backward(cache)
    numeric = numerical_gradient(lambda: softmax_cross_entropy(a, y)[0], a)
    assert rel_error(d, numeric) < TOL


def test_the_backward_leaves_its_cache_alone(rng):
    _, cache = softmax_cross_entropy(rng.standard_normal((3, 4)), np.array([0, 1, 3]))
    p = cache[0].copy()
    softmax_cross_entropy_backward(cache)
    assert np.array_equal(cache[0], p)


def test_float32_stays_float32(rng):
    a = rng.standard_normal((3, 4)).astype(np.float32)
    loss, cache = softmax_cross_entropy(a, np.array([0, 1, 2]))
    assert loss.dtype == np.float32 and softmax_cross_entropy_backward(cache).dtype == np.float32


@settings(max_examples=50, deadline=None)
@given(arrays(np.float64, st.tuples(st.integers(1, 6), st.integers(2, 6)),
              elements=st.floats(-1e3, 1e3, allow_nan=False)),
       st.floats(-1e3, 1e3, allow_nan=False))
def test_softmax_rows_sum_to_one_and_ignore_a_shift(a, c):
    p = softmax(a)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-12)
    assert (p >= 0).all() and (log_softmax(a) <= 0).all()
    np.testing.assert_allclose(log_softmax(a + c), log_softmax(a), rtol=0, atol=1e-9)


@pytest.mark.parametrize("labels, error, match", [
    (np.array([0, 3]), DataError, r"in \[0, 3\).*\[0, 3\]"),                 # 3 is out of range for 3 classes
    (np.array([-1, 0]), DataError, r"\[-1, 0\]"),
    (np.array([0.0, 1.0]), DataError, "must be integers.*float64"),
    (np.array([True, False]), DataError, "must be integers.*bool"),
    (np.array([[0], [1]]), ShapeError, r"shape \(2,\).*\(2, 1\)"),
    (np.array([0, 1, 2]), ShapeError, r"shape \(2,\).*\(3,\)"),
])
def test_bad_labels_are_clear_errors(labels, error, match):
    with pytest.raises(error, match=match):
        softmax_cross_entropy(np.zeros((2, 3)), labels)


def test_logits_must_be_a_non_empty_matrix():
    with pytest.raises(ShapeError, match=r"\(N, C\)"):
        softmax_cross_entropy(np.zeros(3), np.array([0]))
    with pytest.raises(ShapeError, match="N >= 1"):
        softmax_cross_entropy(np.zeros((0, 3)), np.array([], dtype=int))
