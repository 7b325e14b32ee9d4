"""CPU threads: how many this process may use, and NumPy's BLAS thread count (read, set, limit for a block)."""
from __future__ import annotations

import contextlib
import os

from .blas import openblas
from ..errors import ConfigError


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
