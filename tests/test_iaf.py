"""Inverse autoregressive flows: MADE's masks, triangular Jacobians, the flow's density, gradients, training, CLI."""
import numpy as np
import pytest

from minivae import VAE
from minivae.bench import nll
from minivae.cli import main
from minivae.errors import ConfigError
from minivae.gradcheck import numerical_gradient, rel_error
from minivae.iaf import (MADE_KEYS, SIGMA_BIAS, iaf_flow, iaf_step, iaf_step_backward, made_backward, made_forward,
                         made_masks)

from tests.conftest import assert_same_run

TOL = 1e-7
SMALL = dict(input_dim=6, hidden_dims=(5,), latent_dim=4, activation="tanh", dtype="float64", seed=1)


def random_made(rng, m=4, c=3, hidden=5, reverse=False):
    """A MADE's parameters away from the identity start (every weight random), and its masks."""
    p = {"W": rng.standard_normal((m, hidden)), "V": rng.standard_normal((c, hidden)), "b": rng.standard_normal(hidden),
         "Wm": rng.standard_normal((hidden, m)), "bm": rng.standard_normal(m),
         "Ws": rng.standard_normal((hidden, m)), "bs": rng.standard_normal(m)}
    return p, made_masks(m, hidden, reverse)


def order(m, reverse):
    return np.arange(m)[::-1] if reverse else np.arange(m)


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("m, hidden", [(4, 3), (5, 12), (1, 2), (2, 1)])
def test_the_masks_let_output_i_see_exactly_the_inputs_before_it(m, hidden, reverse):
    """(M_in M_out)[j, i] > 0 iff j comes before i in the step's order: autoregressive, and nothing left out."""
    m_in, m_out = made_masks(m, hidden, reverse)
    paths = m_in @ m_out                                              # (M, M): input j -> output i
    rank = np.empty(m, int)
    rank[order(m, reverse)] = np.arange(m)                           # place of each variable in the order
    np.testing.assert_array_equal(paths > 0, rank[:, None] < rank[None, :])


def test_a_made_too_narrow_for_its_masks_is_refused():
    with pytest.raises(ConfigError, match="at least 4"):
        made_masks(5, 3)


def test_made_backward_matches_finite_differences(rng):
    p, masks = random_made(rng)
    z, h = rng.standard_normal((2, 3, 4)), rng.standard_normal((3, 3))      # S = 2 samples of N = 3 examples
    gm, gs = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 3, 4))

    def loss():
        m, s, _ = made_forward(z, h, p, masks)
        return np.sum(m * gm) + np.sum(s * gs)

    dz, dh, g = made_backward(gm, gs, made_forward(z, h, p, masks)[2])
    for name, x, dx in [("z", z, dz), ("h", h, dh)] + [(k, p[k], g[k]) for k in MADE_KEYS]:
        assert dx.shape == x.shape, name
        assert rel_error(dx, numerical_gradient(loss, x, h=1e-4, order=4)) < TOL, name


@pytest.mark.parametrize("reverse", [False, True])
def test_iaf_step_backward_matches_finite_differences(reverse, rng):
    """L = sum(z' * G) + sum(log_det * g): every input and parameter against order-4 central differences."""
    p, masks = random_made(rng, reverse=reverse)
    z, h = rng.standard_normal((2, 3, 4)), rng.standard_normal((3, 3))
    G, g_ld = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 3))
    G_copy = G.copy()

    def loss():
        z1, ld, _ = iaf_step(z, h, p, masks)
        return np.sum(z1 * G) + np.sum(ld * g_ld)

    dz, dh, g = iaf_step_backward(G, g_ld, iaf_step(z, h, p, masks)[2])
    np.testing.assert_array_equal(G, G_copy)                                 # the upstream gradient is not written
    for name, x, dx in [("z", z, dz), ("h", h, dh)] + [(k, p[k], g[k]) for k in MADE_KEYS]:
        assert rel_error(dx, numerical_gradient(loss, x, h=1e-4, order=4)) < TOL, name


def jacobian(f, z, h=1e-5):
    """d f(z) / dz (M, M) of one point z (M,) by central differences: J[i, j] = d f_i / d z_j."""
    cols = [(f(z + h * e) - f(z - h * e)) / (2 * h) for e in np.eye(z.size)]
    return np.stack(cols, axis=1)


@pytest.mark.parametrize("reverse, zero_part", [(False, lambda J: np.triu(J, 1)), (True, lambda J: np.tril(J, -1))],
                         ids=["even step", "odd step"])
def test_each_step_has_a_triangular_jacobian_whose_log_det_is_the_sum_of_log_sigma(reverse, zero_part, rng):
    """Even steps: lower-triangular (nothing above the diagonal); odd steps, in the reversed order: upper."""
    p, masks = random_made(rng, m=5, hidden=8, reverse=reverse)
    for _ in range(5):                                                       # random points and contexts
        z, h = rng.standard_normal(5), rng.standard_normal((1, 3))
        J = jacobian(lambda v: iaf_step(v[None, None], h, p, masks)[0][0, 0], z)
        np.testing.assert_array_equal(zero_part(J), 0)                           # exactly: no path at all
        _, ld, (z0, m, sigma, _) = iaf_step(z[None, None], h, p, masks)
        np.testing.assert_allclose(np.diag(J), sigma[0, 0], rtol=1e-8)
        np.testing.assert_allclose(np.linalg.slogdet(J)[1], ld[0, 0], rtol=1e-8)
        assert 0 < sigma.min() and sigma.max() < 1


def iaf_vae(rng, **kw):
    vae = VAE(**{**SMALL, "flow": "iaf", "flow_steps": 3, "iaf_hidden": 6, **kw})
    for k in vae.params:                                                     # away from the identity start
        if k.startswith("flow."):
            vae.params[k][...] = 0.5 * rng.standard_normal(vae.params[k].shape)
    return vae


def test_log_q_of_the_flow_is_the_change_of_variables_density(rng):
    """log q(z_K|x) = log N(z_0; mu, sigma^2) - log|det dz_K/dz_0|, the determinant of the numerical Jacobian."""
    vae = iaf_vae(rng)
    x = rng.random((1, 6))
    s = vae.latent.posterior.stats(vae._hidden(x), train=False)
    sigma0 = np.exp(0.5 * s["logvar"][0])
    for _ in range(3):
        eps = rng.standard_normal((1, 4))
        zK, log_q, _ = vae.latent.posterior.sample(s, eps)
        z0 = s["mu"][0] + sigma0 * eps[0]
        flow = lambda v: iaf_flow(v[None, None], s["context"], vae.latent.posterior._iaf_steps())[0][0, 0]  # noqa
        np.testing.assert_allclose(zK[0], flow(z0), rtol=1e-12)
        log_q0 = -0.5 * np.sum(((z0 - s["mu"][0]) / sigma0) ** 2 + s["logvar"][0] + np.log(2 * np.pi))
        np.testing.assert_allclose(log_q[0], log_q0 - np.linalg.slogdet(jacobian(flow, z0))[1], rtol=1e-8)


def test_the_flow_starts_within_two_percent_of_the_identity(rng):
    """W_m = W_s = 0, b_s = 4 at the start: z_K = sigmoid(4)^K z_0 and log q_K = log q_0 - K M log sigmoid(4)."""
    vae = VAE(**SMALL, flow="iaf", flow_steps=3, iaf_hidden=6)
    x, eps = rng.random((5, 6)), rng.standard_normal((5, 4))
    s = vae.latent.posterior.stats(vae._hidden(x), train=False)
    z, log_q, _ = vae.latent.posterior.sample(s, eps)
    z0 = s["mu"] + np.exp(0.5 * s["logvar"]) * eps
    shrink = 1 / (1 + np.exp(-SIGMA_BIAS))
    np.testing.assert_allclose(z, shrink ** 3 * z0, rtol=1e-12)
    assert shrink ** 3 > 0.94
    log_q0 = -0.5 * (eps * eps + s["logvar"] + np.log(2 * np.pi)).sum(axis=1)
    np.testing.assert_allclose(log_q, log_q0 - 3 * 4 * np.log(shrink), rtol=1e-12)


@pytest.mark.parametrize("kw", [{}, {"iwae_k": 3}, {"prior": "vamp", "prior_components": 2}, {"hidden_dims": ()}],
                         ids=["ELBO", "IWAE", "VampPrior", "linear VAE"])
def test_every_gradient_of_a_vae_with_an_iaf_matches_finite_differences(kw, rng):
    from minivae.gradcheck import check_model_gradients
    vae = iaf_vae(rng, **kw)
    x, k = rng.random((4, 6)), vae.config.iwae_k
    eps = rng.standard_normal((4, 4) if k == 1 else (k, 4, 4))
    vae.loss(x, eps=eps)
    grads = {n: g.copy() for n, g in vae.backward().items()}
    errors = check_model_gradients(lambda: float(vae.loss(x, eps=eps)["loss"]), vae.params, grads)
    assert max(errors.values()) < TOL, errors


def test_the_mades_are_model_parameters_named_by_step():
    vae = VAE(**SMALL, flow="iaf", flow_steps=2, iaf_hidden=5)
    flow = {k for k in vae.params if k.startswith("flow.")}
    assert flow == {f"flow.{t}.{k}" for t in range(2) for k in MADE_KEYS}
    assert vae.params["flow.1.V"].shape == (5, 5) and vae.params["flow.0.W"].shape == (4, 5)
    assert VAE(**SMALL, flow="iaf").config.iaf_hidden == 16                   # default: 4 latent_dim


@pytest.mark.parametrize("kwargs, match", [
    (dict(iaf_hidden=8), "iaf_hidden is the width of an IAF's MADE: it needs flow='iaf', got flow=None"),
    (dict(flow="planar", iaf_hidden=8), "needs flow='iaf'"),
    (dict(flow="iaf", iaf_hidden=2), r"must be at least latent_dim - 1 = 3 .*got 2"),
    (dict(flow="iaf", iaf_hidden=0), "iaf_hidden .* must be an integer >= 1"),
    (dict(flow="iaf", posterior="full"), "use posterior='diagonal'"),
])
def test_bad_iaf_options_raise_clear_errors(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        VAE(**{**SMALL, **kwargs})


TINY = ["--train-size", "300", "--test-size", "100", "--hidden-dims", "16", "--latent-dim", "4", "--batch-size",
        "50", "--quiet", "--no-figures"]


@pytest.mark.parametrize("flags, match", [
    (["--iaf-hidden", "8"], "--iaf-hidden is the width of an IAF's MADE: it needs --flow iaf, got --flow None"),
    (["--flow", "iaf", "--iaf-hidden", "2"], "--iaf-hidden (H, the MADE's width) must be at least --latent-dim - 1"),
])
def test_bad_iaf_flags_are_one_line_errors(flags, match, tmp_path, capsys):
    assert main(["train", *TINY, *flags, "--out", str(tmp_path / "bad")]) == 2
    err = capsys.readouterr().err
    assert match in err and "Traceback" not in err
    assert nll.main(["--train-size", "100", "--epochs", "1", "--time-budget", "0", *flags, "--out",
                     str(tmp_path / "b"), "--quiet"]) == 2


def test_a_short_mnist_training_lowers_the_loss_and_resumes_exactly(tmp_path):
    """2 epochs of --flow iaf on 1,000 MNIST images lower the test loss; stopped at 1 and resumed, the same run."""
    flags = [*TINY, "--train-size", "1000", "--flow", "iaf", "--flow-steps", "2", "--iaf-hidden", "8"]
    assert main(["train", *flags, "--epochs", "2", "--out", str(tmp_path / "a")]) == 0
    assert main(["train", *flags, "--epochs", "1", "--out", str(tmp_path / "b")]) == 0
    assert main(["train", "--resume", str(tmp_path / "b"), "--epochs", "2", "--quiet", "--no-figures"]) == 0
    assert_same_run(tmp_path / "a", tmp_path / "b")
    import json
    hist = json.loads((tmp_path / "a" / "metrics.json").read_text())["history"]
    assert hist[-1]["train_loss"] < hist[0]["train_loss"] - 20
    back = VAE.load(tmp_path / "a" / "model.npz")
    assert back.config.flow == "iaf" and back.config.iaf_hidden == 8
    assert back.params["flow.1.bs"].dtype == np.float32
