"""CPU thread helpers: the CPU count, and setting NumPy's BLAS threads for a block and back."""
import numpy as np
import pytest

from minivae.errors import ConfigError
from minivae.backend.threads import blas_limit, blas_threads, cpu_count, set_blas_threads


def test_cpu_count_is_a_positive_integer():
    assert isinstance(cpu_count(), int) and cpu_count() >= 1


def test_blas_limit_sets_the_count_for_the_block_and_restores_it():
    before = blas_threads()
    if before is None:
        pytest.skip("NumPy's BLAS thread count cannot be read here (not OpenBLAS, no threadpoolctl)")
    with blas_limit(1) as ok:
        assert ok and blas_threads() == 1
        a = np.ones((64, 64), np.float32)
        assert (a @ a == 64).all()                   # products still work with one thread
    assert blas_threads() == before


def test_blas_limit_restores_after_an_error():
    before = blas_threads()
    with pytest.raises(RuntimeError):
        with blas_limit(1):
            raise RuntimeError("boom")
    assert blas_threads() == before


@pytest.mark.parametrize("bad", [0, -1, 1.5, "2"])
def test_bad_thread_counts_are_refused(bad):
    with pytest.raises(ConfigError, match="integer >= 1"):
        set_blas_threads(bad)
