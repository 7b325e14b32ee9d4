"""Checks on input images, with messages that say what was expected."""
from __future__ import annotations

from .backend import array_module
from .errors import DataError, ShapeError


def validate_images(x, input_dim, likelihood="bernoulli"):
    """Raise unless x is (N, input_dim), finite, and in [0, 1] for a Bernoulli decoder."""
    xp = array_module(x)
    if x.ndim != 2 or x.shape[1] != input_dim:
        hint = " (flatten images with x.reshape(len(x), -1))" if x.ndim > 2 else ""
        raise ShapeError(f"expected x of shape (N, {input_dim}), got {tuple(x.shape)}{hint}")
    finite = xp.isfinite(x)
    if not bool(finite.all()):
        bad = int(x.size - finite.sum())
        first = tuple(int(i) for i in xp.argwhere(~finite)[0])
        raise DataError(f"x has {bad} non-finite value(s) (NaN or inf), the first at index {first}; "
                        "expected finite pixel values")
    if likelihood == "bernoulli" and x.size:
        lo, hi = float(x.min()), float(x.max())
        if lo < 0 or hi > 1:
            raise DataError(f"a Bernoulli decoder needs pixel values in [0, 1], got values in [{lo:g}, {hi:g}]; "
                            "scale the data (e.g. x / 255) or use likelihood='gaussian'")
