"""The machine's float32 matrix-product rate: the yardstick for a training step.

A product of an (m, k) and a (k, n) matrix costs 2 m k n floating-point
operations (one multiply and one add per term). The peak is the best rate
of square products of a few sizes, each the best of several timed runs.
"""
from __future__ import annotations

import time

import numpy


def matmul_rate(size, repeats=5, min_time=0.05, dtype="float32"):
    """Best GFLOP/s of ``a @ b`` for (size, size) matrices over ``repeats`` timed runs.

    Each run repeats the product until ``min_time`` seconds have passed.
    """
    rng = numpy.random.default_rng(0)
    a = rng.standard_normal((size, size), dtype=dtype)
    b = rng.standard_normal((size, size), dtype=dtype)
    out = numpy.empty((size, size), dtype=dtype)
    numpy.matmul(a, b, out=out)                      # warm-up: threads, caches
    best = 0.0
    for _ in range(repeats):
        count, t0 = 0, time.perf_counter()
        while True:
            numpy.matmul(a, b, out=out)
            count += 1
            elapsed = time.perf_counter() - t0
            if elapsed >= min_time:
                break
        best = max(best, 2.0 * size**3 * count / elapsed / 1e9)
    return best


def matmul_peak(sizes=(512, 1024, 2048), repeats=5, dtype="float32"):
    """(peak GFLOP/s, {size: GFLOP/s}): the best rate over ``sizes``."""
    rates = {s: matmul_rate(s, repeats, dtype=dtype) for s in sizes}
    return max(rates.values()), rates
