"""Timers of the GPU benchmark (:mod:`minivae.bench.gpu.speed`).

:func:`wall_per_call`: wall clock over many calls with one synchronisation at
the end (the rate a loop achieves); :func:`cuda_event_time`: the latency of
one call between two CUDA events. CuPy is passed in, not imported here.
"""
from __future__ import annotations

import statistics
import time


def wall_per_call(fn, sync, calls, repeats, warmup=3):
    """Median over ``repeats`` of (wall time of ``calls`` calls of fn, then one sync) / calls, in seconds."""
    for _ in range(warmup):
        fn()
    sync()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        sync()
        times.append((time.perf_counter() - t0) / calls)
    return statistics.median(times)


def cuda_event_time(cupy, fn, reps, warmup=20):
    """Median latency of one call of fn in microseconds, between two CUDA events on the current stream."""
    for _ in range(warmup):
        fn()
    start, end = cupy.cuda.Event(), cupy.cuda.Event()
    times = []
    for _ in range(reps):
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(cupy.cuda.get_elapsed_time(start, end) * 1e3)
    return statistics.median(times)
