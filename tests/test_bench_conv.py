"""``python -m minivae bench conv``: a tiny run, its JSON, PyTorch at the same shapes and weights, clear errors."""
import json
import sys

import numpy as np
import pytest

from minivae.bench.conv import LAYERS, PARTS, _layer, _torch_step
from minivae.cli import main

TINY = ["bench", "conv", "--batch-size", "2", "--repeats", "2"]


def test_a_tiny_run_prints_each_layer_and_writes_its_figures(tmp_path, capsys):
    assert main(TINY + ["--json", str(tmp_path / "conv.json")]) == 0
    out = capsys.readouterr().out
    res = json.loads((tmp_path / "conv.json").read_text())
    assert [r["layer"] for r in res["rows"]] == [name for name, *_ in LAYERS]
    for r in res["rows"]:
        assert r["layer"] in out and r["minivae_ms"] > 0 and all(r[k] >= 0 for k in (*PARTS, "other"))
        assert r["col2im"] > 0 or not LAYERS[res["rows"].index(r)][6]     # no col2im without dx (conv 1)


def test_vs_torch_times_both_with_the_same_computation(tmp_path, capsys):
    """The PyTorch step the benchmark times is the layer's: the same output and gradients (float32 rounding)."""
    torch = pytest.importorskip("torch")
    for spec in LAYERS:
        layer = _layer(spec, "numpy", 0)
        x = np.random.default_rng(1).standard_normal((2, spec[2], spec[4], spec[4]), dtype=np.float32)
        dy = np.random.default_rng(2).standard_normal(layer.output_shape(x.shape), dtype=np.float32)
        tx = torch.from_numpy(x).requires_grad_(True)
        step, w, b = _torch_step(torch, spec, layer)
        step(tx, torch.from_numpy(dy))
        layer.forward(x)
        dx = layer.backward(dy)
        for got, want in ((dx, tx.grad), (layer.grads["W"], w.grad), (layer.grads["b"], b.grad)):
            want = want.numpy()                                      # float32 sums in another order:
            assert np.abs(got - want).max() < 1e-5 * np.abs(want).max(), spec[0]    # to the arrays' scale
    assert main(TINY + ["--vs", "torch", "--json", str(tmp_path / "c.json")]) == 0
    rows = json.loads((tmp_path / "c.json").read_text())["rows"]
    assert all(r["ratio"] == pytest.approx(r["minivae_ms"] / r["torch_ms"]) for r in rows)
    assert "ratio" in capsys.readouterr().out


def test_vs_torch_without_torch_says_how_to_get_it(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)                  # import torch -> ImportError
    assert main(TINY + ["--vs", "torch"]) == 2
    assert "pip install torch" in capsys.readouterr().err


def test_bad_options_are_one_line(capsys):
    assert main(["bench", "conv", "--repeats", "0"]) == 2
    assert "--repeats must be >= 1" in capsys.readouterr().err
