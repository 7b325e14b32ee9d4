"""The machinery every check shares: calling the student's function, comparing
an output with the reference, detecting common mistakes, and reporting.

Nothing here knows about a particular exercise; the ``check_*`` modules
import from here, never the other way round.
"""
from __future__ import annotations

import numpy as np

from ..gradcheck import rel_error

RTOL = 1e-7
SHAPES = ((1, 1), (4, 3), (16, 10))


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


def _call_for(check, fn, inputs, n, results):
    """fn's n outputs on copies of ``inputs`` (so a function that writes into its arguments cannot hide it);
    None, with False appended to ``results``, if it returned another count."""
    got = _outputs(_call(check, fn, {k: v.copy() if isinstance(v, np.ndarray) else v for k, v in inputs.items()}),
                   n, check)
    if got is None:
        results.append(False)
    return got


def _outputs(got, n, check):
    """Unpack a tuple of n outputs, with a clear message for a wrong count."""
    if not isinstance(got, (tuple, list)) or len(got) != n:
        what = type(got).__name__ if not isinstance(got, (tuple, list)) else f"{len(got)} values"
        print(f"  FAIL {check}: your function returned {what}, expected a tuple of {n} arrays")
        return None
    return got

