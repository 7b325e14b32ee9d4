"""The VAE family (issue 3): gradient checks of every variant's full loss, the
IWAE bound and log p(x) estimate against closed forms, diagnostics, bad input."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from minivae import VAE, iwae
from minivae.errors import CheckpointError, ConfigError, DataError
from minivae.kl import kl_divergence, kl_per_dim
from tests.conftest import data, grad_errors

LOG_2PI = math.log(2 * math.pi)
SMALL = dict(input_dim=6, hidden_dims=(5,), latent_dim=3, activation="tanh", dtype="float64")


def eps_for(vae, n, seed=2):
    c = vae.config
    shape = (n, c.latent_dim) if c.iwae_k == 1 else (c.iwae_k, n, c.latent_dim)
    return np.random.default_rng(seed).standard_normal(shape)


# ------------------------------------------------------------------ gradient checks
VARIANTS = {
    "beta": dict(beta=3.5),
    "beta-zero (warm-up start)": dict(beta=0.0),
    "conditional": dict(num_classes=4),
    "gaussian-fixed-variance": dict(likelihood="gaussian", obs_logvar=-1.3),
    "gaussian-learned-variance": dict(likelihood="gaussian", learn_variance=True, obs_logvar=0.4),
    "iwae-2": dict(iwae_k=2),
    "iwae-3-beta": dict(iwae_k=3, beta=0.6),
    "iwae-4-conditional": dict(iwae_k=4, num_classes=3),
    "iwae-5-gaussian-learned": dict(iwae_k=5, likelihood="gaussian", learn_variance=True),
    "conditional-gaussian-learned": dict(num_classes=2, likelihood="gaussian", learn_variance=True),
    "linear-gaussian": dict(hidden_dims=(), activation="identity", likelihood="gaussian", learn_variance=True),
}


@pytest.mark.parametrize("name", list(VARIANTS))
def test_full_loss_gradient_check_of_every_variant(name):
    vae = VAE(**{**SMALL, **VARIANTS[name]}, seed=3)
    x = data()
    y = np.arange(7) % vae.config.num_classes if vae.config.conditional else None
    errors = grad_errors(vae, x, eps_for(vae, 7), y=y)
    assert set(errors) == set(vae.params)
    assert max(errors.values()) < 1e-7, errors


@pytest.mark.parametrize("extra", [{}, dict(iwae_k=3)])
def test_denoising_target_gradient_check(extra):
    vae = VAE(**SMALL, **extra, seed=4)
    clean = data()
    noisy = np.clip(clean + 0.3 * np.random.default_rng(5).standard_normal(clean.shape), 0, 1)
    eps = eps_for(vae, 7)
    errors = grad_errors(vae, noisy, eps, target=clean)
    assert max(errors.values()) < 1e-7, errors
    # the target really is what is reconstructed: a different target, a different loss
    assert float(vae.loss(noisy, eps=eps, target=clean)["recon"]) != float(vae.loss(noisy, eps=eps)["recon"])


def free_bits_vae(n, latent_dim=4, seed=7, **kw):
    """A VAE whose free-bits floor lies strictly between its per-dimension KLs (some dims below it)."""
    cfg = dict(SMALL, latent_dim=latent_dim, **kw)
    x = data(n)
    probe = VAE(**cfg, seed=seed)
    probe.params["mu.W"][:, : latent_dim // 2] *= 4       # some dims well above, some well below the floor
    kl_j = np.sort(kl_per_dim(*probe.encode(x)).mean(axis=0))
    lam = 0.5 * (kl_j[latent_dim // 2 - 1] + kl_j[latent_dim // 2])
    vae = VAE(**cfg, free_bits=lam, seed=seed)
    vae.load_state(probe.state_arrays())
    return vae, x, lam


def test_free_bits_gradient_check_with_dims_below_the_floor():
    vae, x, lam = free_bits_vae(n=9)
    eps = eps_for(vae, 9)
    kl_j = kl_per_dim(*vae.encode(x)).mean(axis=0)
    assert (kl_j < lam).sum() == 2 and (kl_j > lam).sum() == 2
    out = vae.loss(x, eps=eps)
    recon = float(out["recon"])
    assert float(out["loss"]) == pytest.approx(recon + np.maximum(kl_j, lam).sum(), rel=1e-12)
    errors = grad_errors(vae, x, eps)
    assert max(errors.values()) < 1e-7, errors
    # below the floor a dimension gets no KL gradient: its loss gradient is the reconstruction's alone
    plain = VAE(**dict(SMALL, latent_dim=4), beta=0.0, seed=7)
    plain.load_state(vae.state_arrays())
    plain.loss(x, eps=eps)
    below = np.flatnonzero(kl_j < lam)
    np.testing.assert_allclose(vae.grads["mu.W"][:, below], plain.backward()["mu.W"][:, below], rtol=1e-12)


def test_free_bits_gradient_check_when_batch_size_equals_latent_dim():
    """The (D,) free-bits mask must not be read as a per-example (N,) weight when N == D."""
    vae, x, _ = free_bits_vae(n=4)
    errors = grad_errors(vae, x, eps_for(vae, 4))
    assert max(errors.values()) < 1e-7, errors


# ------------------------------------------------------------------ the IWAE bound
def gaussian_logpdf(z, mean, var):
    return -0.5 * (((z - mean) ** 2) / var + np.log(var) + LOG_2PI).sum(axis=-1)


def test_iwae_k1_equals_the_one_sample_monte_carlo_elbo():
    """L_1 = log p(x|z) + log p(z) - log q(z|x) at z = mu + sigma eps, from densities written out."""
    vae = VAE(**SMALL, seed=8)
    x, eps = data(), np.random.default_rng(3).standard_normal((1, 7, 3))
    mu, logvar = vae.encode(x)
    z = mu + np.exp(logvar / 2) * eps                                     # sigma = exp(logvar / 2)
    logits = vae.decoder.predict(z[0])
    log_px_z = (x * logits - np.logaddexp(0, logits)).sum(axis=-1)
    mc_elbo = log_px_z + gaussian_logpdf(z[0], 0.0, 1.0) - gaussian_logpdf(z[0], mu, np.exp(logvar))
    log_w = iwae.log_weights(log_px_z[None], z, logvar, eps)
    np.testing.assert_allclose(iwae.bound(log_w), mc_elbo, rtol=1e-12)
    # and averaged over eps, the MC ELBO is the analytic-KL ELBO that iwae_k=1 trains on
    many = np.random.default_rng(4).standard_normal((20000, 7, 3))
    zs = mu + np.exp(logvar / 2) * many
    ll = np.stack([(x * lg - np.logaddexp(0, lg)).sum(-1) for lg in vae.decoder.predict(zs.reshape(-1, 3))
                   .reshape(20000, 7, 6)[:2000]])
    mc = (ll + gaussian_logpdf(zs[:2000], 0.0, 1.0) - gaussian_logpdf(zs[:2000], mu, np.exp(logvar)))
    analytic = ll - kl_divergence(mu, logvar)
    diff = (mc - analytic).mean(axis=0)                                   # E[log p(z) - log q] = -KL
    assert np.all(np.abs(diff) < 5 * (mc - analytic).std(axis=0) / math.sqrt(2000) + 1e-12)


@settings(max_examples=50, deadline=None)
@given(arrays(np.float64, st.tuples(st.sampled_from([8, 16, 32]), st.integers(1, 4)),
              elements=st.floats(-50, 50)))
def test_iwae_bound_rises_with_k_over_nested_groups(log_w):
    """Split a pool of log-weights into groups of k = 1, 2, 4, ...: the mean L_k never falls as k doubles.

    log((A + B) / 2) >= (log A + log B) / 2 (concavity), the step of Burda et al.'s proof that
    E[L_k] is non-decreasing in k; and L_k <= log of the pool's mean weight.
    """
    pool, prev = log_w.shape[0], -np.inf
    for k in (1, 2, 4, 8):
        groups = log_w.reshape(pool // k, k, -1)                           # (groups, k, N)
        lk = np.mean([iwae.bound(g) for g in groups], axis=0)              # (N,)
        assert np.all(lk >= prev - 1e-9)
        prev = lk
    assert np.all(prev <= iwae.bound(log_w) + 1e-9)


def test_iwae_bound_increases_with_k_in_expectation_and_stays_below_log_px():
    """E[L_k] rises with k towards log p(x); here q is not the posterior, so it rises measurably:
    every k > 1 beats k = 1 by > 4 standard errors (seen: 6 to 8), and L_20 closes most of the gap."""
    vae, x, exact = linear_gaussian_model(exact_posterior=False)
    means, runs = [], {}
    for k in (1, 2, 5, 20):
        ll = runs[k] = np.array([vae.log_likelihood(x, k=k, seed=s) for s in range(300)])
        means.append((np.mean(ll, axis=0), np.std(ll, axis=0) / math.sqrt(300)))
    for k in (2, 5, 20):                               # same seeds: L_k - L_1 paired, seed by seed
        gain = runs[k] - runs[1]
        assert np.all(gain.mean(axis=0) > 4 * gain.std(axis=0) / math.sqrt(300)), k
    assert np.all(means[-1][0] - means[0][0] > 0.5 * (exact - means[0][0]))    # seen: 95% of the gap
    for (m_a, se_a), (m_b, se_b) in zip(means, means[1:]):
        assert np.all(m_a <= m_b + 3 * np.hypot(se_a, se_b))
    m20, se20 = means[-1]
    assert np.all(m20 <= exact + 3 * se20)
    # strictly: this q is not the posterior, so L_1 is visibly below log p(x)
    assert np.all(means[0][0] < exact - 0.05)


# ------------------------------------------------------- log p(x) on a linear Gaussian VAE
def linear_gaussian_model(exact_posterior, d_x=4, d_z=2, sigma2=0.5, seed=0):
    """A linear-Gaussian VAE x = z @ W + b + noise, with p(x) = N(b, W^T W + sigma2 I) in closed form.

    W's rows are orthogonal, so the true posterior p(z|x) has a diagonal covariance
    M^{-1}, M = I + W W^T / sigma2, and mean M^{-1} W (x - b) / sigma2: a linear
    encoder can be set to it exactly (then every importance weight equals p(x)),
    or, with ``exact_posterior=False``, to a shifted and wider q.
    """
    rng = np.random.default_rng(seed)
    vae = VAE(input_dim=d_x, hidden_dims=(), latent_dim=d_z, activation="identity", likelihood="gaussian",
              obs_logvar=math.log(sigma2), dtype="float64", seed=seed)
    q, _ = np.linalg.qr(rng.standard_normal((d_x, d_x)))
    W = q[:d_z] * np.array([[1.5], [0.7]])                               # (d_z, d_x), W W^T diagonal
    b = rng.standard_normal(d_x) * 0.3
    vae.params["decoder.0.W"][...] = W
    vae.params["decoder.0.b"][...] = b
    m_diag = 1 + (W * W).sum(axis=1) / sigma2                            # M is diagonal
    vae.params["mu.W"][...] = (W / sigma2).T / m_diag                    # mu = (x - b) W^T / sigma2 M^-1
    vae.params["mu.b"][...] = -(b @ (W / sigma2).T) / m_diag
    vae.params["logvar.W"][...] = 0
    vae.params["logvar.b"][...] = -np.log(m_diag)
    if not exact_posterior:    # q off the posterior: its mean shifted, its variance wider (bounded weights)
        vae.params["mu.b"] += 0.3
        vae.params["logvar.b"] += 0.7
    x = rng.standard_normal((5, d_x))
    cov = W.T @ W + sigma2 * np.eye(d_x)
    r = x - b
    exact = -0.5 * (np.einsum("ni,ij,nj->n", r, np.linalg.inv(cov), r) + np.linalg.slogdet(cov)[1]
                    + d_x * LOG_2PI)
    return vae, x, exact


def test_log_likelihood_is_exact_with_the_true_posterior_whatever_the_chunks():
    vae, x, exact = linear_gaussian_model(exact_posterior=True)
    np.testing.assert_allclose(vae.log_likelihood(x, k=7, seed=0), exact, rtol=1e-10)
    chunked = vae.log_likelihood(x, k=50, batch_size=2, seed=1, chunk_elems=16)
    np.testing.assert_allclose(chunked, exact, rtol=1e-10)


def test_log_likelihood_matches_the_closed_form_marginal_within_mc_error():
    vae, x, exact = linear_gaussian_model(exact_posterior=False)
    est = vae.log_likelihood(x, k=5000, batch_size=2, seed=0)
    assert est.shape == (5,)
    # per-example MC error of a 5000-sample estimate here is below 0.01 nats; the bias is O(1/k)
    np.testing.assert_allclose(est, exact, atol=0.03)


def test_log_likelihood_is_stable_far_in_the_tails_and_seeded():
    vae, x, _ = linear_gaussian_model(exact_posterior=False)
    far = x * 40                                               # log weights of -400 .. -3000: exp underflows
    est = vae.log_likelihood(far, k=100, seed=3)
    assert np.all(np.isfinite(est)) and np.all(est < -400)
    np.testing.assert_array_equal(est, vae.log_likelihood(far, k=100, seed=3))


def test_log_likelihood_of_a_conditional_model_uses_the_labels():
    vae = VAE(**SMALL, num_classes=3, seed=5)
    x = data(6)
    a = vae.log_likelihood(x, k=20, y=np.zeros(6, int), seed=0)
    b = vae.log_likelihood(x, k=20, y=np.full(6, 2), seed=0)
    assert a.shape == (6,) and not np.allclose(a, b)


def test_bernoulli_evaluation_likelihood_equals_the_training_one():
    from minivae.likelihoods import bernoulli_log_likelihood
    rng = np.random.default_rng(0)
    for d in (784, 6, 7, 1):
        x, logits = rng.random((3, 5, d)), rng.standard_normal((3, 5, d)) * 40
        np.testing.assert_allclose(iwae.bernoulli_log_likelihood_eval(x, logits),
                                   bernoulli_log_likelihood(x, logits), rtol=1e-12, atol=1e-9)
    x32, l32 = (rng.random((50, 784)) < 0.3).astype(np.float32), rng.standard_normal((50, 784)).astype(np.float32)
    got = iwae.bernoulli_log_likelihood_eval(x32, l32)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, bernoulli_log_likelihood(x32.astype(float), l32.astype(float)), atol=2e-3)


# ------------------------------------------------------------------ diagnostics
def test_active_units_count_the_dimensions_whose_mean_varies_with_x():
    vae = VAE(input_dim=6, hidden_dims=(), latent_dim=5, activation="identity", dtype="float64", seed=0)
    x = data(200)
    vae.params["mu.W"][...] = 0
    vae.params["mu.W"][:, [0, 3]] = 2.0                                   # Var_x(mu_d) = 4 * 6 / 12 = 2
    vae.params["mu.W"][:, 4] = 0.05                                       # variance 0.005: below 0.01
    assert vae.active_units(x) == 2
    assert vae.active_units(x, threshold=0.001) == 3
    assert vae.active_units(x, batch_size=7) == 2
    kl = vae.kl_per_dim(x)
    np.testing.assert_allclose(kl, kl_per_dim(*vae.encode(x)).mean(axis=0), rtol=1e-12)
    assert kl.shape == (5,) and kl[0] > kl[1]


def test_latent_diagnostics_and_figure(tmp_path):
    from minivae.models.diagnostics import latent_diagnostics
    vae = VAE(**SMALL, num_classes=2, seed=1)
    x, y = data(40), np.arange(40) % 2
    diag = latent_diagnostics(vae, x, y)
    assert diag["active_units"] == int((diag["activity"] > 0.01).sum()) == vae.active_units(x, y)
    np.testing.assert_allclose(diag["kl_per_dim"], vae.kl_per_dim(x, y))
    assert diag["kl"] == pytest.approx(float(diag["kl_per_dim"].sum()))
    from minivae.figures.vae import latent_diagnostics as figure
    path = figure(diag["kl_per_dim"], diag["activity"], tmp_path / "d.png")
    assert path.stat().st_size > 1000


# ------------------------------------------------------------------ bad input
def test_bad_inputs_raise_clear_errors(tmp_path):
    with pytest.raises(ConfigError, match="iwae_k"):
        VAE(**SMALL, iwae_k=0)
    with pytest.raises(ConfigError, match="free_bits"):
        VAE(**SMALL, free_bits=-0.1)
    with pytest.raises(ConfigError, match="free_bits"):
        VAE(**SMALL, free_bits=0.5, iwae_k=3)
    vae = VAE(**SMALL, seed=0)
    for k in (0, -3, 2.5):
        with pytest.raises(ConfigError, match="k"):
            vae.log_likelihood(data(), k=k)
    with pytest.raises(ConfigError, match="conditional"):
        vae.sample(3, y=np.zeros(3, int))
    with pytest.raises(ConfigError, match="unconditional"):
        vae.loss(data(), y=np.zeros(7, int))
    cvae = VAE(**SMALL, num_classes=3, seed=0)
    with pytest.raises(DataError, match="labels"):
        cvae.loss(data())
    with pytest.raises(DataError, match=r"\[0, 3\)"):
        cvae.loss(data(), y=np.array([0, 1, 2, 3, 0, 1, 2]))
    with pytest.raises(DataError, match=r"\[0, 3\)"):
        cvae.sample(2, y=[-1, 0])
    with pytest.raises(DataError, match="labels"):
        cvae.sample(2)
    with pytest.raises(DataError, match="labels"):
        cvae.log_likelihood(data(), k=3)
    path = tmp_path / "cvae.npz"
    cvae.save(path)
    with pytest.raises(CheckpointError, match="num_classes"):
        VAE.load(path, num_classes=None)
    with pytest.raises(CheckpointError, match="num_classes"):     # the weights alone, into an unconditional model
        VAE(**SMALL, seed=0).load_state(cvae.state_arrays(), source=str(path))
    assert VAE.load(path, num_classes=3).config.num_classes == 3


def test_conditional_samples_follow_the_requested_label():
    vae = VAE(**SMALL, num_classes=3, seed=0)
    assert vae.sample(4, y=2).shape == (4, 6)
    assert vae.sample(3, y=np.array([0, 1, 2])).shape == (3, 6)
    vae.rng = np.random.default_rng(0)
    a = vae.sample(5, y=0)
    vae.rng = np.random.default_rng(0)
    b = vae.sample(5, y=1)
    assert not np.allclose(a, b)          # same z, another label: other images
