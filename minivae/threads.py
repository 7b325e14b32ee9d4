"""CPU threads: how many this process may use, NumPy's BLAS thread count (read, set, limit for a block),
and elementwise work split over two threads."""
from __future__ import annotations

import concurrent.futures
import contextlib
import os

from .blas import openblas
from .errors import ConfigError


def cpu_count():
    """CPUs this process may run on (its affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _threadpoolctl():
    """The threadpoolctl module where it is installed (it is not a dependency), else None."""
    try:
        import threadpoolctl
    except ImportError:
        return None
    return threadpoolctl


def blas_threads():
    """NumPy's BLAS thread count now, or None where it cannot be read."""
    threadpoolctl = _threadpoolctl()
    if threadpoolctl is not None:
        counts = [p["num_threads"] for p in threadpoolctl.threadpool_info() if p.get("user_api") == "blas"]
        return counts[0] if counts else None
    lib = openblas()
    return None if lib is None else int(lib.get_threads())


def set_blas_threads(n):
    """Set NumPy's BLAS thread count at run time; returns True if it could.

    Uses threadpoolctl when installed, else OpenBLAS's own setter in the
    library NumPy loaded.
    """
    if not (isinstance(n, int) and n >= 1):
        raise ConfigError(f"BLAS threads must be an integer >= 1, got {n!r}")
    threadpoolctl = _threadpoolctl()
    if threadpoolctl is not None:
        threadpoolctl.threadpool_limits(n, user_api="blas")
        return True
    lib = openblas()
    if lib is None:
        return False
    lib.set_threads(n)
    return True


@contextlib.contextmanager
def blas_limit(n):
    """``with blas_limit(1) as ok: ...`` runs the block with n BLAS threads and puts the old count back.

    ``ok`` is False where the count cannot be set (no threadpoolctl and a BLAS
    other than OpenBLAS): the block then runs with BLAS as it was.
    """
    old = blas_threads()
    ok = set_blas_threads(n)
    try:
        yield ok
    finally:
        if old is not None:
            set_blas_threads(old)


class TwoWaySplit:
    """Run an elementwise computation on two halves of its range at once: here and on one worker thread.

    NumPy's ufuncs release the GIL, so the halves run on two cores; each
    element is computed by the same code as in one call, so the results are
    bit-identical. Worth it only for large NumPy arrays (the hand-off costs
    ~20 us); a CuPy array, a small range or a one-CPU machine runs in one call.

    Off by default: on the 2-core development machine it made a training step
    ~10% slower, because OpenBLAS's worker thread spin-waits on the second
    core after each product (see PERFORMANCE.md). Set ``enabled = True`` where
    the BLAS threads sleep (or with more cores than BLAS threads).
    """

    def __init__(self, min_size=1 << 16, enabled=False):
        self.min_size = min_size
        self.enabled = enabled and cpu_count() > 1
        self._pool = None

    def __call__(self, n, body, size=None, xp=None):
        """body(lo, hi) over [0, n): [0, n/2) here and [n/2, n) on the worker. ``size``: elements of work."""
        if not self.enabled or (size or n) < self.min_size or n < 2 or getattr(xp, "__name__", "numpy") != "numpy":
            return body(0, n)
        if self._pool is None:
            self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="minivae")
        mid = n // 2
        other = self._pool.submit(body, mid, n)
        body(0, mid)
        other.result()

    def __getstate__(self):                    # an executor cannot be pickled or deep-copied
        return {**self.__dict__, "_pool": None}
