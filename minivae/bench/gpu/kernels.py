"""Each fused kernel against its unfused expression, for the GPU benchmark (:mod:`minivae.bench.gpu.speed`).

:func:`kernel_cases` builds float32 arrays of the pytorch/examples sizes and,
for each fused op of ``backend.ops``, the readable lecture expression it
replaces; :func:`bench_kernels` times both (CUDA events by default).
"""
from __future__ import annotations

import numpy

from .config import CONFIG, LR
from .timing import cuda_event_time


def kernel_cases(backend, batch=4096, seed=0):
    """(name, shape, fused call, unfused call) for each fused op, on float32 arrays of the pytorch/examples sizes."""
    from ... import activations, kl, likelihoods, reparam
    from ...backend.kernels import reference

    xp, ops = backend.xp, backend.ops
    rng = numpy.random.default_rng(seed)

    def arr(*shape, scale=1.0):
        return backend.asarray((scale * rng.standard_normal(shape)).astype(numpy.float32))

    n, d, h, pix = batch, CONFIG["latent_dim"], CONFIG["hidden_dims"][0], CONFIG["input_dim"]
    mu, logvar, eps, dz = arr(n, d), arr(n, d, scale=0.5), arr(n, d), arr(n, d)
    w = numpy.float32(1.0 / n)
    x = backend.asarray(rng.uniform(0, 1, (n, pix)).astype(numpy.float32))
    logits = arr(n, pix, scale=3.0)
    a, b, dy = arr(n, h), arr(h), arr(n, h)
    y = xp.maximum(a + b, 0)
    params = {k: arr(*s) for k, s in _param_shapes().items()}
    grads = {k: arr(*s) for k, s in _param_shapes().items()}
    m1 = {k: xp.zeros_like(p) for k, p in params.items()}
    v1 = {k: xp.zeros_like(p) for k, p in params.items()}
    m2 = {k: xp.zeros_like(p) for k, p in params.items()}
    v2 = {k: xp.zeros_like(p) for k, p in params.items()}
    names = list(params)
    hyper = (LR, 0.9, 0.999, 1e-8, 10)

    def reparam_kl_unfused():
        z, cache = reparam.reparameterize(mu, logvar, eps)
        return z, kl.kl_divergence(mu, logvar)

    def reparam_kl_backward_unfused():
        dmu, dlogvar = reparam.reparameterize_backward(dz, (reparam.sigma_from_logvar(logvar), eps))
        dmu_kl, dlogvar_kl = kl.kl_backward(w, mu, logvar)
        return dmu + dmu_kl, dlogvar + dlogvar_kl

    def bernoulli_unfused():
        nll = -likelihoods.bernoulli_log_likelihood(x, logits)
        dll = xp.full(n, -w, dtype=numpy.float32)
        return nll, likelihoods.bernoulli_log_likelihood_backward(dll, x, logits)

    def adam_unfused():
        for k in names:
            reference.adam_update(params[k], grads[k], m1[k], v1[k], *hyper)

    def adam_fused_per_tensor():
        for k in names:
            ops.adam_update(params[k], grads[k], m2[k], v2[k], *hyper)

    cases = [
        ("reparam_kl_forward", f"({n}, {d})", lambda: ops.reparam_kl_forward(mu, logvar, eps), reparam_kl_unfused),
        ("reparam_kl_backward", f"({n}, {d})", lambda: ops.reparam_kl_backward(dz, mu, logvar, eps, w),
         reparam_kl_backward_unfused),
        ("bernoulli_nll_grad", f"({n}, {pix})", lambda: ops.bernoulli_nll_grad(x, logits, w), bernoulli_unfused),
        ("bias_act_forward(relu)", f"({n}, {h})", lambda: ops.bias_act_forward(a, b, "relu"),
         lambda: activations.relu_forward(a + b)[0]),
        ("act_backward(relu)", f"({n}, {h})", lambda: ops.act_backward(dy, y, "relu"),
         lambda: activations.relu_backward(dy, y)),
        ("adam_update (10 tensors, per tensor)", "all params", adam_fused_per_tensor, adam_unfused),
    ]
    if hasattr(ops, "adam_update_multi"):
        cases.append(("adam_update_multi (10 tensors, 1 launch)", "all params",
                      lambda: ops.adam_update_multi([params[k] for k in names], [grads[k] for k in names],
                                                    [m2[k] for k in names], [v2[k] for k in names], *hyper),
                      adam_unfused))
    return cases


def _param_shapes():
    i, h, d = CONFIG["input_dim"], CONFIG["hidden_dims"][0], CONFIG["latent_dim"]
    return {"encoder.0.W": (i, h), "encoder.0.b": (h,), "mu.W": (h, d), "mu.b": (d,), "logvar.W": (h, d),
            "logvar.b": (d,), "decoder.0.W": (d, h), "decoder.0.b": (h,), "decoder.1.W": (h, i),
            "decoder.1.b": (i,)}


def bench_kernels(backend, reps, batch=4096, timer=None):
    """Median microseconds of each fused op and of the unfused expression it replaces."""
    timer = timer or (lambda fn: cuda_event_time(backend.xp, fn, reps))
    rows = []
    for name, shape, fused, unfused in kernel_cases(backend, batch):
        f, u = timer(fused), timer(unfused)
        rows.append({"op": name, "shape": shape, "fused_us": f, "unfused_us": u, "speedup": u / f})
    return rows
