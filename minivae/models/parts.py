"""The contracts of a VAE's three parts, stated once: the posterior q(z|x), the prior p(z), the observation p(x|z).

Each part holds ``params`` and ``grads``, dicts of arrays under the same
keys (packed by the VAE into its flat buffer under the part's prefix:
``mu.W``, ``prior.means``, ``decoder.logvar``); its forward returns what the
loss needs and keeps what its backward needs. The classes of
:mod:`minivae.models.posteriors`, :mod:`minivae.models.posterior_categorical`,
:mod:`minivae.models.priors` and :mod:`minivae.models.observation` implement
these; :class:`minivae.models.latent.Latent` and :class:`minivae.VAE` use
nothing else of them.
"""
from __future__ import annotations

import abc


class Posterior(abc.ABC):
    """q(z|x): linear heads on the encoder's h (``self.heads``: name -> Dense), a sample and its density.

    Two routes to the KL term: ``closed_form_kl`` (z and KL(q || p) in closed
    form, when ``closed_form``) or ``sample`` (z and log q(z|x) for the Monte
    Carlo estimate). ``s`` is always the heads' outputs by name (``stats``).
    """

    heads: dict                                     # name -> Dense, set by each posterior
    closed_form: bool                               # whether closed_form_kl applies

    def parts(self):
        """[(name, Dense)] for :func:`minivae.layers.pack_parameters`."""
        return list(self.heads.items())

    def stats(self, h, train=True):
        """The heads' outputs on h (R, H), by head name, each (R, ·)."""
        return {k: (d.forward(h) if train else d.predict(h)) for k, d in self.heads.items()}

    def stats_backward(self, dstats, need_dx=True):
        """Backward through the heads (the last ``stats(train=True)``): dL/dh, or None."""
        dh = None
        for k, d in self.heads.items():
            dx = d.backward(dstats[k], need_dx=need_dx)
            if dh is None:
                dh = dx
            elif need_dx:
                dh += dx                                    # h feeds every head
        return dh

    @abc.abstractmethod
    def noise_shape(self, lead):
        """The shape of the noise for ``lead`` = (N,) or (S, N) samples."""

    @abc.abstractmethod
    def noise(self, rng, lead, dtype):
        """The reparameterization's noise (eps, or uniform u for Gumbel noise), of ``noise_shape(lead)``."""

    @abc.abstractmethod
    def closed_form_kl(self, s, eps, buf):
        """(z (N, ·), KL(q(z|x) || p(z)) (N,), cache) for one sample per row."""

    @abc.abstractmethod
    def closed_form_backward(self, dz, kl_weight, cache, buf):
        """The heads' gradients, by name, from dL/dz and the KL's weight (a scalar or per dimension)."""

    @abc.abstractmethod
    def sample(self, s, eps):
        """(z, log q(z|x), cache) for noise eps (N, ·) or (S, N, ·)."""

    @abc.abstractmethod
    def sample_backward(self, dz, dlog_q, cache):
        """The heads' gradients, by name, from dL/dz and dL/dlog q(z|x)."""

    @abc.abstractmethod
    def point(self, s):
        """The z a reconstruction decodes: the posterior's centre, (N, ·)."""


class Prior(abc.ABC):
    """p(z): its log-density and that density's gradient, and samples.

    ``stats`` is what a prior built from the encoder needs (the VampPrior:
    its pseudo-inputs' (mu, logvar)); None for the others.
    """

    name: str                                       # the config's ``prior`` ("standard", "mog", "vamp")
    components: int                                 # mixture components (0: not a mixture)
    params: dict                                    # learned arrays by name ({} if none)
    grads: dict

    @abc.abstractmethod
    def log_prob(self, z, stats=None):
        """(log p(z) (…,), cache) for z (…, M)."""

    @abc.abstractmethod
    def backward(self, dlogp, cache):
        """(dL/dz, dL/dstats or None) from dL/dlog p(z); the prior's own gradients go into ``grads``."""

    @abc.abstractmethod
    def sample(self, n, rng, stats=None):
        """n draws from p(z): (n, ·)."""


class Observation(abc.ABC):
    """p(x|z): what the decoder's output means, -log p(x|z) with its gradient, and the mean image.

    The decoder outputs ``outputs`` numbers per pixel (``out`` (R, outputs D)).
    ``nll_and_grad`` is the training forward: one fused pass that gives the
    loss and dL/dout, keeping what ``backward`` needs for the part's own
    parameters (a learned variance).
    """

    outputs = 1                                     # decoder outputs per pixel

    def __init__(self, input_dim, backend, dtype):
        self.input_dim, self.backend, self.xp, self.dtype = input_dim, backend, backend.xp, dtype
        self.params, self.grads = {}, {}
        self._cache = None

    @abc.abstractmethod
    def nll_and_grad(self, target, out, scale, buf):
        """(-log p(x|z) (R,), ``scale`` * d nll / d out (R, outputs D)), in kept buffers of ``buf``."""

    def backward(self, weights=None):
        """Fill ``grads`` for the last ``nll_and_grad`` (row r weighs ``weights`` (R, 1), else ``scale``). None here."""
        return self.grads

    @abc.abstractmethod
    def log_likelihood(self, x, out):
        """log p(x|z) per row for decoder outputs out (…, outputs D), without gradients (evaluation)."""

    @abc.abstractmethod
    def mean(self, out):
        """The mean image E[x|z] (R, D) from the decoder's output."""

    @abc.abstractmethod
    def link(self, mean_image, floor=1e-4):
        """The output (of the means' half) whose mean image is ``mean_image`` (D,): the inverse of ``mean``."""

    def apply_constraints(self):
        """Project the part's parameters onto their allowed set after an optimizer step (none here)."""
        return self
