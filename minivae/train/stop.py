"""Stopping a run cleanly: SIGINT (Ctrl-C) and SIGTERM end it after its current step, checkpoint written."""
from __future__ import annotations

import signal
import threading


class StopOnSignal:
    """``with StopOnSignal() as stop``: SIGINT and SIGTERM set ``stop.signal`` instead of killing the process.

    The loop finishes its step, writes the checkpoint and raises
    :class:`TrainingInterrupted`. Only in the main thread (where Python
    delivers signals); the previous handlers come back at the end.
    """

    def __init__(self):
        self.signal, self._old = None, {}

    def _handle(self, signum, frame):
        self.signal = signum

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc):
        for sig, handler in self._old.items():
            signal.signal(sig, handler)
