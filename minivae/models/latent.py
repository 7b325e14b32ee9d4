"""The VAE's stochastic layer: q(z|x) and p(z) composed, and the KL term between them, forward and backward.

Between the encoder's hidden layer h and the decoder sits z ~ q(z|x) and the
KL term of the ELBO. Where it has a closed form (a Gaussian q without a flow,
the N(0, I) prior, one sample) that is used; else its Monte Carlo estimate
at each sample,

    kl = log q(z|x) - log p(z),

which is also what the importance weights of the IWAE bound need
(log w = log p(x|z) - beta kl). Backward, with dkl = dL/dkl:

    d/dz  += -dkl d log p(z)/dz        (the prior's pull on z)
    heads <- (dz, dlog q = dkl)        (the posterior's sample and density)
    prior <- -dkl                      (its parameters; the VampPrior's
                                        pseudo-inputs' encoder outputs)

The VampPrior's pseudo-inputs ride along with the data through the encoder:
h has N + C rows, the last C of them the pseudo-inputs'.
"""
from __future__ import annotations

from ..errors import DataError, ShapeError
from .base import check_finite
from .posterior_categorical import CategoricalPosterior
from .posteriors import GaussianPosterior
from .priors import make_prior

#: the head outputs the VampPrior's components read (their diagonal Gaussians)
_PRIOR_STATS = ("mu", "logvar")


class Latent:
    """q(z|x) (:mod:`minivae.models.posteriors`) and p(z) (:mod:`minivae.models.priors`) with the KL term of a config."""

    def __init__(self, config, h_dim, rng, backend, dtype):
        kind = CategoricalPosterior if config.latent == "categorical" else GaussianPosterior
        self.posterior = kind(config, h_dim, rng, backend, dtype)
        self.prior = make_prior(config, rng, backend.xp, dtype)
        self.closed_form = config.closed_form_kl and config.iwae_k == 1
        self.pseudo = self.prior.components if self.prior.name == "vamp" else 0
        self.samples, self.categorical = config.iwae_k, config.latent == "categorical"     # K per example
        self.latent_dim, self.code_size = config.latent_dim, config.code_size
        self.backend, self.xp, self.dtype = backend, backend.xp, dtype
        self._cache = self.last_stats = None

    def parts(self):
        """The heads and the prior (if it has parameters), for :func:`minivae.layers.pack_parameters`."""
        return self.posterior.parts() + ([("prior", self.prior)] if self.prior.params else [])

    def split(self, s, n):
        """The heads' outputs for the N data rows, and the VampPrior's (mu_c, logvar_c) (else None)."""
        if not self.pseudo:
            return s, None
        return {k: v[:n] for k, v in s.items()}, tuple(s[k][n:] for k in _PRIOR_STATS)

    # -------------------------------------------------------------- inputs
    def noise(self, eps, n, rng, check=True):
        """The noise of q(z|x) for n examples, drawn from rng when None.

        Gaussian latents: eps ~ N(0, I), (n, latent_dim) or (iwae_k, n, latent_dim);
        categorical latents: u ~ U(0, 1), (n, latent_dim, categories), the source
        of the Gumbel noise. Given noise is checked for its shape and, with
        ``check``, for finiteness (and u for the open interval (0, 1))."""
        lead = (n,) if self.samples == 1 else (self.samples, n)
        if eps is None:
            return self.posterior.noise(rng, lead, self.dtype)
        eps = self.backend.asarray(eps, dtype=self.dtype)
        shape = self.posterior.noise_shape(lead)
        if eps.shape != shape:
            what = ("(N, latent_dim, categories)" if self.categorical else
                    "(N, latent_dim)" if self.samples == 1 else "(iwae_k, N, latent_dim)")
            raise ShapeError(f"eps must have shape {what} = {shape}, got {tuple(eps.shape)}")
        if check and self.categorical and bool(((eps <= 0) | (eps >= 1)).any()):
            raise DataError("eps of categorical latents is the uniform noise u of g = -log(-log u): every entry "
                            "must lie in the open interval (0, 1)")
        return check_finite("eps", eps) if check else eps

    def prior_draws(self, z_prior, n, rng, check=True):
        """z_prior ~ p(z) = N(0, I), (n, latent_dim), for the MMD term; drawn from rng when None."""
        shape = (n, self.latent_dim)
        if z_prior is None:
            return rng.standard_normal(shape, dtype=self.dtype)
        z_prior = self.backend.asarray(z_prior, dtype=self.dtype)
        if z_prior.shape != shape:
            raise ShapeError(f"z_prior (draws from p(z) for the MMD term) must have shape (N, latent_dim) = "
                             f"{shape}, got {tuple(z_prior.shape)}")
        return check_finite("z_prior", z_prior) if check else z_prior

    def codes(self, z):
        """z as (N, code_size) codes on the backend (latent_dim, or latent_dim * categories one-hot entries)."""
        z = self.backend.asarray(z, dtype=self.dtype)
        if z.ndim != 2 or z.shape[1] != self.code_size:
            what = "latent_dim * categories" if self.categorical else "latent_dim"
            raise ShapeError(f"z must have shape (N, {what}) = (N, {self.code_size}), got {tuple(z.shape)}")
        return check_finite("z", z)

    # ------------------------------------------------------------ training
    def forward(self, h, eps, buf):
        """z and the KL term per sample: closed form (N,), or Monte Carlo (N,) / (S, N) for eps (S, N, M)."""
        n = h.shape[0] - self.pseudo
        s_x, s_c = self.split(self.posterior.stats(h), n)
        self.last_stats = s_x
        if self.closed_form:
            z, kl, cache = self.posterior.closed_form_kl(s_x, eps, buf)
            self._cache = (n, cache, None)
            return z, kl
        z, kl, q_cache, p_cache = self._sample_kl(s_x, s_c, eps)
        self._cache = (n, q_cache, p_cache)
        return z, kl

    def backward(self, dz, dkl, buf, need_dx=True):
        """dL/dh from dL/dz and dkl = dL/dkl (closed form: a scalar, or (M,) per dimension; else kl's shape)."""
        n, q_cache, p_cache = self._cache
        if self.closed_form:
            return self.posterior.stats_backward(self.posterior.closed_form_backward(dz, dkl, q_cache, buf), need_dx)
        dkl = self.xp.broadcast_to(self.xp.asarray(dkl, dtype=dz.dtype), dz.shape[:-1])
        dz_prior, dstats_c = self.prior.backward(-dkl, p_cache)
        ds = self.posterior.sample_backward(dz + dz_prior, dkl, q_cache)
        if self.pseudo:
            ds = self._join(ds, dstats_c, n, buf)
        return self.posterior.stats_backward(ds, need_dx)

    def _join(self, ds, dstats_c, n, buf):
        """Stack the data rows' and the pseudo-inputs' head gradients (the pseudo-inputs: mu, logvar only)."""
        out = {}
        for k, d in ds.items():
            full = buf(f"dstats_{k}", (n + self.pseudo, d.shape[1]))
            full[:n] = d
            full[n:] = dstats_c[_PRIOR_STATS.index(k)] if k in _PRIOR_STATS else 0
            out[k] = full
        return out

    # ----------------------------------------------------------- inference
    def _sample_kl(self, s_x, s_c, eps):
        z, log_q, q_cache = self.posterior.sample(s_x, eps)
        log_p, p_cache = self.prior.log_prob(z, s_c)
        return z, log_q - log_p, q_cache, p_cache

    def sample_kl(self, h, eps):
        """z and the Monte Carlo KL term log q(z|x) - log p(z) for eps (S, N, M), without caching (evaluation)."""
        s_x, s_c = self.split(self.posterior.stats(h, train=False), h.shape[0] - self.pseudo)
        return self._sample_kl(s_x, s_c, eps)[:2]

    def point(self, h):
        """The z a reconstruction decodes (N, M) from the data rows' h: mu, or mu pushed through the flow."""
        return self.posterior.point(self.posterior.stats(h, train=False))

    def sample_prior(self, n, rng, h_pseudo=None):
        """n draws from p(z); the VampPrior needs the encoder's h of its pseudo-inputs."""
        stats = None
        if self.pseudo:
            s = self.posterior.stats(h_pseudo, train=False)
            stats = tuple(s[k] for k in _PRIOR_STATS)
        return self.prior.sample(n, rng, stats)
