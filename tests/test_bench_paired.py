"""``bench paired``: the NLL differences between bench nll runs, with the paired standard error over the images."""
import json
import math

import numpy as np
import pytest

from minivae.bench.paired import paired
from minivae.cli import main


def fake_run(folder, log_px, **results):
    folder.mkdir()
    (folder / "results.json").write_text(json.dumps({"objective": "vae", "iwae_k": 1, "epochs": 2, "k": 10,
                                                     "design": {}, **results}))
    np.save(folder / "log_px.npy", np.asarray(log_px))
    return str(folder)


def test_the_paired_error_is_that_of_the_per_image_differences():
    rng = np.random.default_rng(0)
    shared = rng.normal(-90, 25, size=2000)            # most of an image's difficulty is the image's
    a, b = shared + rng.normal(0, 1, 2000), shared - 0.5 + rng.normal(0, 1, 2000)
    delta, se = paired(a, b)
    d = a - b
    assert delta == pytest.approx(d.mean()) and se == pytest.approx(d.std(ddof=1) / math.sqrt(2000))
    assert delta == pytest.approx(0.5, abs=4 * se)     # B is 0.5 nats worse
    assert se < 0.05 and b.std(ddof=1) / math.sqrt(2000) > 0.5    # far below either model's own error


def test_the_table_names_every_run_and_its_difference_from_the_first(tmp_path, capsys):
    first = fake_run(tmp_path / "diag", [-100.0, -80.0, -90.0])
    better = fake_run(tmp_path / "iaf", [-99.0, -79.5, -89.0], design={"flow": "iaf"})
    assert main(["bench", "paired", first, better, "--json", str(tmp_path / "t.json")]) == 0
    out = capsys.readouterr().out
    assert "-0.83 +- 0.17" in out and "flow=iaf" in out and "3 images" in out
    rows = json.loads((tmp_path / "t.json").read_text())["rows"]
    assert rows[0]["minus_first"] == 0 and rows[1]["test_nll"] == pytest.approx(89.1666667)


def test_runs_that_cannot_be_paired_are_refused_in_one_line(tmp_path, capsys):
    a = fake_run(tmp_path / "a", [-1.0, -2.0, -3.0])
    b = fake_run(tmp_path / "b", [-1.0, -2.0])
    assert main(["bench", "paired", a, b]) == 2
    assert "different test sets ([2, 3] images)" in capsys.readouterr().err
    (tmp_path / "c").mkdir()
    assert main(["bench", "paired", a, str(tmp_path / "c")]) == 2
    assert "not a finished bench nll run (no results.json" in capsys.readouterr().err
