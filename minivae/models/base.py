"""What every model shares: named parameters in one flat buffer, checkpoints, and the training seam.

A model (:class:`minivae.VAE`; the GAN and VAE-GAN to come) holds ``params``
and ``grads``, dicts of dotted names (``"encoder.0.W"``) whose arrays are
views of one buffer each (:func:`minivae.layers.pack_parameters`), and
``architecture()``, the JSON-able record it is rebuilt from. On that,
:class:`Model` writes and reads checkpoints (one format for every model,
:mod:`minivae.models.checkpoint`) and gives the defaults of what ``fit`` asks
(:mod:`minivae.train.loop`): no constraints, no step values.
"""
from __future__ import annotations

from .checkpoint import load_model, load_state, save_model


class Model:
    """The base of minivae's models: checkpoints from ``architecture()`` and ``params``; fit's defaults."""

    #: the model's name in its checkpoints (:func:`minivae.models.checkpoint.checkpoint_kind`)
    kind = "model"
    #: metrics of ``train_step`` that ``fit`` records as their value at the epoch's end, not as a mean
    step_values = ()
    #: architecture options stored as JSON lists that the constructor takes as tuples
    tuple_options = ()

    def architecture(self):
        """The JSON-able keyword arguments that rebuild this model (its seed included)."""
        raise NotImplementedError

    def apply_constraints(self):
        """Project the parameters onto their allowed set after an optimizer step (none by default)."""
        return self

    def state_arrays(self):
        """Parameters as host NumPy arrays, by name."""
        return {k: self.backend.to_numpy(v) for k, v in self.params.items()}

    def save(self, path, extra=None, train_state=None, keep_previous=False):
        """Write architecture + weights to ``path`` (.npz), atomically.

        ``extra`` (a JSON-able dict, e.g. how the data was prepared) is stored
        beside them and read back with :func:`minivae.models.checkpoint.load_checkpoint`;
        ``train_state`` and ``keep_previous``: see :func:`minivae.models.checkpoint.save_checkpoint`.
        """
        return save_model(self, self.architecture(), path, extra, train_state, keep_previous)

    def load_state(self, arrays, source="arrays"):
        """Copy weights into this model; CheckpointError unless names and shapes match exactly."""
        load_state(self, arrays, source, hint=self.shape_hint)

    def shape_hint(self, name, saved_shape, expected_shape):
        """A sentence for a checkpoint whose ``name`` has another shape: why it might (none by default)."""
        return ""

    @classmethod
    def load(cls, path, backend=None, **expected):
        """Build the saved model from ``path``.

        ``expected`` options (e.g. ``num_classes=None``) must match the
        checkpoint's, else CheckpointError: a conditional model is not
        silently loaded as an unconditional one.
        """
        return load_model(cls, path, backend, expected, tuples=cls.tuple_options)
