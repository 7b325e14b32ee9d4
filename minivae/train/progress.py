"""Progress of a long computation: a bar with a rate and the time left in a terminal, a line per stage in a log.

Hand-written, not ``tqdm``: it is some 100 lines, minivae needs no new
dependency for it, and one object serves both the training loop's epoch bar
and any library function that takes ``progress=`` (tqdm would need the same
adapter to be called as ``progress(done, total)``).

    bar = Progress(enabled=not quiet)         # on stderr
    sample_quality(images, progress=bar)      # a library function calls bar(done, total) as it goes

What it writes depends on where:

- a terminal: one line rewritten in place, ``label [#####.....] done/total  rate/s  ETA m:ss``,
  at most every 0.2 s, ended by a newline when the stage is done;
- anything else (a log file, a pipe): one line per stage when it ends,
  ``label: total in 12.3 s (81.2/s)``;
- disabled (``--quiet``): nothing.

A library function reports with ``progress(done, total)`` (any callable
will do, e.g. ``lambda done, total: ...``); one with several stages names
each with :func:`stage`, which uses :meth:`Progress.stage` where the
callable has it.
"""
from __future__ import annotations

import sys
import time

WIDTH = 30


def clock(seconds):
    """Seconds as ``m:ss`` or ``h:mm:ss``."""
    s = int(round(max(seconds, 0.0)))
    h, m = divmod(s // 60, 60)
    return f"{h}:{m:02d}:{s % 60:02d}" if h else f"{m}:{s % 60:02d}"


def stage(progress, label):
    """The callable that reports the stage ``label`` of ``progress`` (None: no report; a plain callable: itself)."""
    if progress is None:
        return None
    return progress.stage(label) if hasattr(progress, "stage") else progress


def report(progress, done, total):
    """``progress(done, total)`` unless progress is None: for library functions with ``progress=None``."""
    if progress is not None:
        progress(done, total)


class Progress:
    """Progress of the stages of a computation, or of a training run's epochs (see the module docstring).

    total: the size of the first stage (or the steps of an epoch, for
    ``fit``); enabled: False writes nothing; stream: where (stderr);
    label: the first stage's name.
    """

    def __init__(self, total=None, enabled=True, stream=None, label="", min_interval=0.2):
        self.stream = sys.stderr if stream is None else stream
        self.enabled = bool(enabled)
        self.tty = self.enabled and getattr(self.stream, "isatty", lambda: False)()
        self.min_interval = min_interval
        self.label, self.total = label, total
        self._t0, self._last, self._ended, self._epoch = time.perf_counter(), 0.0, False, None

    # ------------------------------------------------------------ any long computation
    def stage(self, label, total=None):
        """Start the stage ``label`` (of ``total`` units, or as the first call says); returns self."""
        self.label, self.total = label, total
        self._t0, self._last, self._ended = time.perf_counter(), 0.0, False
        return self

    def __call__(self, done, total=None):
        """``done`` of ``total`` units of the current stage are finished (done = 0 restarts its clock)."""
        if not self.enabled:
            return
        total = self.total if total is None else total
        self.total = total
        now = time.perf_counter()
        if done <= 0 or self._ended:
            self._t0, self._ended = now, False
        finished = total is not None and done >= total
        elapsed = now - self._t0
        rate = done / elapsed if elapsed > 0 else 0.0
        if self.tty and (finished or now - self._last >= self.min_interval):
            self._last = now
            left = f"ETA {clock((total - done) / rate)}" if rate > 0 and total and not finished else \
                f"in {clock(elapsed)}"
            self._write(f"\r{self._bar(done, total)}  {rate:.1f}/s  {left}    " + ("\n" if finished else ""))
        elif finished and not self.tty:
            self._write(f"{self.label or 'done'}: {done} in {elapsed:.1f} s ({rate:.1f}/s)\n")
        self._ended = finished

    def _bar(self, done, total):
        head = f"{self.label} " if self.label else ""
        if not total:
            return f"{head}{done}"
        filled = int(WIDTH * min(done, total) / total)
        return f"{head}[{'#' * filled}{'.' * (WIDTH - filled)}] {done}/{total}"

    def _write(self, text):
        self.stream.write(text)
        self.stream.flush()

    # ------------------------------------------------------------ fit's epochs
    def update(self, epoch, epochs, i, loss):
        """Step ``i`` of ``total`` of epoch ``epoch`` of ``epochs`` is done (a terminal only: a log gets end_epoch)."""
        now = time.perf_counter()
        if epoch != self._epoch:
            self._epoch, self._t0, self._first = epoch, now, i
        if self.tty and (now - self._last > self.min_interval or i == self.total):
            self._last = now
            elapsed, steps = now - self._t0, i - self._first
            rate = steps / elapsed if elapsed > 0 and steps > 0 else 0.0
            left = f"ETA {clock((self.total - i) / rate)}" if rate > 0 and i < self.total else ""
            done = int(WIDTH * i / self.total)
            self._write(f"\repoch {epoch}/{epochs} [{'#' * done}{'.' * (WIDTH - done)}] {i}/{self.total}  "
                        f"loss {loss:8.3f}  {rate:.1f} steps/s  {left}    ")

    def end_epoch(self, text):
        """The epoch's summary line (replacing its bar in a terminal)."""
        if self.enabled:
            self._write(("\r" if self.tty else "") + text + " " * 10 + "\n")
