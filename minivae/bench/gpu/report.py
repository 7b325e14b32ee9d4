"""The human-readable table of the GPU benchmark's result dict (:mod:`minivae.bench.gpu.speed`)."""
from __future__ import annotations


def _fmt(v, spec):
    width = int(spec.split(".")[0])
    return f"{'-':>{width}}" if v is None else format(v, spec)


def report(result):
    """The human-readable table (a string)."""
    lines = [f"minivae GPU benchmark on {result['device']} ({result['dtype']}, pytorch/examples VAE 784-400-20)", ""]
    head = (f"{'batch':>6} | {'minivae step ms':>15} | {'graph step ms':>13} | {'torch step ms':>13} | "
            f"{'ratio':>6} | {'graph ratio':>11} | {'minivae epoch s':>15} | {'torch epoch s':>13} | {'ratio':>6}")
    lines += [head, "-" * len(head)]
    for r in result["train"]:
        lines.append(f"{r['batch']:>6} | {_fmt(r['step_ms'], '15.3f')} | {_fmt(r.get('graph_step_ms'), '13.3f')} | "
                     f"{_fmt(r.get('torch_step_ms'), '13.3f')} | {_fmt(r.get('step_ratio'), '6.2f')} | "
                     f"{_fmt(r.get('graph_step_ratio'), '11.2f')} | {_fmt(r['epoch_s'], '15.3f')} | "
                     f"{_fmt(r.get('torch_epoch_s'), '13.3f')} | {_fmt(r.get('epoch_ratio'), '6.2f')}")
        if r.get("graph_error"):
            lines.append(f"       graph capture failed: {r['graph_error']}")
    if result.get("torch_error"):
        lines.append(f"PyTorch not measured: {result['torch_error']}")
    if result["kernels"]:
        lines += ["", f"{'fused op':<42} | {'shape':<24} | {'fused us':>9} | {'unfused us':>10} | "
                      f"{'speedup':>7}"]
        lines.append("-" * 104)
        for k in result["kernels"]:
            lines.append(f"{k['op']:<42} | {k['shape']:<24} | {k['fused_us']:9.1f} | {k['unfused_us']:10.1f} | "
                         f"{k['speedup']:7.2f}")
    lines += ["", "targets: " + ", ".join(f"{k} {'met' if v else 'NOT met'}" for k, v in result["targets"].items())]
    return "\n".join(lines)
