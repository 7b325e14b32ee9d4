"""The VAE's parts (posteriors, priors, observation models) each implement their contract in minivae.models.parts,
and the observation objects agree with the lecture's likelihoods and with finite differences (float64)."""
import inspect

import numpy as np
import pytest

from minivae import VAE, likelihoods
from minivae.backend import get_backend
from minivae.backend.buffers import Buffers
from minivae.errors import ConfigError
from minivae.models import observation, parts, posterior_categorical, posteriors, priors

CONTRACTS = {parts.Posterior: [posteriors, posterior_categorical], parts.Prior: [priors],
             parts.Observation: [observation]}


def classes(modules):
    return [c for m in modules for _, c in inspect.getmembers(m, inspect.isclass)
            if c.__module__ == m.__name__ and not c.__name__.startswith("_")]


@pytest.mark.parametrize("contract", CONTRACTS, ids=lambda c: c.__name__)
def test_every_part_implements_its_whole_contract(contract):
    found = classes(CONTRACTS[contract])
    assert found, contract
    for cls in found:
        assert issubclass(cls, contract), cls
        assert not inspect.isabstract(cls), (cls, cls.__abstractmethods__)


def test_a_part_missing_a_method_cannot_be_built():
    class Half(parts.Observation):
        def nll_and_grad(self, target, out, scale, buf):
            return None
    with pytest.raises(TypeError, match="abstract"):
        Half(4, get_backend("numpy"), np.dtype("float64"))


@pytest.mark.parametrize("options, kind", [
    (dict(), observation.Bernoulli),
    (dict(likelihood="gaussian", obs_logvar=-1.0), observation.Gaussian),
    (dict(likelihood="gaussian", variance="pixel", min_obs_logvar=-2.0), observation.GaussianPixelVariance),
    (dict(likelihood="gaussian", variance="network", min_obs_logvar=-2.0), observation.GaussianNetworkVariance),
])
def test_a_vae_composes_the_observation_model_of_its_config(options, kind):
    vae = VAE(input_dim=4, hidden_dims=(3,), latent_dim=2, dtype="float64", **options)
    assert type(vae.observation) is kind
    assert vae.decoder.layers[-1].params["W"].shape[1] == 4 * kind.outputs
    if kind is observation.GaussianPixelVariance:           # its parameter is the model's, one array
        assert vae.observation.params["logvar"] is vae.params["decoder.logvar"]


def make(kind, d=4, **kw):
    return kind(d, get_backend("numpy"), np.dtype("float64"), **kw)


def numeric_grad(f, a, h=1e-6):
    g = np.zeros_like(a)
    for i in np.ndindex(a.shape):
        old = a[i]
        a[i] = old + h
        up = f()
        a[i] = old - h
        down = f()
        a[i] = old
        g[i] = (up - down) / (2 * h)
    return g


@pytest.mark.parametrize("obs", [make(observation.Bernoulli), make(observation.Gaussian, obs_logvar=0.3),
                                 make(observation.GaussianPixelVariance, obs_logvar=0.2, floor=-1.0),
                                 make(observation.GaussianNetworkVariance, floor=-1.0),
                                 make(observation.GaussianNetworkVariance)], ids=lambda o: type(o).__name__)
def test_the_fused_nll_is_the_lectures_and_its_gradient_is_the_derivative(obs):
    rng = np.random.default_rng(0)
    x, out = rng.random((3, 4)), rng.normal(size=(3, 4 * obs.outputs))
    if obs.params:
        obs.params["logvar"] = rng.normal(size=4) * 0.3
        obs.grads["logvar"] = np.zeros(4)
    buf = Buffers(np, np.dtype("float64"))
    nll, dout = obs.nll_and_grad(x, out, 0.5, buf)
    nll, dout = nll.copy(), dout.copy()
    if isinstance(obs, observation.Bernoulli):
        want = -likelihoods.bernoulli_log_likelihood(x, out)
    elif isinstance(obs, observation.GaussianNetworkVariance):
        want = -likelihoods.gaussian_log_likelihood(x, out[:, :4], obs.logvar(out[:, 4:]))
    else:
        want = -likelihoods.gaussian_log_likelihood(x, out, obs.logvar)
    np.testing.assert_allclose(nll, want, rtol=1e-12)                                   # about 1e-16 expected
    np.testing.assert_allclose(-obs.log_likelihood(x, out), want, rtol=1e-12)
    total = lambda: 0.5 * obs.nll_and_grad(x, out, 1.0, Buffers(np, np.dtype("float64")))[0].sum()   # noqa: E731
    np.testing.assert_allclose(dout, numeric_grad(total, out), rtol=1e-6, atol=1e-9)    # about 1e-9 expected
    if obs.params:
        obs.nll_and_grad(x, out, 0.5, buf)
        obs.backward()
        np.testing.assert_allclose(obs.grads["logvar"], numeric_grad(total, obs.params["logvar"]), rtol=1e-6)


def test_a_pixel_variance_gradient_with_row_weights_weighs_each_row():
    """IWAE's rows weigh s_r: the parameter's gradient is sum_r s_r d nll_r / d logvar."""
    obs = make(observation.GaussianPixelVariance, obs_logvar=0.1)
    obs.grads["logvar"] = np.zeros(4)
    rng = np.random.default_rng(1)
    x, out, s = rng.random((5, 4)), rng.normal(size=(5, 4)), rng.random((5, 1))
    obs.nll_and_grad(x, out, 1.0, Buffers(np, np.dtype("float64")))
    obs.backward(s)
    weighted = lambda: float((s[:, 0] * obs.nll_and_grad(x, out, 1.0, Buffers(np, np.dtype("float64")))[0]).sum())  # noqa: E731
    np.testing.assert_allclose(obs.grads["logvar"], numeric_grad(weighted, obs.params["logvar"]), rtol=1e-6)


@pytest.mark.parametrize("obs", [make(observation.Bernoulli), make(observation.Gaussian),
                                 make(observation.GaussianNetworkVariance)], ids=lambda o: type(o).__name__)
def test_link_inverts_mean(obs):
    p = np.array([0.1, 0.5, 0.7, 0.9])
    out = obs.link(p)
    full = np.concatenate([out, np.zeros(4)]) if obs.outputs == 2 else out
    np.testing.assert_allclose(obs.mean(full[None])[0], p, rtol=1e-12)


def test_a_pixel_variance_floor_is_a_projection():
    obs = make(observation.GaussianPixelVariance, floor=-1.0)
    obs.params["logvar"][...] = [-3.0, -1.0, 0.0, 2.0]
    obs.apply_constraints()
    assert obs.params["logvar"].tolist() == [-1.0, -1.0, 0.0, 2.0]


def test_the_observation_model_validates_its_own_config_fields():
    opts = dict(likelihood="gaussian", variance="fixed", learn_variance=True, obs_logvar=0.5, min_obs_logvar=-2)
    assert observation.observation_options(**opts) == dict(likelihood="gaussian", variance="pixel",
                                                           learn_variance=True, obs_logvar=0.5, min_obs_logvar=-2.0)
    with pytest.raises(ConfigError, match="needs likelihood='gaussian'"):
        observation.observation_options(**{**opts, "likelihood": "bernoulli"})
    with pytest.raises(ConfigError, match="min_obs_logvar is a floor on a learned variance"):
        observation.observation_options(**{**opts, "learn_variance": False})
