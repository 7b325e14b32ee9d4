"""Check of the conditional VAE's decoder input (lesson 8)."""
from __future__ import annotations

import numpy as np

from .compare import _call, _case, _compare, _report, _rng


# ----------------------------------------------------------- lesson 8: CVAE
def check_condition_input(student_fn):
    """``student_fn(z, y, num_classes) -> (N, D + C)``: [z, onehot(y)], the decoder input of a CVAE.

    Reference: what :class:`minivae.VAE` with ``num_classes=C`` feeds its
    decoder; the decoded images through your input must equal ``vae.decode(z, y)``.
    """
    from ..models.vae import VAE

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
            from ..activations import sigmoid
            return _compare(check, "decoded images (sigmoid of the decoder on your input)",
                            sigmoid(vae.decoder.predict(g)), vae.decode(z, y), inputs)

        results.append(_case(check, f"z {z.shape}, {c} classes", [
            lambda: _compare(check, "decoder input", got, want, inputs, mistakes), decoded]))
    return _report(check, results)

