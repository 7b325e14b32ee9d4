"""What every model shares: named parameters in one flat buffer, checkpoints, image inputs, and the training seam.

A model (:class:`minivae.VAE`, :class:`minivae.GAN`, :class:`minivae.VAEGAN`, :class:`minivae.VQVAE`) holds ``params``
and ``grads``, dicts of dotted names (``"encoder.0.W"``) whose arrays are
views of one buffer each (:func:`minivae.layers.pack_parameters`), and
``architecture()``, the JSON-able record it is rebuilt from. On that,
:class:`Model` writes and reads checkpoints (one format for every model,
:mod:`minivae.models.checkpoint`) and gives the defaults of what ``fit`` asks
(:mod:`minivae.train.loop`): no constraints, no step values. Every model
reads images through :meth:`Model.as_images`, the one image validation.
"""
from __future__ import annotations

from ..backend import array_module
from ..datasets import validate_images
from ..errors import ConfigError, DataError, ShapeError
from .checkpoint import load_model, load_state, save_model


def check_finite(name, a):
    """DataError unless every entry of the array a is finite (one pass; a host read on a GPU)."""
    xp = array_module(a)
    bad = ~xp.isfinite(a)
    if bool(bad.any()):
        first = tuple(int(i) for i in xp.argwhere(bad)[0])
        raise DataError(f"{name} has {int(bad.sum())} non-finite values (the first, {float(a[first])}, at index "
                        f"{first}); expected finite numbers")
    return a


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

    # ------------------------------------------------------------ inputs
    @property
    def image_dim(self):
        """D, the pixels of one flattened image."""
        return self.config.input_dim

    @property
    def unit_interval(self):
        """Whether images must lie in [0, 1] (a Bernoulli decoder's targets); else any finite values."""
        return self.config.likelihood == "bernoulli"

    def as_images(self, x, check=True, like=None, name="x"):
        """x as C-contiguous (N, D) images in the model's dtype on its backend (raw kernels read rows).

        With ``check``: DataError unless x is floating point (uint8 pixels are
        refused, not read as 0..255), finite and, for ``unit_interval``, in
        [0, 1] (one pass each). Always: ShapeError unless x is (N, D) with
        N >= 1, or has ``like``'s shape (a denoising target has its input's).
        """
        kind = getattr(getattr(x, "dtype", None), "kind", "f")
        if check and kind not in "f":
            raise DataError(f"{name}: dtype {x.dtype}, expected floating point images"
                            + (" in [0, 1] (uint8 pixels: divide by 255)" if self.unit_interval else ""))
        x = self.backend.xp.ascontiguousarray(self.backend.asarray(x, dtype=self.dtype))
        d = self.image_dim
        if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] != d:
            raise ShapeError(f"{name} has shape {tuple(x.shape)}; expected (N, {d}) with N >= 1")
        if like is not None and x.shape != like.shape:
            raise ShapeError(f"{name} must have x's shape {tuple(like.shape)}, got {tuple(x.shape)}")
        if check:
            validate_images(x, d, "bernoulli" if self.unit_interval else "gaussian")
        return x

    def check_data(self, x, y=None, name="x"):
        """Validate (and move to this backend) a dataset fit trains or evaluates on; an unconditional model
        (every one but the conditional VAE, which overrides this) takes no labels."""
        if y is not None:
            raise ConfigError(f"{name} came with labels, but this {type(self).__name__} is unconditional: "
                              "pass no labels (train without train_y)")
        return self.as_images(x, check=True, name=name)

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
