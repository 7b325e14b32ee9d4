"""The digit classifier of the sample-quality yardstick: an MLP on minivae's own layers, trained by ``fit``.

    h_0 = x,   h_l = relu(h_{l-1} W_l + b_l)  (l = 1 .. L-1),   a = h_{L-1} W_L + b_L
    p(y|x) = softmax(a),   L = -1/N sum_n log p(y_n|x_n)         (:mod:`minivae.softmax`)

``features(x)`` is h_{L-1}, the penultimate layer's activations: the space in
which :func:`minivae.metrics.fid` compares generated and real images (what
the Inception network's pool layer is for the FID of natural images).
Parameters ``net.{i}.W`` / ``net.{i}.b``, one flat buffer
(:func:`minivae.layers.pack_parameters`).
"""
from __future__ import annotations

import numpy

from ..backend import check_dtype, get_backend
from ..datasets import validate_images
from ..errors import ConfigError, DataError, MiniVAEError
from ..errors import positive_int
from ..layers import MLP, pack_parameters
from ..models.base import Model
from ..optim import make_optimizer
from ..softmax import check_labels, log_softmax, softmax_cross_entropy, softmax_cross_entropy_backward


class Classifier(Model):
    """An MLP classifier p(y|x) = softmax(MLP(x)); see the module docstring for the math.

    input_dim: pixels per image (784); hidden_dims: hidden layer sizes (at
    least one: the last is the feature layer); num_classes: C; activation of
    the hidden layers; init: weight scheme of :func:`minivae.layers.init_weight`
    (``"auto"``: He for ReLU); seed: the initial weights; dtype, backend as
    for every model.
    """

    kind = "classifier"
    tuple_options = ("hidden_dims",)

    def __init__(self, input_dim=784, hidden_dims=(512, 256), num_classes=10, activation="relu", init="auto",
                 seed=0, dtype="float32", backend=None):
        hidden_dims = tuple(hidden_dims)
        if not hidden_dims:
            raise ConfigError("hidden_dims must name at least one hidden layer (the last is the feature layer)")
        for name, v in [("input_dim", input_dim), ("num_classes", num_classes)] + \
                [(f"hidden_dims[{i}]", h) for i, h in enumerate(hidden_dims)]:
            positive_int(name, v)
        if num_classes < 2:
            raise ConfigError(f"num_classes must be >= 2, got {num_classes}")
        self.input_dim, self.hidden_dims, self.num_classes = int(input_dim), tuple(map(int, hidden_dims)), num_classes
        self.activation, self.init, self.seed = activation, init, seed
        self.dtype = numpy.dtype(check_dtype(dtype))
        self.backend = get_backend(backend)
        self.xp = self.backend.xp
        self.rng = self.backend.default_rng(seed)       # draws nothing; fit's evaluate swaps it
        self.net = MLP([self.input_dim, *self.hidden_dims, num_classes], activation, numpy.random.default_rng(seed),
                       self.backend, self.dtype.name, init=init)
        self.params, self.grads = pack_parameters([("net", self.net)], (), self.backend, self.dtype.name)
        self._cache = None

    # ------------------------------------------------------------------ inputs
    def _images(self, x, check=True):
        x = self.xp.ascontiguousarray(self.backend.asarray(x, dtype=self.dtype))
        if check:
            validate_images(x, self.input_dim)                      # (N, D), finite, in [0, 1]
        return x

    def _labels(self, y, n):
        if y is None:
            raise DataError(f"a classifier needs the labels y: integers in [0, {self.num_classes}), shape ({n},)")
        return self.backend.asarray(check_labels(self.backend.to_numpy(y) if hasattr(y, "dtype") else y,
                                                 n, self.num_classes))

    # -------------------------------------------------------------- objective
    def loss(self, x, y, check=True):
        """Forward pass: the mean cross-entropy (nats) of labels y given images x, and the error rate.

        x: (N, input_dim) in [0, 1]; y: (N,) integers in [0, C).
        Returns ``{"loss", "error"}`` as 0-d arrays; caches what ``backward`` needs.
        """
        x = self._images(x, check)
        y = self._labels(y, x.shape[0])
        logits = self.net.forward(x)                                # (N, C)
        loss, ce_cache = softmax_cross_entropy(logits, y)
        error = (logits.argmax(axis=1) != y).mean()
        self._cache = ce_cache
        return {"loss": loss, "error": error}

    def backward(self):
        """Fill ``grads`` for the last ``loss``: da = (p - onehot(y)) / N, then back through the MLP."""
        if self._cache is None:
            raise MiniVAEError("backward() needs a forward pass first: call classifier.loss(x, y) first")
        self.net.backward(softmax_cross_entropy_backward(self._cache), need_dx=False)
        return self.grads

    # -------------------------------------------------------------- inference
    def logits(self, x):
        """a = MLP(x), (N, C), without caching."""
        return self.net.predict(self._images(x))

    def features(self, x):
        """h_{L-1}: the penultimate layer's activations, (N, hidden_dims[-1])."""
        h = self._images(x)
        for layer in self.net.layers[:-1]:
            h = layer.predict(h)
        return h

    def head(self, h):
        """The logits from features: a = h W_L + b_L, (N, C)."""
        return self.net.layers[-1].predict(self.backend.asarray(h, dtype=self.dtype))

    def predict_proba(self, x):
        """p(y|x) = softmax(a), (N, C); rows sum to 1."""
        return self.xp.exp(log_softmax(self.logits(x)))

    def predict(self, x):
        """The most probable class argmax_c p(c|x), (N,)."""
        return self.logits(x).argmax(axis=1)

    def accuracy(self, x, y, batch_size=1000):
        """The fraction of images whose most probable class is their label, as a float."""
        n = self._images(x, check=False).shape[0]
        y = self.backend.to_numpy(self._labels(y, n))
        positive_int("batch_size", batch_size)
        hits = sum(int((self.backend.to_numpy(self.predict(x[s:s + batch_size])) == y[s:s + batch_size]).sum())
                   for s in range(0, n, batch_size))
        return hits / n

    # -------------------------------------------------------- the fit seam
    def check_data(self, x, y=None, name="x"):
        """Validate (and move to this backend) a labelled dataset ``fit`` trains or evaluates on."""
        x = self._images(x)
        if y is None:
            raise DataError(f"{name}: a classifier trains on labelled images: pass the labels (train_y / test_y)")
        self._labels(y, x.shape[0])
        return x

    def configure_optimizers(self, config):
        """``{"classifier": Adam or SGD over every parameter}`` with TrainConfig's options."""
        return {"classifier": make_optimizer(config.optimizer, self.params, **config.optimizer_options())}

    def train_step(self, batch, optimizers):
        """Loss on (batch.x, batch.y), backward, one update: ``{"loss", "error"}``."""
        out = self.loss(batch.x, batch.y, check=False)
        self.backward()
        optimizers["classifier"].step(self.grads)
        return out

    def eval_step(self, batch):
        """Held-out figures of a batch: ``{"loss": cross-entropy, "error": error rate}``."""
        return self.loss(batch.x, batch.y, check=False)

    # ------------------------------------------------------------ checkpoints
    def architecture(self):
        return {"input_dim": self.input_dim, "hidden_dims": list(self.hidden_dims), "num_classes": self.num_classes,
                "activation": self.activation, "init": self.init, "dtype": self.dtype.name, "seed": self.seed}

    def __repr__(self):
        return (f"Classifier({self.input_dim}-{'-'.join(map(str, self.hidden_dims))}-{self.num_classes}, "
                f"activation={self.activation!r}, dtype={self.dtype.name!r}, backend={self.backend.name!r})")
