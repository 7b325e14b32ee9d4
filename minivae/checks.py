"""Checks for the lesson exercises: your function against the library's reference.

Every ``check_*`` function takes the function you wrote, calls it on random
float64 inputs of several shapes (and on a few special inputs), and compares
each output with the reference implementation in minivae. The convention,
the same for every check:

* it prints one line per case; for a wrong output it says which output is
  wrong, by how much (max absolute and relative error), where (the index of
  the worst element, with the input values there), and, when your output
  matches a common mistake (a missing factor 1/2, sigma where sigma^2
  belongs, a flipped sign...), which one;
* it returns ``True`` when every case passes and ``False`` otherwise. It
  never raises because an answer is wrong, so in a notebook write
  ``assert check_kl_divergence(kl_divergence)``;
* an exception raised by your function propagates unchanged, with a note
  naming the check and the input shapes (``NotImplementedError`` tells you an
  exercise is still open).

Outputs are compared with :func:`minivae.gradcheck.rel_error`; a correct
float64 implementation is within about 1e-12 of the reference, so the
tolerance ``RTOL = 1e-7`` flags every real mistake.

The module also holds two small helpers the lessons use: :func:`quick_mode`
(``MINIVAE_QUICK=1`` shortens training for CI) and :func:`figure_path`.
"""
from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path

import numpy as np

from . import iwae
from .gradcheck import rel_error
from .kl import free_bits_kl, kl_backward, kl_divergence
from .layers import dense_backward, dense_forward
from .likelihoods import (
    bernoulli_log_likelihood,
    bernoulli_log_likelihood_backward,
    gaussian_log_likelihood,
    softplus,
)
from .reparam import reparameterize, reparameterize_backward

RTOL = 1e-7
SHAPES = ((1, 1), (4, 3), (16, 10))

__all__ = [
    "RTOL", "quick_mode", "figure_path",
    "check_kl_divergence", "check_kl_backward",
    "check_reparameterize", "check_reparameterize_backward",
    "check_dense_backward", "check_bernoulli_log_likelihood", "check_bernoulli_backward",
    "check_gaussian_log_likelihood", "check_log_weights", "check_iwae_bound",
    "check_condition_input", "check_free_bits_kl", "check_active_units",
]


# ------------------------------------------------------------ lesson helpers
def quick_mode():
    """True when the environment variable MINIVAE_QUICK is "1" (CI: short training)."""
    return os.environ.get("MINIVAE_QUICK") == "1"


def figure_path(name):
    """Where a lesson saves the figure ``name``.

    In full mode: ``figures/lessons/name`` in the repository (found from the
    working directory, the repository root or ``lessons/``). In quick mode: a
    temporary directory, so CI runs leave the committed figures alone.
    """
    if quick_mode():
        root = Path(tempfile.gettempdir()) / "minivae-lesson-figures"
    else:
        cwd = Path.cwd()
        repo = cwd.parent if cwd.name == "lessons" else cwd
        root = repo / "figures" / "lessons"
    root.mkdir(parents=True, exist_ok=True)
    return root / name


# ------------------------------------------------------------------ plumbing
def _rng(seed):
    return np.random.default_rng(seed)


def _describe(inputs):
    """'mu(4, 3), lam=0.5': shapes of arrays, values of scalars."""
    return ", ".join(f"{k}={v!r}" if np.ndim(v) == 0 else f"{k}{tuple(np.shape(v))}" for k, v in inputs.items())


def _call(check, fn, inputs):
    """fn(**inputs) positionally; notes the check and shapes on any exception."""
    try:
        return fn(*inputs.values())
    except Exception as exc:  # re-raised unchanged, with a note for the reader
        exc.add_note(f"(raised by your function inside {check} on inputs {_describe(inputs)})")
        raise


def _at(inputs, idx, shape):
    """The input values at the worst output element (rows broadcast by position)."""
    parts = []
    for k, v in inputs.items():
        a = np.asarray(v)
        if a.ndim == 0:
            parts.append(f"{k}={float(a):.4g}")
        elif a.shape == shape:
            parts.append(f"{k}={a[idx]:.4g}")
        elif len(idx) >= 1 and a.ndim >= 1 and a.shape[0] == shape[0] and a.ndim <= 2:
            row = a[idx[0]]
            parts.append(f"{k}[{idx[0]}]={np.array2string(np.atleast_1d(row)[:6], precision=3)}")
    return ", ".join(parts)


def _compare(check, name, got, want, inputs, mistakes=None):
    """One output against the reference; prints feedback, returns True if it matches."""
    want = np.asarray(want, dtype=np.float64)
    if got is None:
        print(f"  FAIL {name}: your function returned None for it (forgot a return?)")
        return False
    try:
        got = np.asarray(got)
    except Exception:  # ragged lists and the like
        print(f"  FAIL {name}: could not read your output as an array ({type(got).__name__})")
        return False
    if got.shape != want.shape:
        print(f"  FAIL {name}: shape {got.shape}, expected {want.shape} on inputs {_describe(inputs)}"
              + (" (summed or averaged over the wrong axis?)" if got.size != want.size else ""))
        return False
    if not np.issubdtype(got.dtype, np.number):
        print(f"  FAIL {name}: dtype {got.dtype}, expected float64")
        return False
    got = got.astype(np.float64)
    if not np.isfinite(got).all():
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(got))[0])
        print(f"  FAIL {name}: non-finite value {got[bad]} at index {bad} where the reference is "
              f"{want[bad]:.6g}; inputs there: {_at(inputs, bad, want.shape)}")
        return False
    err = rel_error(got, want)
    if err <= RTOL:
        return True
    diff = np.abs(got - want) / np.maximum(1e-8, np.abs(got) + np.abs(want))
    idx = tuple(int(i) for i in np.unravel_index(int(np.argmax(diff)), want.shape)) if want.ndim else ()
    print(f"  FAIL {name}: max relative error {err:.2e} (max abs error {np.max(np.abs(got - want)):.3g}) "
          f"on inputs {_describe(inputs)}")
    print(f"       worst at index {idx}: yours {got[idx]:.6g}, reference {want[idx]:.6g}; "
          f"inputs there: {_at(inputs, idx, want.shape)}")
    for label, wrong in (mistakes or {}).items():
        wrong = np.asarray(wrong, dtype=np.float64)
        if wrong.shape == got.shape and np.isfinite(wrong).all() and rel_error(got, wrong) <= 1e-6:
            print(f"       hint: your output matches a common mistake: {label}")
            break
    return False


def _report(check, results):
    ok = all(results)
    n = len(results)
    print(f"{check}: {'all ' + str(n) + ' cases pass' if ok else f'{n - sum(results)} of {n} cases FAIL'}")
    return ok


def _case(check, title, outputs):
    """Run the comparisons of one case; prints its header only on failure."""
    ok = True
    for cmp in outputs:
        ok = cmp() and ok
    if not ok:
        print(f"  ^ in case: {title}")
    return ok


def _gauss_inputs(rng, shape, special=None):
    mu = rng.standard_normal(shape)
    logvar = rng.uniform(-2.0, 1.5, shape)
    if special == "prior":
        mu, logvar = np.zeros(shape), np.zeros(shape)
    return mu, logvar


def _outputs(got, n, check):
    """Unpack a tuple of n outputs, with a clear message for a wrong count."""
    if not isinstance(got, (tuple, list)) or len(got) != n:
        what = type(got).__name__ if not isinstance(got, (tuple, list)) else f"{len(got)} values"
        print(f"  FAIL {check}: your function returned {what}, expected a tuple of {n} arrays")
        return None
    return got


# ------------------------------------------------------------ lesson 2: KL
def check_kl_divergence(student_fn):
    """``student_fn(mu, logvar) -> kl (N,)``: KL(N(mu, sigma^2) || N(0, I)) per example.

    Reference :func:`minivae.kl.kl_divergence`, 1/2 sum_j (mu^2 + sigma^2 - log sigma^2 - 1).
    """
    check = "check_kl_divergence"
    rng, results = _rng(0), []
    for shape, special in [(s, None) for s in SHAPES] + [((3, 5), "prior")]:
        mu, logvar = _gauss_inputs(rng, shape, special)
        inputs = {"mu": mu, "logvar": logvar}
        got = _call(check, student_fn, {"mu": mu.copy(), "logvar": logvar.copy()})
        s2 = np.exp(logvar)
        mistakes = {
            "a missing factor 1/2": (mu**2 + s2 - logvar - 1).sum(-1),
            "sigma = exp(logvar / 2) used where sigma^2 belongs": 0.5 * (mu**2 + np.exp(logvar / 2) - logvar - 1).sum(-1),
            "the sign of the log sigma^2 term flipped": 0.5 * (mu**2 + s2 + logvar - 1).sum(-1),
            "the whole KL negated": -kl_divergence(mu, logvar),
            "the -1 left out": 0.5 * (mu**2 + s2 - logvar).sum(-1),
            "a mean over dimensions instead of a sum": 0.5 * (mu**2 + s2 - logvar - 1).mean(-1),
        }
        title = f"mu, logvar of shape {shape}" + (" (mu = 0, logvar = 0: KL must be 0)" if special else "")
        results.append(_case(check, title, [lambda: _compare(check, "kl", got, kl_divergence(mu, logvar),
                                                             inputs, mistakes)]))
    return _report(check, results)


# ------------------------------------------------------- lesson 5: backward
def check_kl_backward(student_fn):
    """``student_fn(dkl, mu, logvar) -> (dmu, dlogvar)`` for the closed-form KL.

    dkl: (N,) upstream gradient dLoss/dKL_n. Reference :func:`minivae.kl.kl_backward`:
    dmu = dkl * mu, dlogvar = dkl * (exp(logvar) - 1) / 2.
    """
    check = "check_kl_backward"
    rng, results = _rng(1), []
    for shape in SHAPES:
        mu, logvar = _gauss_inputs(rng, shape)
        dkl = rng.standard_normal(shape[0])
        inputs = {"dkl": dkl, "mu": mu, "logvar": logvar}
        got = _outputs(_call(check, student_fn, {k: v.copy() for k, v in inputs.items()}), 2, check)
        if got is None:
            results.append(False)
            continue
        dmu, dlogvar = kl_backward(dkl[:, None], mu, logvar)   # a weight per example
        g = dkl[:, None]
        mistakes_lv = {
            "a missing factor 1/2": g * (np.exp(logvar) - 1),
            "sigma = exp(logvar / 2) used where sigma^2 belongs": g * 0.5 * (np.exp(logvar / 2) - 1),
            "a sign error (1 - sigma^2 instead of sigma^2 - 1)": -dlogvar,
            "the upstream gradient dkl ignored": 0.5 * (np.exp(logvar) - 1),
        }
        mistakes_mu = {"a sign error": -dmu, "the upstream gradient dkl ignored": mu,
                       "a spurious factor 1/2": 0.5 * dmu}
        results.append(_case(check, f"mu, logvar of shape {shape}, dkl of shape {dkl.shape}", [
            lambda: _compare(check, "dmu", got[0], dmu, inputs, mistakes_mu),
            lambda: _compare(check, "dlogvar", got[1], dlogvar, inputs, mistakes_lv)]))
    return _report(check, results)


# ------------------------------------------------------ lesson 4: the trick
def check_reparameterize(student_fn):
    """``student_fn(mu, logvar, eps) -> z``: z = mu + exp(logvar / 2) * eps.

    Reference :func:`minivae.reparam.reparameterize`.
    """
    check = "check_reparameterize"
    rng, results = _rng(2), []
    for shape in SHAPES:
        mu, logvar = _gauss_inputs(rng, shape)
        eps = rng.standard_normal(shape)
        inputs = {"mu": mu, "logvar": logvar, "eps": eps}
        got = _call(check, student_fn, {k: v.copy() for k, v in inputs.items()})
        z = reparameterize(mu, logvar, eps)[0]
        mistakes = {
            "sigma^2 = exp(logvar) used where sigma belongs": mu + np.exp(logvar) * eps,
            "logvar used as sigma": mu + logvar * eps,
            "a sign error (mu - sigma * eps is also N(mu, sigma^2) in law, but not the agreed z)": mu - np.exp(logvar / 2) * eps,
        }
        results.append(_case(check, f"shape {shape}", [lambda: _compare(check, "z", got, z, inputs, mistakes)]))
    return _report(check, results)


def check_reparameterize_backward(student_fn):
    """``student_fn(dz, mu, logvar, eps) -> (dmu, dlogvar)`` for z = mu + exp(logvar / 2) * eps.

    Reference :func:`minivae.reparam.reparameterize_backward`:
    dmu = dz, dlogvar = dz * eps * sigma / 2.
    """
    check = "check_reparameterize_backward"
    rng, results = _rng(3), []
    for shape in SHAPES:
        mu, logvar = _gauss_inputs(rng, shape)
        eps, dz = rng.standard_normal(shape), rng.standard_normal(shape)
        inputs = {"dz": dz, "mu": mu, "logvar": logvar, "eps": eps}
        got = _outputs(_call(check, student_fn, {k: v.copy() for k, v in inputs.items()}), 2, check)
        if got is None:
            results.append(False)
            continue
        _, cache = reparameterize(mu, logvar, eps)
        dmu, dlogvar = reparameterize_backward(dz, cache)
        sigma = np.exp(logvar / 2)
        mistakes = {
            "a missing factor 1/2 (d sigma / d logvar = sigma / 2)": dz * eps * sigma,
            "sigma^2 used where sigma belongs": 0.5 * dz * eps * sigma**2,
            "the factor sigma left out": 0.5 * dz * eps,
            "a sign error": -dlogvar,
            "eps left out": 0.5 * dz * sigma,
        }
        results.append(_case(check, f"shape {shape}", [
            lambda: _compare(check, "dmu", got[0], dmu, inputs, {"a sign error": -dmu}),
            lambda: _compare(check, "dlogvar", got[1], dlogvar, inputs, mistakes)]))
    return _report(check, results)


# --------------------------------------------------------- lesson 5: layers
def check_dense_backward(student_fn):
    """``student_fn(dy, x, W, b) -> (dx, dW, db)`` for y = x @ W + b.

    Reference :func:`minivae.layers.dense_backward`: dx = dy W^T, dW = x^T dy, db = sum_n dy_n.
    """
    check = "check_dense_backward"
    rng, results = _rng(4), []
    for n, d_in, d_out in ((1, 1, 1), (4, 3, 5), (16, 10, 7)):
        x, W, b = rng.standard_normal((n, d_in)), rng.standard_normal((d_in, d_out)), rng.standard_normal(d_out)
        dy = rng.standard_normal((n, d_out))
        inputs = {"dy": dy, "x": x, "W": W, "b": b}
        got = _outputs(_call(check, student_fn, {k: v.copy() for k, v in inputs.items()}), 3, check)
        if got is None:
            results.append(False)
            continue
        dx, dW, db = dense_backward(dy, dense_forward(x, W, b)[1])
        results.append(_case(check, f"x {x.shape}, W {W.shape}", [
            lambda: _compare(check, "dx", got[0], dx, inputs, {"a sign error": -dx}),
            lambda: _compare(check, "dW", got[1], dW, inputs, {"a sign error": -dW, "dW divided by N": dW / n}),
            lambda: _compare(check, "db", got[2], db, inputs, {"a mean over the batch instead of a sum": dy.mean(0),
                                                                "a sign error": -db})]))
    return _report(check, results)


# ---------------------------------------------------- lesson 6: likelihoods
def check_bernoulli_log_likelihood(student_fn):
    """``student_fn(x, logits) -> ll (N,)``: sum_d [x_d l_d - softplus(l_d)].

    Reference :func:`minivae.likelihoods.bernoulli_log_likelihood`. The last
    case has logits of size 40: sigmoid(40) rounds to 1 in float64, so
    log(1 - sigmoid(l)) is log 0 = -inf; write it with softplus instead.
    """
    check = "check_bernoulli_log_likelihood"
    rng, results = _rng(5), []
    cases = [(s, 3.0) for s in SHAPES] + [((4, 6), 40.0)]
    for shape, scale in cases:
        x = rng.uniform(0, 1, shape)
        if scale > 10:
            x = (x > 0.5).astype(np.float64)
        logits = rng.uniform(-scale, scale, shape)
        inputs = {"x": x, "logits": logits}
        got = _call(check, student_fn, {k: v.copy() for k, v in inputs.items()})
        ll = bernoulli_log_likelihood(x, logits)
        swapped = (1 - x) * logits - softplus(logits)    # x and 1 - x exchanged
        mistakes = {
            "a sign error (that is -log p(x|z), the reconstruction loss)": -ll,
            "x and 1 - x swapped": swapped.sum(-1),
            "a mean over pixels instead of a sum": (x * logits - np.logaddexp(0, logits)).mean(-1),
        }
        title = f"shape {shape}, logits in [-{scale:g}, {scale:g}]" + (
            " (large logits: use x*l - softplus(l), not log(sigmoid))" if scale > 10 else "")
        results.append(_case(check, title, [lambda: _compare(check, "ll", got, ll, inputs, mistakes)]))
    return _report(check, results)


def check_bernoulli_backward(student_fn):
    """``student_fn(dll, x, logits) -> dlogits (N, D)``: dll * (x - sigmoid(logits)).

    Reference :func:`minivae.likelihoods.bernoulli_log_likelihood_backward`.
    """
    check = "check_bernoulli_backward"
    rng, results = _rng(6), []
    for shape in SHAPES:
        x, logits = rng.uniform(0, 1, shape), rng.uniform(-3, 3, shape)
        dll = rng.standard_normal(shape[0])
        inputs = {"dll": dll, "x": x, "logits": logits}
        got = _call(check, student_fn, {k: v.copy() for k, v in inputs.items()})
        want = bernoulli_log_likelihood_backward(dll, x, logits)
        p = 1 / (1 + np.exp(-logits))
        mistakes = {"a sign error (sigmoid(l) - x)": -want,
                    "the upstream gradient dll ignored": x - p,
                    "the sigmoid derivative p (1 - p) multiplied in again": want * p * (1 - p)}
        results.append(_case(check, f"shape {shape}", [lambda: _compare(check, "dlogits", got, want, inputs, mistakes)]))
    return _report(check, results)


def check_gaussian_log_likelihood(student_fn):
    """``student_fn(x, mean, logvar) -> ll (N,)``, logvar (N, D):
    -1/2 sum_d [(x_d - mean_d)^2 / sigma_d^2 + log sigma_d^2 + log 2 pi].

    Reference :func:`minivae.likelihoods.gaussian_log_likelihood`.
    """
    check = "check_gaussian_log_likelihood"
    rng, results = _rng(7), []
    for shape in SHAPES:
        x, mean = rng.uniform(0, 1, shape), rng.uniform(0, 1, shape)
        logvar = rng.uniform(-3, 1, shape)
        inputs = {"x": x, "mean": mean, "logvar": logvar}
        got = _call(check, student_fn, {k: v.copy() for k, v in inputs.items()})
        ll = gaussian_log_likelihood(x, mean, logvar)
        r2, l2p = (x - mean) ** 2, math.log(2 * math.pi)
        mistakes = {
            "a missing factor 1/2": -(r2 / np.exp(logvar) + logvar + l2p).sum(-1),
            "dividing by sigma where sigma^2 belongs": -0.5 * (r2 / np.exp(logvar / 2) + logvar + l2p).sum(-1),
            "the log sigma^2 term left out": -0.5 * (r2 / np.exp(logvar) + l2p).sum(-1),
            "log sigma written where log sigma^2 belongs": -0.5 * (r2 / np.exp(logvar) + logvar / 2 + l2p).sum(-1),
            "the constant log 2 pi left out": -0.5 * (r2 / np.exp(logvar) + logvar).sum(-1),
            "a sign error": -ll,
        }
        results.append(_case(check, f"shape {shape}", [lambda: _compare(check, "ll", got, ll, inputs, mistakes)]))
    return _report(check, results)


def check_log_weights(student_fn):
    """``student_fn(ll, z, logvar, eps) -> log_w (N,)``: the one-sample Monte Carlo ELBO

        log w = log p(x|z) + log p(z) - log q(z|x)
        log p(z)   = -1/2 sum_j (z_j^2 + log 2 pi)
        log q(z|x) = -1/2 sum_j (eps_j^2 + log sigma_j^2 + log 2 pi)

    with ll = log p(x|z) (N,), z, logvar, eps (N, D). Reference
    :func:`minivae.iwae.log_weights` with K = 1 and beta = 1.
    """
    check = "check_log_weights"
    rng, results = _rng(8), []
    for shape in SHAPES:
        mu, logvar = _gauss_inputs(rng, shape)
        eps = rng.standard_normal(shape)
        z = mu + np.exp(logvar / 2) * eps
        ll = rng.uniform(-200, -50, shape[0])
        inputs = {"ll": ll, "z": z, "logvar": logvar, "eps": eps}
        got = _call(check, student_fn, {k: v.copy() for k, v in inputs.items()})
        want = iwae.log_weights(ll[None], z[None], logvar, eps[None])[0]
        l2p = math.log(2 * math.pi)
        log_pz = -0.5 * (z**2 + l2p).sum(-1)
        mistakes = {
            "log sigma written where log sigma^2 belongs in log q(z|x)":
                ll + log_pz + 0.5 * (eps**2 + logvar / 2 + l2p).sum(-1),
            "z^2 used in log q(z|x), where ((z - mu) / sigma)^2 = eps^2 belongs":
                ll + log_pz + 0.5 * (z**2 + logvar + l2p).sum(-1),
            "log q(z|x) added instead of subtracted": ll + log_pz - 0.5 * (eps**2 + logvar + l2p).sum(-1),
            "log p(z) left out": ll + 0.5 * (eps**2 + logvar + l2p).sum(-1),
        }
        results.append(_case(check, f"z of shape {shape}", [lambda: _compare(check, "log_w", got, want, inputs, mistakes)]))
    return _report(check, results)


# ---------------------------------------------------------- lesson 10: IWAE
def check_iwae_bound(student_fn):
    """``student_fn(log_w) -> L_K (N,)`` from log weights (K, N): log (1/K) sum_k exp(log w_k).

    Reference :func:`minivae.iwae.bound`. One case has log weights near -1000,
    where exp underflows to 0: subtract the max first (log-sum-exp).
    """
    check = "check_iwae_bound"
    rng, results = _rng(9), []
    for (k, n), offset in (((1, 3), -100.0), ((5, 4), -100.0), ((50, 7), -100.0), ((10, 3), -1000.0)):
        log_w = offset + 5 * rng.standard_normal((k, n))
        inputs = {"log_w": log_w}
        got = _call(check, student_fn, {"log_w": log_w.copy()})
        want = iwae.bound(log_w)
        mistakes = {"the -log K left out (a sum instead of a mean of the weights)": want + math.log(k),
                    "the mean of the log weights (that is the ELBO, not L_K)": log_w.mean(0),
                    "the max of the log weights": log_w.max(0)}
        title = f"log_w of shape {(k, n)} around {offset:g}" + (" (exp underflows: use log-sum-exp)" if offset < -500 else "")
        results.append(_case(check, title, [lambda: _compare(check, "L_K", got, want, inputs, mistakes)]))
    return _report(check, results)


# ----------------------------------------------------------- lesson 8: CVAE
def check_condition_input(student_fn):
    """``student_fn(z, y, num_classes) -> (N, D + C)``: [z, onehot(y)], the decoder input of a CVAE.

    Reference: what :class:`minivae.VAE` with ``num_classes=C`` feeds its
    decoder; the decoded images through your input must equal ``vae.decode(z, y)``.
    """
    from .vae import VAE

    check = "check_condition_input"
    rng, results = _rng(10), []
    for n, d, c in ((1, 1, 2), (5, 2, 10), (12, 3, 4)):
        vae = VAE(input_dim=6, hidden_dims=(5,), latent_dim=d, num_classes=c, dtype="float64", seed=n)
        z, y = rng.standard_normal((n, d)), rng.integers(0, c, n)
        inputs = {"z": z, "y": y, "num_classes": c}
        got = _call(check, student_fn, {"z": z.copy(), "y": y.copy(), "num_classes": c})
        want = vae.decoder_input(z, y)
        onehot = np.eye(c)[y]
        mistakes = {"the one-hot block placed before z (the library puts z first)": np.concatenate([onehot, z], 1),
                    "a one-hot of y - 1 (labels are 0-based)": np.concatenate([z, np.eye(c)[(y - 1) % c]], 1)}

        def decoded(got=got, vae=vae, z=z, y=y, inputs=inputs):
            g = np.asarray(got, dtype=np.float64) if got is not None else None
            if g is None or g.shape != want.shape:
                return True  # the shape is already reported by the input comparison
            from .activations import sigmoid
            return _compare(check, "decoded images (sigmoid of the decoder on your input)",
                            sigmoid(vae.decoder.predict(g)), vae.decode(z, y), inputs)

        results.append(_case(check, f"z {z.shape}, {c} classes", [
            lambda: _compare(check, "decoder input", got, want, inputs, mistakes), decoded]))
    return _report(check, results)


# ----------------------------------------------- lesson 9: posterior collapse
def check_free_bits_kl(student_fn):
    """``student_fn(mu, logvar, lam) -> scalar``: sum_j max(lam, KL_j), KL_j the batch mean of the
    per-dimension KL. Reference :func:`minivae.kl.free_bits_kl` (its first output)."""
    check = "check_free_bits_kl"
    rng, results = _rng(11), []
    for shape, lam in ((SHAPES[0], 0.5), (SHAPES[1], 0.25), (SHAPES[2], 0.5), ((8, 6), 0.0)):
        mu, logvar = _gauss_inputs(rng, shape)
        mu[:, ::2] *= 0.1          # some dimensions close to the prior, so the floor matters
        logvar[:, ::2] *= 0.1
        inputs = {"mu": mu, "logvar": logvar, "lam": lam}
        got = _call(check, student_fn, {"mu": mu.copy(), "logvar": logvar.copy(), "lam": lam})
        want = free_bits_kl(mu, logvar, lam)[0]
        kl = 0.5 * (mu**2 + np.exp(logvar) - logvar - 1)
        mistakes = {
            "the floor applied per example before averaging (the free-bits floor is on the batch-mean KL_j)":
                np.maximum(kl, lam).mean(0).sum(),
            "min instead of max": np.minimum(kl.mean(0), lam).sum(),
            "a missing factor 1/2 in the KL": np.maximum(2 * kl.mean(0), lam).sum(),
            "the floor applied to the total KL, not per dimension": max(kl.mean(0).sum(), lam),
        }
        results.append(_case(check, f"shape {shape}, lambda = {lam}", [
            lambda: _compare(check, "free-bits KL", got, want, inputs, mistakes)]))
    return _report(check, results)


def check_active_units(student_fn):
    """``student_fn(mu, threshold) -> int``: the number of latent units u with Var_x(mu_u) > threshold,
    mu (N, D) the posterior means of a data set (Burda et al. 2015).

    Reference :meth:`minivae.VAE.active_units` on a small model whose heads
    are scaled so that some units are active and some are not.
    """
    from .vae import VAE

    check = "check_active_units"
    rng, results = _rng(12), []
    for n, d, threshold, seed in ((50, 4, 0.01, 0), (200, 8, 0.01, 1), (100, 6, 0.05, 2)):
        vae = VAE(input_dim=10, hidden_dims=(8,), latent_dim=d, dtype="float64", seed=seed)
        scale = np.geomspace(3.0, 0.01, d)          # Var(mu_u) shrinks with u
        vae.params["mu.W"][...] *= scale
        x = rng.uniform(0, 1, (n, 10))
        mu = vae.encode(x)[0]
        got = _call(check, student_fn, {"mu": mu.copy(), "threshold": threshold})
        want = vae.active_units(x, threshold=threshold)
        var = mu.var(0)
        mistakes = {"the standard deviation compared with the threshold where the variance belongs":
                        int((np.sqrt(var) > threshold).sum()),
                    "the variance over latent units instead of over examples": int((mu.var(1) > threshold).sum()),
                    "the inactive units counted (< instead of >)": int((var < threshold).sum())}

        def cmp(got=got, want=want, mistakes=mistakes, var=var, threshold=threshold):
            try:
                g = int(got)
            except (TypeError, ValueError):
                print(f"  FAIL active units: expected an int, got {type(got).__name__}")
                return False
            if g == want:
                return True
            print(f"  FAIL active units: yours {g}, reference {want} (threshold {threshold}); "
                  f"Var(mu_u) per unit = {np.array2string(var, precision=4)}")
            for label, wrong in mistakes.items():
                if wrong == g and wrong != want:
                    print(f"       hint: your count matches a common mistake: {label}")
                    break
            return False

        results.append(_case(check, f"mu of shape {mu.shape}", [cmp]))
    return _report(check, results)
