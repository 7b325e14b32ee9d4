"""The VAE's design points (HY-673 lecture 10): full-covariance and flow posteriors, learned priors, a network variance.

Each option is the same VAE graph with another posterior, prior or decoder
output; each is gradient-checked in float64 through the full loss, and each
has a k-sample log-likelihood, samples, a checkpoint and clear errors.
"""
import numpy as np
import pytest

from minivae import VAE
from minivae.errors import ConfigError, DataError
from minivae.gradcheck import check_model_gradients
from minivae.kl import kl_divergence

SMALL = dict(input_dim=6, hidden_dims=(5,), latent_dim=3, activation="tanh", dtype="float64", seed=1)
DESIGNS = {
    "full covariance": dict(posterior="full"),
    "planar flow": dict(flow="planar", flow_steps=3),
    "IAF": dict(flow="iaf", flow_steps=3, iaf_hidden=3),
    "mixture prior": dict(prior="mog", prior_components=3),
    "VampPrior": dict(prior="vamp", prior_components=3),
    "network variance": dict(likelihood="gaussian", variance="network", min_obs_logvar=-3.0),
    "network variance, no floor": dict(likelihood="gaussian", variance="network"),
    "full covariance, IWAE": dict(posterior="full", iwae_k=3),
    "planar flow, IWAE": dict(flow="planar", flow_steps=2, iwae_k=3),
    "IAF, IWAE": dict(flow="iaf", flow_steps=2, iaf_hidden=4, iwae_k=3),
    "VampPrior, IWAE": dict(prior="vamp", prior_components=3, iwae_k=2),
    "mixture prior, CVAE": dict(prior="mog", prior_components=2, num_classes=3),
    "VampPrior, linear VAE": dict(prior="vamp", prior_components=2, hidden_dims=()),
    "planar flow and mixture prior": dict(flow="planar", flow_steps=2, prior="mog", prior_components=2),
    "network variance, IWAE": dict(likelihood="gaussian", variance="network", min_obs_logvar=-2.0, iwae_k=2),
}


def _batch(vae, rng, n=4):
    c = vae.config
    x = rng.random((n, c.input_dim))
    y = rng.integers(0, c.num_classes, n) if c.num_classes else None
    eps = rng.standard_normal((n, c.latent_dim) if c.iwae_k == 1 else (c.iwae_k, n, c.latent_dim))
    return x, y, eps


@pytest.mark.parametrize("name", DESIGNS)
def test_every_gradient_of_the_full_loss_matches_finite_differences(name, rng):
    vae = VAE(**{**SMALL, **DESIGNS[name]})
    for k in vae.params:                        # L = 0 and the identity flows at the start: check away from them
        if k in ("L.W", "L.b", "flow.W") or k.endswith((".Wm", ".Ws")):
            vae.params[k][...] = 0.5 * rng.standard_normal(vae.params[k].shape)
    x, y, eps = _batch(vae, rng)
    vae.loss(x, y=y, eps=eps)
    grads = {k: g.copy() for k, g in vae.backward().items()}
    # a planar step's u_hat has 1 / ||w||^2: a small w (as initialised) curves the loss, so a finer step
    h = 3e-4 if vae.config.flow == "planar" else 1e-3
    errors = check_model_gradients(lambda: float(vae.loss(x, y=y, eps=eps)["loss"]), vae.params, grads, h=h)
    assert max(errors.values()) < 1e-7, errors


def test_each_design_point_has_its_own_parameters():
    names = {k: set(VAE(**{**SMALL, **v}).params) for k, v in DESIGNS.items()}
    assert {"L.W", "L.b"} <= names["full covariance"]
    assert {"flow.W", "flow.b"} <= names["planar flow"]
    assert {"flow.0.W", "flow.2.V", "flow.1.bs"} <= names["IAF"] and "flow.W" not in names["IAF"]
    assert {"prior.means", "prior.logvars", "prior.logits"} <= names["mixture prior"]
    assert "prior.pseudo_inputs" in names["VampPrior"]
    assert VAE(**{**SMALL, **DESIGNS["network variance"]}).params["decoder.1.b"].shape == (12,)   # mean, log sigma^2


def test_a_zero_lower_factor_is_the_diagonal_posterior(rng):
    """The full-covariance VAE starts at L = 0, where it computes exactly the diagonal VAE's loss and gradients."""
    full, diag = VAE(**SMALL, posterior="full"), VAE(**SMALL)
    assert not full.params["L.W"].any() and not full.params["L.b"].any()
    for k in diag.params:
        full.params[k][...] = diag.params[k]
    x, _, eps = _batch(diag, rng)
    a, b = full.loss(x, eps=eps), diag.loss(x, eps=eps)
    np.testing.assert_allclose(float(a["loss"]), float(b["loss"]), rtol=1e-13)
    ga, gb = full.backward(), diag.backward()
    for k in gb:
        np.testing.assert_allclose(ga[k], gb[k], rtol=1e-10, atol=1e-13)


def test_a_planar_flow_starts_as_the_identity(rng):
    """u_hat = 0 at the start: z_K = z_0 and log q_K = log q_0, the diagonal VAE's sample and density."""
    vae = VAE(**SMALL, flow="planar", flow_steps=4)
    x, _, eps = _batch(vae, rng)
    s = vae.latent.posterior.stats(vae._hidden(x), train=False)
    z, log_q, _ = vae.latent.posterior.sample(s, eps)
    np.testing.assert_allclose(z, s["mu"] + np.exp(0.5 * s["logvar"]) * eps, atol=1e-14)
    np.testing.assert_allclose(log_q, -0.5 * (eps * eps + s["logvar"] + np.log(2 * np.pi)).sum(axis=1), atol=1e-12)


def test_the_monte_carlo_kl_averages_to_the_closed_form(rng):
    """Under N(0, I), E_q[log q(z|x) - log p(z)] is the closed-form KL (mixture prior with one N(0, I) component)."""
    vae = VAE(**SMALL, prior="mog", prior_components=1)
    vae.params["prior.means"][...] = 0
    x = rng.random((3, 6))
    mu, logvar = vae.encode(x)
    eps = rng.standard_normal((100_000, 3, 3))
    _, kl = vae.latent.sample_kl(vae._hidden(x), eps)
    np.testing.assert_allclose(kl.mean(axis=0), kl_divergence(mu, logvar), rtol=0.02, atol=0.01)


def test_the_vamp_prior_gradient_reaches_the_pseudo_inputs(rng):
    vae = VAE(**SMALL, prior="vamp", prior_components=3)
    x, _, eps = _batch(vae, rng)
    vae.loss(x, eps=eps)
    assert np.abs(vae.backward()["prior.pseudo_inputs"]).max() > 1e-6


def test_init_pseudo_inputs_takes_distinct_training_images(rng):
    vae = VAE(**SMALL, prior="vamp", prior_components=4)
    x = rng.random((10, 6))
    vae.init_pseudo_inputs(x)
    u = vae.params["prior.pseudo_inputs"]
    rows = [int(np.flatnonzero((x == r).all(axis=1))[0]) for r in u]
    assert len(set(rows)) == 4
    with pytest.raises(DataError, match="4 pseudo-inputs need at least as many"):
        vae.init_pseudo_inputs(x[:3])
    with pytest.raises(ConfigError, match="needs prior='vamp'"):
        VAE(**SMALL).init_pseudo_inputs(x)


@pytest.mark.parametrize("name", ["full covariance", "planar flow", "IAF", "mixture prior", "VampPrior",
                                  "network variance"])
def test_log_likelihood_is_finite_and_above_the_elbo(name, rng):
    """log p(x) >= ELBO: the k-sample bound of the model's own q and p is at least the one-sample mean."""
    vae = VAE(**{**SMALL, **DESIGNS[name]})
    x = rng.random((5, 6))
    ll = vae.log_likelihood(x, k=2000, seed=0)
    elbo = -np.mean([float(vae.loss(x)["loss"]) for _ in range(200)])
    assert np.all(np.isfinite(ll)) and ll.mean() > elbo - 0.05


def test_samples_come_from_the_learned_prior(rng):
    """MoG: a prior with one component far away puts every sample's z there (decoded: the same image)."""
    vae = VAE(**SMALL, prior="mog", prior_components=2)
    vae.params["prior.means"][...] = [[9.0, 9.0, 9.0], [-9.0, -9.0, -9.0]]
    vae.params["prior.logits"][...] = [50.0, 0.0]
    vae.params["prior.logvars"][...] = -20.0
    x = vae.sample(5)
    np.testing.assert_allclose(x, np.repeat(vae.decode(np.full((1, 3), 9.0)), 5, axis=0), atol=1e-6)
    assert VAE(**SMALL, prior="vamp", prior_components=3).sample(4).shape == (4, 6)


@pytest.mark.parametrize("name", ["full covariance", "planar flow", "IAF", "VampPrior", "network variance"])
def test_a_checkpoint_rebuilds_the_same_model(name, tmp_path, rng):
    vae = VAE(**{**SMALL, **DESIGNS[name]})
    vae.save(tmp_path / "m.npz")
    back = VAE.load(tmp_path / "m.npz")
    x, y, eps = _batch(vae, rng)
    assert back.config == vae.config
    assert float(back.loss(x, eps=eps)["loss"]) == float(vae.loss(x, eps=eps)["loss"])
    np.testing.assert_array_equal(back.reconstruct(x), vae.reconstruct(x))


def test_the_network_variance_floor_is_soft_and_the_unfloored_model_runs_away(rng):
    """The soft floor keeps log sigma^2 > f; without it a constant pixel's variance only shrinks."""
    vae = VAE(**SMALL, likelihood="gaussian", variance="network", min_obs_logvar=-2.0)
    vae.decoder.layers[-1].params["b"][6:] = -50.0
    x = rng.random((4, 6))
    out = vae.loss(x)
    assert np.isfinite(float(out["loss"])) and float(out["recon"]) > 0.5 * 6 * (-2.0 + np.log(2 * np.pi)) - 1e-9
    free = VAE(**SMALL, likelihood="gaussian", variance="network")
    x = np.zeros((4, 6))                                        # every pixel the same: r -> 0 is reachable
    free.loss(x)
    assert np.all(free.backward()["decoder.1.b"][6:] > 0)       # d loss / d log sigma^2 > 0: it keeps falling


@pytest.mark.parametrize("kwargs, match", [
    (dict(posterior="cholesky"), r"posterior must be one of \('diagonal', 'full'\)"),
    (dict(flow="radial"), r"flow must be None or one of \('planar', 'iaf'\)"),
    (dict(flow="planar", flow_steps=0), "flow_steps .* must be an integer >= 1"),
    (dict(flow="planar", posterior="full"), "use posterior='diagonal'"),
    (dict(prior="gmm"), r"prior must be one of \('standard', 'mog', 'vamp'\)"),
    (dict(prior="mog", prior_components=0), "prior_components .* must be an integer >= 1"),
    (dict(prior_components=5), "needs prior='mog' or 'vamp'"),
    (dict(prior="vamp", num_classes=10), "cannot be combined with num_classes"),
    (dict(variance="learned"), r"variance must be one of \('fixed', 'pixel', 'network'\)"),
    (dict(variance="network"), "needs likelihood='gaussian'"),
    (dict(likelihood="gaussian", variance="network", learn_variance=True), "two different models"),
    (dict(free_bits=0.5, prior="mog"), "free_bits .* needs posterior='diagonal', no flow and prior='standard'"),
    (dict(free_bits=0.5, flow="planar"), "free_bits"),
    (dict(free_bits=0.5, posterior="full"), "free_bits"),
])
def test_bad_design_points_raise_clear_errors(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        VAE(**{**SMALL, **kwargs})
