"""Benchmark: the convolution layers' forward + backward time, where it goes, and PyTorch eager's beside it.

The four layers of a convolutional VAE on MNIST (28 x 28), as DCGAN-style
networks build it: 4 x 4 kernels, stride 2, pad 1, each halving or doubling
the image:

    Conv2D 1 -> 32 (28 -> 14), Conv2D 32 -> 64 (14 -> 7),                      the encoder
    ConvTranspose2D 64 -> 32 (7 -> 14), ConvTranspose2D 32 -> 1 (14 -> 28)      the decoder

ReLU after each but the last (logits). One step is the layer's ``forward``
then its ``backward`` (dx skipped for the first layer, whose input is data, as
PyTorch skips it for an input that needs no gradient). One thread each: one
OpenBLAS thread for NumPy, ``torch.set_num_threads(1)``. The two frameworks
alternate step by step in one process; each figure is the median over
``--repeats`` steps. minivae's time is split, in a second, instrumented pass,
into im2col (the strided copy of the patches), GEMM (the matrix products),
col2im (the scatter-add of the patches' gradients) and the rest (padding,
the bias and activation, layout changes).

    OPENBLAS_NUM_THREADS=1 python -m minivae bench conv --vs torch
"""
from __future__ import annotations

import json
import statistics
import time

import numpy

from ..backend import Backend
from ..backend.kernels import numpy_ops
from ..backend.threads import blas_limit
from ..errors import ConfigError
from ..models import conv_layers
from ..models.conv_layers import Conv2D, ConvTranspose2D

#: (name, class, C_in, C_out, input size H = W, activation, need_dx)
LAYERS = [("conv 1->32, 28->14", Conv2D, 1, 32, 28, "relu", False),
          ("conv 32->64, 14->7", Conv2D, 32, 64, 14, "relu", True),
          ("convT 64->32, 7->14", ConvTranspose2D, 64, 32, 7, "relu", True),
          ("convT 32->1, 14->28", ConvTranspose2D, 32, 1, 14, "identity", True)]
PARTS = ("im2col", "gemm", "col2im")


def add_arguments(p):
    p.add_argument("--batch-size", type=int, default=128, help="images per step")
    p.add_argument("--repeats", type=int, default=30, help="timed steps per layer and framework (the median counts)")
    p.add_argument("--vs", choices=["torch"], help="also time PyTorch eager's F.conv2d / F.conv_transpose2d, "
                                                   "steps alternating")
    p.add_argument("--json", default=None, metavar="FILE", help="also write the figures as JSON")


class _Clock:
    """Seconds spent in each named part, summed."""

    def __init__(self):
        self.spent = dict.fromkeys(PARTS, 0.0)

    def wrap(self, part, fn):
        def timed(*args, **kw):
            t = time.perf_counter()
            try:
                return fn(*args, **kw)
            finally:
                self.spent[part] += time.perf_counter() - t
        return timed


class _TimedNumpy:
    """NumPy with ``matmul`` timed (an array module for an instrumented Backend)."""

    def __init__(self, clock):
        self.matmul = clock.wrap("gemm", numpy.matmul)

    def __getattr__(self, name):
        return getattr(numpy, name)


def _layer(spec, backend, seed):
    _, cls, c_in, c_out, _, act, _ = spec
    return cls(c_in, c_out, 4, numpy.random.default_rng(seed), 2, 1, backend=backend, activation=act)


def _step(layer, x, dy, need_dx):
    layer.forward(x)
    layer.backward(dy, need_dx=need_dx)


def _split(spec, x, dy, steps):
    """Seconds per step in im2col, GEMM and col2im, from ``steps`` instrumented steps."""
    clock = _Clock()
    layer = _layer(spec, Backend(_TimedNumpy(clock), numpy_ops), 0)
    saved = conv_layers.im2col_rows, conv_layers.scatter_add
    conv_layers.im2col_rows, conv_layers.scatter_add = clock.wrap("im2col", saved[0]), clock.wrap("col2im", saved[1])
    try:
        _step(layer, x, dy, spec[6])
        clock.spent = dict.fromkeys(PARTS, 0.0)
        for _ in range(steps):
            _step(layer, x, dy, spec[6])
    finally:
        conv_layers.im2col_rows, conv_layers.scatter_add = saved
    return {k: v / steps for k, v in clock.spent.items()}


def _torch_step(torch, spec, layer):
    """A PyTorch eager step at the same shape and weights (F.conv2d or F.conv_transpose2d, the activation,
    backward), and its weight and bias tensors (their ``grad`` after a step)."""
    F = torch.nn.functional
    w = torch.tensor(layer.params["W"], requires_grad=True)
    b = torch.tensor(layer.params["b"], requires_grad=True)
    conv = F.conv2d if spec[1] is Conv2D else F.conv_transpose2d
    act = F.relu if spec[5] == "relu" else (lambda a: a)

    def step(x, dy):
        w.grad = b.grad = x.grad = None
        act(conv(x, w, b, stride=2, padding=1)).backward(dy)
    return step, w, b


def _median_ms(times):
    return 1e3 * statistics.median(times)


def run_command(a):
    if a.batch_size < 1 or a.repeats < 1:
        raise ConfigError(f"--batch-size and --repeats must be >= 1, got {a.batch_size} and {a.repeats}")
    torch = None
    if a.vs == "torch":
        try:
            import torch
        except ImportError as exc:
            raise ConfigError(f"--vs torch needs PyTorch, which is not importable ({exc}): pip install torch") from None
        torch.set_num_threads(1)
    rows = []
    with blas_limit(1):
        for spec in LAYERS:
            rows.append(_measure(spec, a, torch))
    print(f"forward + backward per step, batch {a.batch_size}, one thread each, median of {a.repeats} (ms)")
    head = f"{'layer':<22}{'minivae':>9}{'im2col':>8}{'gemm':>7}{'col2im':>8}{'other':>7}"
    print(head + (f"{'torch':>9}{'ratio':>7}" if torch else ""))
    for r in rows:
        share = {k: 100 * r[k] / r["minivae_ms"] for k in (*PARTS, "other")}
        line = f"{r['layer']:<22}{r['minivae_ms']:>9.2f}" + "".join(f"{share[k]:>7.0f}%" for k in share)
        print(line + (f"{r['torch_ms']:>9.2f}{r['ratio']:>6.2f}x" if torch else ""))
    total = {k: sum(r[k] for r in rows) for k in ("minivae_ms", *(("torch_ms",) if torch else ()))}
    if torch:
        print(f"{'all four':<22}{total['minivae_ms']:>9.2f}{'':>30}{total['torch_ms']:>9.2f}"
              f"{total['minivae_ms'] / total['torch_ms']:>6.2f}x")
    print("im2col, gemm, col2im, other: shares of minivae's time (an instrumented pass); ratio: minivae / torch")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"batch_size": a.batch_size, "repeats": a.repeats, "rows": rows, "total": total}, f, indent=2)
    return 0


def _measure(spec, a, torch):
    """One layer: minivae's (and torch's) median step time, and minivae's split."""
    name, _, c_in, c_out, size, _, need_dx = spec
    rng = numpy.random.default_rng(1)
    layer = _layer(spec, "numpy", 0)
    x = rng.standard_normal((a.batch_size, c_in, size, size), dtype=numpy.float32)
    dy = rng.standard_normal(layer.output_shape(x.shape), dtype=numpy.float32)
    timers = [lambda: _step(layer, x, dy, need_dx)]
    if torch:
        tx, tdy = torch.from_numpy(x).requires_grad_(need_dx), torch.from_numpy(dy)
        torch_step = _torch_step(torch, spec, layer)[0]
        timers.append(lambda: torch_step(tx, tdy))
    times = [[] for _ in timers]
    for _ in range(2):                               # warm-up: buffers, PyTorch's first call
        for t in timers:
            t()
    for _ in range(a.repeats):
        for t, out in zip(timers, times):
            start = time.perf_counter()
            t()
            out.append(time.perf_counter() - start)
    row = {"layer": name, "minivae_ms": _median_ms(times[0])}
    split = _split(spec, x, dy, max(3, a.repeats // 3))
    row.update({k: 1e3 * v for k, v in split.items()})
    instrumented = sum(split.values()) * 1e3
    row["other"] = max(row["minivae_ms"] - instrumented, 0.0)
    if torch:
        row["torch_ms"] = _median_ms(times[1])
        row["ratio"] = row["minivae_ms"] / row["torch_ms"]
    return row
