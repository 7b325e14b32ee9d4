"""The progress bar of a run."""
from __future__ import annotations

import sys
import time


class Progress:
    """A one-line progress bar on stderr (one line per epoch when not a terminal)."""

    def __init__(self, total, enabled=True, stream=sys.stderr):
        self.total, self.enabled, self.stream = total, enabled, stream
        self.tty = enabled and getattr(stream, "isatty", lambda: False)()
        self.last = 0.0

    def update(self, epoch, epochs, i, loss):
        now = time.perf_counter()
        if self.tty and (now - self.last > 0.2 or i == self.total):
            self.last = now
            done = int(30 * i / self.total)
            self.stream.write(f"\repoch {epoch}/{epochs} [{'#' * done}{'.' * (30 - done)}] "
                              f"{i}/{self.total}  loss {loss:8.3f}")
            self.stream.flush()

    def end_epoch(self, text):
        if self.enabled:
            self.stream.write(("\r" if self.tty else "") + text + " " * 10 + "\n")
            self.stream.flush()
