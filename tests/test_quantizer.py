"""The vector quantizer: nearest codes, losses and gradients against brute force, usage, perplexity, the code prior."""
import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minivae.errors import DataError, ShapeError
from minivae.gradcheck import numerical_gradient, rel_error
from minivae.quantizer import (check_codes, code_usage, nearest_codes, perplexity, position_counts, quantize,
                               replacement_rows, sample_codes, usage_stats, vq_backward, vq_losses)


def brute_force_d2(z_e, codebook):
    """||z_e_r - e_k||^2 for every pair, (R, K), from the (R, K, D) differences."""
    return ((z_e[:, None, :] - codebook[None, :, :]) ** 2).sum(axis=2)


def problem(r, k, d, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((r, d)), rng.standard_normal((k, d))


@settings(max_examples=40, deadline=None)
@given(r=st.integers(1, 40), k=st.integers(1, 12), d=st.integers(1, 6), seed=st.integers(0, 10**6))
def test_nearest_codes_are_the_brute_force_argmin_and_distance(r, k, d, seed):
    z_e, codebook = problem(r, k, d, seed)
    idx, d2_min = nearest_codes(z_e, codebook)
    d2 = brute_force_d2(z_e, codebook)
    assert idx.shape == (r,) and d2_min.shape == (r,)
    np.testing.assert_array_equal(idx, d2.argmin(axis=1))
    np.testing.assert_allclose(d2_min, d2.min(axis=1), rtol=1e-12, atol=1e-12)


def test_ties_go_to_the_smallest_index_and_a_row_on_a_code_has_distance_zero():
    codebook = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])        # codes 0 and 2 coincide
    z_e = np.array([[1.0, 0.0], [0.5, 0.5], [0.0, 1.0]])
    idx, d2_min = nearest_codes(z_e, codebook)
    assert idx.tolist() == [0, 0, 1]
    assert d2_min[0] == 0 and d2_min[2] == 0 and d2_min[1] == pytest.approx(0.5, abs=1e-15)


def test_nearest_codes_builds_no_r_by_k_by_d_temporary():
    z_e, codebook = problem(20000, 64, 8)
    rk_bytes = 20000 * 64 * 8
    tracemalloc.start()
    nearest_codes(z_e, codebook)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 2 * rk_bytes, f"peak {peak} bytes: an (R, K, D) temporary would take {8 * rk_bytes}"


def test_quantize_returns_codebook_rows_and_fills_out():
    z_e, codebook = problem(9, 5, 3)
    out = np.empty((9, 3))
    z_q, idx = quantize(z_e, codebook, out=out)
    assert z_q is out
    np.testing.assert_array_equal(z_q, codebook[idx])


def test_vq_losses_are_per_example_sums_over_positions_and_coordinates():
    rng = np.random.default_rng(3)
    z_e, z_q = rng.standard_normal((4, 5, 3)), rng.standard_normal((4, 5, 3))
    codebook_loss, commitment_loss = vq_losses(z_e, z_q)
    expected = np.array([sum((z_e[n, g, d] - z_q[n, g, d]) ** 2 for g in range(5) for d in range(3))
                         for n in range(4)])
    np.testing.assert_allclose(codebook_loss, expected, rtol=1e-13)
    np.testing.assert_array_equal(commitment_loss, codebook_loss)     # equal values: sg changes only gradients


def backward_problem(r=11, k=4, d=3, seed=5):
    rng = np.random.default_rng(seed)
    z_e, codebook = rng.standard_normal((r, d)), rng.standard_normal((k, d))
    z_q, idx = quantize(z_e, codebook)
    return rng.standard_normal((r, d)), z_e, codebook, z_q, idx


def test_vq_backward_matches_the_scatter_add_definition():
    dz_q, z_e, codebook, z_q, idx = backward_problem()
    beta, scale = 0.3, 1 / 7
    dz_q_before = dz_q.copy()
    dz_e, dcodebook = vq_backward(dz_q, z_e, z_q, idx, 4, beta, scale)
    expected = np.zeros_like(codebook)
    np.add.at(expected, idx, 2 * scale * (z_q - z_e))                  # the slow reference scatter
    np.testing.assert_allclose(dcodebook, expected, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(dz_e, dz_q + 2 * beta * scale * (z_e - z_q), rtol=1e-13)
    np.testing.assert_array_equal(dz_q, dz_q_before)                   # the upstream gradient is not written into


def test_codebook_gradient_is_the_true_gradient_of_the_codebook_loss_at_fixed_indices():
    dz_q, z_e, codebook, z_q, idx = backward_problem()
    scale = 1 / 7

    def codebook_loss():
        assert np.array_equal(nearest_codes(z_e, codebook)[0], idx)     # the argmin is locally constant
        return scale * vq_losses(z_e, codebook[idx])[0].sum()
    _, dcodebook = vq_backward(dz_q, z_e, z_q, idx, 4, 0.3, scale)
    assert rel_error(dcodebook, numerical_gradient(codebook_loss, codebook, h=1e-4)) < 1e-7


def test_encoder_gradient_is_straight_through_plus_the_commitment_gradient():
    """dz_e is the gradient of the surrogate sum(dz_q * z_e) + beta scale ||z_e - sg[z_q]||^2, z_q held fixed."""
    dz_q, z_e, codebook, z_q, idx = backward_problem()
    beta, scale = 0.3, 1 / 7
    surrogate = lambda: (dz_q * z_e).sum() + beta * scale * vq_losses(z_e, z_q)[1].sum()  # noqa: E731
    dz_e, _ = vq_backward(dz_q, z_e, z_q, idx, 4, beta, scale)
    assert rel_error(dz_e, numerical_gradient(surrogate, z_e, h=1e-4)) < 1e-7


def test_an_unchosen_code_gets_no_gradient():
    dz_q, z_e, codebook, z_q, idx = backward_problem()
    codebook = np.vstack([codebook, [[1e3, 1e3, 1e3]]])               # code 4 is far from every row
    z_q, idx = quantize(z_e, codebook)
    _, dcodebook = vq_backward(dz_q, z_e, z_q, idx, 5, 0.25, 0.1)
    assert 4 not in idx and not dcodebook[4].any()


def test_code_usage_counts_and_rejects_bad_indices():
    idx = np.array([[0, 2], [2, 2]])
    np.testing.assert_array_equal(code_usage(idx, 4), [1, 0, 3, 0])
    with pytest.raises(DataError, match=r"in \[0, 4\)"):
        code_usage(np.array([0, 4]), 4)
    with pytest.raises(DataError, match="negative"):
        code_usage(np.array([0, -1]), 4)
    with pytest.raises(DataError, match="integers"):
        code_usage(np.array([0.0, 1.0]), 4)


def test_perplexity_is_k_for_uniform_usage_and_1_for_one_code():
    assert float(perplexity(np.full(64, 7))) == pytest.approx(64, rel=1e-12)
    assert float(perplexity(np.array([0, 0, 5, 0]))) == pytest.approx(1.0, abs=1e-12)
    assert float(perplexity(np.array([1, 1, 0, 0]))) == pytest.approx(2.0, rel=1e-12)   # 0 log 0 = 0
    with pytest.raises(DataError, match="sum to 0"):
        perplexity(np.zeros(4, dtype=np.int64))


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(0, 50), min_size=2, max_size=20).filter(lambda c: sum(c) > 0))
def test_perplexity_lies_between_1_and_the_number_of_used_codes(counts):
    p = float(perplexity(np.array(counts)))
    assert 1 - 1e-12 <= p <= sum(c > 0 for c in counts) + 1e-9


def test_usage_stats_count_dead_codes():
    stats = usage_stats(np.array([3, 0, 1, 0]))
    assert stats["dead_codes"] == 2 and stats["dead_fraction"] == 0.5
    assert stats["perplexity"] == pytest.approx(float(perplexity(np.array([3, 1]))))


def test_replacement_rows_are_distinct_then_cycle():
    u = np.random.default_rng(0).random(10)
    rows = replacement_rows(u, 6)
    assert len(set(rows.tolist())) == 6 and rows.tolist() == np.argsort(u)[:6].tolist()
    cycled = replacement_rows(u, 25)
    assert cycled.tolist() == (np.argsort(u).tolist() * 3)[:25]


def test_position_counts_is_one_histogram_per_position():
    idx = np.array([[0, 1, 1], [0, 2, 1], [3, 2, 1]])
    expected = np.array([[np.sum(idx[:, g] == k) for k in range(4)] for g in range(3)])
    np.testing.assert_array_equal(position_counts(idx, 4), expected)


def test_sample_codes_inverts_the_cdf_and_never_draws_an_impossible_code():
    probs = np.array([[2.0, 0.0, 6.0, 0.0], [0.0, 0.0, 0.0, 1.0]])   # unnormalised counts are fine
    n = 8000
    u = np.column_stack([(np.arange(n) + 0.5) / n] * 2)                # an even grid: exact frequencies
    idx = sample_codes(probs, u)
    assert idx.shape == (n, 2) and idx.dtype == np.int64
    np.testing.assert_allclose(np.bincount(idx[:, 0], minlength=4) / n, [0.25, 0, 0.75, 0], atol=1 / n)
    assert (idx[:, 1] == 3).all()
    with pytest.raises(DataError, match="positive total"):
        sample_codes(np.zeros((2, 4)), u)
    with pytest.raises(ShapeError):
        sample_codes(probs, u[:, :1])


def test_check_codes_and_shapes_are_validated():
    assert check_codes(np.array([[0, 3]]), 2, 4).shape == (1, 2)
    with pytest.raises(ShapeError, match=r"\(N, 2\)"):
        check_codes(np.array([0, 1]), 2, 4)
    with pytest.raises(DataError, match=r"\[0, 4\)"):
        check_codes(np.array([[0, 4]]), 2, 4)
    with pytest.raises(DataError, match="integers"):
        check_codes(np.array([[0.0, 1.0]]), 2, 4)
    with pytest.raises(ShapeError, match="same D"):
        nearest_codes(np.zeros((3, 2)), np.zeros((4, 3)))
    with pytest.raises(ShapeError):
        vq_losses(np.zeros((3, 2)), np.zeros((3, 3)))
    with pytest.raises(ShapeError):
        vq_backward(np.zeros((3, 2)), np.zeros((3, 2)), np.zeros((3, 2)), np.zeros(2, dtype=int), 4, 0.25, 1.0)
