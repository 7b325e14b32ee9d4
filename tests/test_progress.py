"""Progress: a bar with a rate and the time left on a terminal, one line per stage in a log, nothing when disabled."""
import io
import os

import numpy as np
import pytest

from minivae.metrics.quality import classify, draw_samples
from minivae.train.progress import Progress, clock, stage


def on_a_terminal(work):
    """What ``work(stream)`` writes to a pseudo-terminal."""
    master, slave = os.openpty()
    with os.fdopen(slave, "w") as stream:
        assert stream.isatty()
        work(stream)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:                                   # the terminal closed: everything is read
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    return b"".join(chunks).decode()


def test_a_bar_with_rate_and_time_left_appears_on_a_terminal():
    def work(stream):
        bar = Progress(enabled=True, stream=stream, min_interval=0.0).stage("sampling", 4)
        for done in range(5):
            bar(done)
    text = on_a_terminal(work)
    assert "\r" in text and "sampling [" in text and "2/4" in text and "/s" in text
    assert "ETA " in text and f"[{'#' * 30}] 4/4" in text
    assert text.replace("\r\n", "\n").endswith("\n")                          # the stage's line is ended


def test_the_epoch_bar_of_fit_shows_its_rate_on_a_terminal():
    def work(stream):
        bar = Progress(3, enabled=True, stream=stream, min_interval=0.0)
        for i in (1, 2, 3):
            bar.update(1, 2, i, 0.25)
        bar.end_epoch("epoch 1 train_loss 0.250")
    text = on_a_terminal(work)
    assert "epoch 1/2 [" in text and "3/3" in text and "steps/s" in text and "epoch 1 train_loss 0.250" in text


def test_nothing_is_written_when_disabled():
    def work(stream):
        bar = Progress(enabled=False, stream=stream, min_interval=0.0)
        for done in range(3):
            stage(bar, "features")(done, 2)
        bar.update(1, 1, 1, 0.5)
        bar.end_epoch("epoch 1 loss 0.5")
    assert on_a_terminal(work) == ""


def test_a_log_gets_one_line_per_stage():
    log = io.StringIO()
    bar = Progress(enabled=True, stream=log)
    for name, total in (("sampling", 3), ("features of the images", 2)):
        for done in range(total + 1):
            stage(bar, name)(done, total) if done == 0 else bar(done, total)
    lines = log.getvalue().splitlines()
    assert len(lines) == 2 and lines[0].startswith("sampling: 3 in ") and lines[1].startswith("features of the")
    assert "\r" not in log.getvalue()


def test_library_functions_report_through_any_callable():
    seen = []
    images = draw_samples(lambda start, m: np.full((m, 784), 2.0), 2500, batch_size=1000,
                          progress=lambda done, total: seen.append((done, total)))
    assert images.shape == (2500, 784) and images.dtype == np.float32 and images.max() == 1.0   # clipped
    assert seen == [(0, 2500), (1000, 2500), (2000, 2500), (2500, 2500)]


def test_the_yardstick_reports_its_batches(monkeypatch):
    class Features:                                       # a stand-in classifier: the reports are what is tested
        backend = type("B", (), {"to_numpy": staticmethod(np.asarray)})

        def features(self, x):
            return x[:, :3]

        def head(self, h):
            return h[:, :2]
    seen = []
    classify(np.random.default_rng(0).random((5, 784)), Features(), batch_size=2,
             progress=lambda done, total: seen.append(done))
    assert seen == [0, 2, 4, 5]


@pytest.mark.parametrize("seconds, text", [(0, "0:00"), (65.4, "1:05"), (3723, "1:02:03")])
def test_the_time_left_reads_as_a_clock(seconds, text):
    assert clock(seconds) == text
