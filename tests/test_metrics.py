"""The sample-quality yardstick: the classifier (gradients, fit, the shipped weights), the Fréchet distance
against known answers, FID / class entropy / Inception score on real, corrupted and collapsed images, and
``python -m minivae evaluate --samples`` on VAE and GAN checkpoints.

The shipped classifier and the reference statistics of the test set are computed once for the module.
"""
import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minivae import VAE, metrics
from minivae.models.checkpoint import checkpoint_kind
from minivae.cli import main
from minivae.datasets import load_dataset
from minivae.errors import CheckpointError, ConfigError, DataError, ShapeError
from minivae.models.gan import GAN
from minivae.gradcheck import check_model_gradients
from minivae.metrics import Classifier, frechet_distance, gaussian_statistics
from minivae.metrics import weights
from minivae.metrics.scores import entropy
from minivae.metrics.weights import CLASSIFIER_PATH, CLASSIFIER_SHA256, save_classifier, sha256_of, train_classifier
from minivae.train import TrainConfig, fit

TOL = 1e-7
LN10 = math.log(10)


@pytest.fixture(scope="module", autouse=True)
def fresh_cache():
    """The module starts and ends with an empty yardstick cache (nothing global outlives it)."""
    metrics.clear_cache()
    yield
    metrics.clear_cache()


@pytest.fixture(scope="module")
def test_set():
    return load_dataset("mnist", "test")


@pytest.fixture(scope="module")
def clf():
    return metrics.load_classifier()


def tiny(dtype="float64", activation="relu", seed=0):
    return Classifier(input_dim=6, hidden_dims=(5, 4), num_classes=3, activation=activation, dtype=dtype, seed=seed)


# ------------------------------------------------------------------ the classifier
@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_classifier_gradients_match_finite_differences_in_float64(activation):
    c = tiny(activation=activation)
    x, y = np.random.default_rng(1).random((7, 6)), np.array([0, 1, 2, 0, 1, 2, 1])
    c.loss(x, y)
    grads = {k: v.copy() for k, v in c.backward().items()}
    errors = check_model_gradients(lambda: c.loss(x, y)["loss"], c.params, grads)
    assert set(errors) == {f"net.{i}.{p}" for i in range(3) for p in "Wb"}
    assert max(errors.values()) < TOL, errors


def test_features_logits_and_probabilities_by_hand_from_the_weights():
    c = tiny()
    x = np.random.default_rng(2).random((5, 6))
    P = c.params
    h = np.maximum(np.maximum(x @ P["net.0.W"] + P["net.0.b"], 0) @ P["net.1.W"] + P["net.1.b"], 0)
    a = h @ P["net.2.W"] + P["net.2.b"]
    np.testing.assert_allclose(c.features(x), h, rtol=1e-12)
    np.testing.assert_allclose(c.head(h), a, rtol=1e-12)
    np.testing.assert_allclose(c.logits(x), a, rtol=1e-12)
    np.testing.assert_allclose(c.predict_proba(x), np.exp(a) / np.exp(a).sum(1, keepdims=True), rtol=1e-12)
    assert np.array_equal(c.predict(x), a.argmax(1))
    out = c.loss(x, a.argmax(1))
    assert float(out["error"]) == 0.0 and c.accuracy(x, a.argmax(1)) == 1.0


def test_the_parameters_are_one_flat_buffer():
    c = tiny()
    base = c.params["net.0.W"].base
    assert base is not None and all(v.base is base for v in c.params.values())
    assert all(c.net.layers[i].params["W"] is c.params[f"net.{i}.W"] for i in range(3))


def test_fit_trains_it_like_every_model(test_set):
    train = load_dataset("mnist", "train")
    c = Classifier(hidden_dims=(32,), seed=0)
    history = fit(c, train.x[:2000], test_set.x[:500], train.y[:2000], test_set.y[:500],
                  config=TrainConfig(epochs=2, batch_size=100, lr=3e-3), progress=False)
    assert set(history[-1]) >= {"train_loss", "train_error", "test_loss", "test_error"}
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert history[-1]["test_error"] < 0.2                            # chance is 0.9
    assert history[-1]["test_error"] == pytest.approx(1 - c.accuracy(test_set.x[:500], test_set.y[:500]))


def test_a_classifier_needs_labels_and_a_forward_pass_first():
    c = tiny()
    with pytest.raises(DataError, match="labels"):
        fit(c, np.random.default_rng(0).random((10, 6)), config=TrainConfig(epochs=1), progress=False)
    with pytest.raises(DataError, match="labels"):
        c.loss(np.zeros((2, 6)), None)
    with pytest.raises(Exception, match="forward pass first"):
        tiny().backward()
    with pytest.raises(ConfigError, match="hidden_dims"):
        Classifier(hidden_dims=())


def test_save_and_load_keep_kind_and_outputs(tmp_path):
    c = tiny(dtype="float32", seed=3)
    path = c.save(tmp_path / "c.npz")
    assert checkpoint_kind(path) == "classifier"
    back = Classifier.load(path)
    assert back.hidden_dims == (5, 4) and back.dtype == np.float32
    x = np.random.default_rng(0).random((4, 6))
    assert np.array_equal(back.logits(x), c.logits(x))
    with pytest.raises(CheckpointError, match="a CLASSIFIER checkpoint, not a VAE one"):
        VAE.load(path)


def test_the_shipped_classifier_reaches_98_percent_on_the_test_set(clf, test_set):
    assert clf.accuracy(test_set.x, test_set.y) >= 0.98
    assert clf.kind == "classifier" and clf.hidden_dims[-1] == clf.features(test_set.x[:2]).shape[1]


def test_load_classifier_is_cached_and_the_cache_resets(clf, tmp_path):
    assert metrics.load_classifier() is clf
    metrics.clear_cache()
    again = metrics.load_classifier()
    assert again is not clf and np.array_equal(again.params["net.0.W"], clf.params["net.0.W"])
    with pytest.raises(CheckpointError, match="python -m minivae classifier"):
        metrics.load_classifier(tmp_path / "none.npz")


# ------------------------------------------------------------ the Fréchet distance
def random_cov(rng, d, rank=None):
    A = rng.standard_normal((d, rank or d))
    return A @ A.T


def test_frechet_distance_of_1d_gaussians_is_mean_and_std_differences_squared():
    assert frechet_distance([1.0], [[4.0]], [-2.0], [[0.25]]) == pytest.approx(3**2 + (2 - 0.5) ** 2, rel=1e-12)


def test_frechet_distance_of_diagonal_and_of_commuting_covariances(rng):
    a, b = rng.random(5) + 0.1, rng.random(5) + 0.1
    mu1, mu2 = rng.standard_normal(5), rng.standard_normal(5)
    expected = ((mu1 - mu2) ** 2).sum() + ((np.sqrt(a) - np.sqrt(b)) ** 2).sum()
    assert frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(expected, rel=1e-10)
    Q = np.linalg.qr(rng.standard_normal((5, 5)))[0]                   # same eigenvectors: C1 C2 = C2 C1
    C1, C2 = Q @ np.diag(a) @ Q.T, Q @ np.diag(b) @ Q.T
    assert frechet_distance(mu1, (C1 + C1.T) / 2, mu2, (C2 + C2.T) / 2) == pytest.approx(expected, rel=1e-9)
    d = 7                                                              # N(0, I) vs N(0, 4 I): d (2 - 1)^2
    assert frechet_distance(np.zeros(d), np.eye(d), np.zeros(d), 4 * np.eye(d)) == pytest.approx(d, rel=1e-12)


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 6), st.integers(0, 2**31 - 1))
def test_frechet_distance_matches_the_eigenvalues_of_c1_c2(d, seed):
    """Oracle: Tr((C1 C2)^{1/2}) = sum sqrt(eig(C1 C2)) (real, >= 0: C1 C2 is similar to a PSD matrix)."""
    rng = np.random.default_rng(seed)
    C1, C2 = random_cov(rng, d), random_cov(rng, d, rank=max(1, d - 1))   # C2 may be singular
    mu1, mu2 = rng.standard_normal(d), rng.standard_normal(d)
    eig = np.clip(np.linalg.eigvals(C1 @ C2).real, 0, None)
    oracle = ((mu1 - mu2) ** 2).sum() + np.trace(C1) + np.trace(C2) - 2 * np.sqrt(eig).sum()
    got = frechet_distance(mu1, C1, mu2, C2)
    assert got == pytest.approx(oracle, rel=1e-6, abs=1e-8 * (np.trace(C1) + np.trace(C2)))
    # symmetric; to ~sqrt(machine eps) where a covariance is singular (sqrt is steep at 0)
    assert got == pytest.approx(frechet_distance(mu2, C2, mu1, C1), rel=1e-6, abs=1e-8 * (np.trace(C1) + np.trace(C2)))
    assert got >= 0 and frechet_distance(mu1, C1, mu1, C1) <= 1e-8 * np.trace(C1)


def test_a_zero_covariance_leaves_the_mean_term_and_the_other_trace(rng):
    C = random_cov(rng, 4)
    mu = rng.standard_normal(4)
    assert frechet_distance(np.zeros(4), np.zeros((4, 4)), mu, C) == pytest.approx(mu @ mu + np.trace(C), rel=1e-12)


@pytest.mark.parametrize("args, error, match", [
    ((np.zeros(3), np.eye(3), np.zeros(2), np.eye(2)), ShapeError, "same space"),
    ((np.zeros(3), np.eye(2), np.zeros(3), np.eye(3)), ShapeError, r"cov1 must have shape \(3, 3\)"),
    ((np.zeros((3, 1)), np.eye(3), np.zeros(3), np.eye(3)), ShapeError, "mu1 must be a vector"),
    ((np.zeros(2), np.array([[1.0, np.nan], [np.nan, 1]]), np.zeros(2), np.eye(2)), DataError, "cov1 has 2 non-finite"),
    ((np.zeros(2), np.eye(2), np.zeros(2), np.array([[1.0, 0.5], [0.0, 1]])), DataError, "cov2 is not symmetric"),
])
def test_bad_gaussians_are_clear_errors(args, error, match):
    with pytest.raises(error, match=match):
        frechet_distance(*args)


def test_gaussian_statistics_are_the_mean_and_the_unbiased_covariance(rng):
    h = rng.standard_normal((20, 3)).astype(np.float32)
    mu, C = gaussian_statistics(h)
    assert mu.dtype == C.dtype == np.float64
    np.testing.assert_allclose(mu, h.astype(np.float64).mean(0), rtol=1e-12)
    np.testing.assert_allclose(C, np.cov(h.astype(np.float64), rowvar=False), rtol=1e-12)
    with pytest.raises(ShapeError, match="N >= 2"):
        gaussian_statistics(h[:1])


# ------------------------------------------------------------ the yardstick on images
def test_fid_of_the_test_set_against_itself_is_zero(test_set, clf):
    assert metrics.fid(test_set.x) < 1e-6


def test_fid_grows_as_the_images_are_corrupted(test_set):
    rng = np.random.default_rng(0)
    x = test_set.x[:1000]
    noise = rng.standard_normal(x.shape).astype(np.float32)
    fids = [metrics.fid(np.clip(x + s * noise, 0, 1)) for s in (0.0, 0.1, 0.2, 0.4, 0.8)]
    assert all(a < b for a, b in zip(fids, fids[1:])), fids


def test_class_entropy_is_zero_for_one_digit_and_ln10_for_the_test_set(test_set, clf):
    threes = test_set.x[test_set.y == 3]
    assert metrics.class_entropy(threes) < 0.15                        # ~1.5% of them are not seen as 3s
    predicted_one = test_set.x[clf.predict(test_set.x) == 1]
    assert metrics.class_entropy(predicted_one) == 0.0
    assert abs(metrics.class_entropy(test_set.x) - LN10) < 0.005


def test_class_entropy_and_inception_score_by_hand():
    log_p = np.log(np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.6, 0.4]]))   # predicted 0, 0, 1, 0
    assert metrics.class_entropy_of(log_p) == pytest.approx(-(0.75 * np.log(0.75) + 0.25 * np.log(0.25)))
    p = np.exp(log_p)
    p_y = p.mean(0)
    assert metrics.inception_score_of(log_p) == pytest.approx(np.exp((p * np.log(p / p_y)).sum(1).mean()))
    confident = np.log(np.eye(4) * (1 - 3e-12) + 1e-12)               # one sure class per sample, all 4 seen
    assert metrics.inception_score_of(confident) == pytest.approx(4, rel=1e-9)
    assert metrics.inception_score_of(np.log(np.full((5, 4), 0.25))) == pytest.approx(1.0)


@settings(max_examples=50, deadline=None)
@given(st.integers(1, 30), st.integers(2, 10), st.integers(0, 2**31 - 1), st.floats(0.1, 30))
def test_the_inception_score_lies_between_1_and_the_number_of_classes(n, c, seed, scale):
    a = np.random.default_rng(seed).standard_normal((n, c)) * scale
    log_p = a - a.max(1, keepdims=True) - np.log(np.exp(a - a.max(1, keepdims=True)).sum(1, keepdims=True))
    s = metrics.inception_score_of(log_p)
    assert 1.0 <= s <= c * (1 + 1e-9)
    assert s <= math.exp(entropy(np.exp(log_p).mean(0))) * (1 + 1e-9)      # exp I(y; x) <= exp H(p(y))


def test_the_inception_score_is_in_1_10_and_high_for_real_digits(test_set):
    rng = np.random.default_rng(0)
    real = metrics.inception_score(test_set.x)
    noise = metrics.inception_score(rng.random((500, 784), dtype=np.float32))
    mean_image = metrics.inception_score(np.repeat(test_set.x.mean(0, keepdims=True), 50, 0))
    assert 9 < real <= 10 and 1 <= noise < 3 and mean_image == pytest.approx(1.0, abs=1e-9)


def test_the_real_data_floor_beats_noise_and_agrees_with_its_parts(test_set):
    floor = metrics.real_data_floor(n=2000)
    noise = metrics.sample_quality(np.random.default_rng(0).random((2000, 784), dtype=np.float32))
    assert set(floor) == {"fid", "class_entropy", "inception_score", "n", "classifier_sha256"} and floor["n"] == 2000
    assert floor["classifier_sha256"] == CLASSIFIER_SHA256                   # the hash of what scored them
    assert floor["fid"] < 10 < 100 < noise["fid"]
    assert floor["class_entropy"] > 2.28 > noise["class_entropy"]
    assert floor["inception_score"] > 9 > noise["inception_score"]
    x = test_set.x[:300]
    q = metrics.sample_quality(x)
    assert q == {"fid": metrics.fid(x), "class_entropy": metrics.class_entropy(x),
                 "inception_score": metrics.inception_score(x), "n": 300, "classifier_sha256": CLASSIFIER_SHA256}


@pytest.mark.parametrize("images, error, match", [
    (np.zeros((5, 783), np.float32), ShapeError, r"\(N, 784\)"),
    (np.zeros((1, 784), np.float32), ShapeError, "N >= 2"),
    (np.zeros(784, np.float32), ShapeError, r"\(N, 784\)"),
    (np.full((3, 784), 1.5, np.float32), DataError, r"\[0, 1\]"),
    (np.full((3, 784), -0.1, np.float32), DataError, r"\[0, 1\]"),
    (np.where(np.eye(3, 784) > 0, np.nan, 0.5).astype(np.float32), DataError, "3 non-finite"),
    (np.zeros((3, 784), np.uint8), DataError, "divide by 255"),
])
def test_bad_images_are_clear_errors(images, error, match, clf):
    for score in (metrics.fid, metrics.class_entropy, metrics.inception_score, metrics.sample_quality):
        with pytest.raises(error, match=match):
            score(images)


def test_bad_options_are_clear_errors(test_set):
    with pytest.raises(ConfigError, match="reference must be one of"):
        metrics.fid(test_set.x[:10], reference="val")
    with pytest.raises(ConfigError, match=r"n must be an integer in \[2, 60000\]"):
        metrics.real_data_floor(n=1)


# ------------------------------------------------------------ the command line
def assert_same_scores(got, want):
    """The same figures (to 1e-12) from the same classifier (its SHA-256, a string: compared exactly)."""
    assert got.keys() == want.keys() and got["classifier_sha256"] == want["classifier_sha256"]
    numbers = [k for k in want if k != "classifier_sha256"]
    assert [got[k] for k in numbers] == pytest.approx([want[k] for k in numbers], rel=1e-12)


def test_evaluate_scores_a_vae_checkpoint_on_its_prior_samples(tmp_path, capsys):
    vae = VAE(hidden_dims=(16,), latent_dim=2, seed=0)
    path = vae.save(tmp_path / "vae.npz")
    out = tmp_path / "ev.json"
    assert main(["evaluate", str(path), "--k", "1", "--n", "20", "--samples", "200", "--json", str(out)]) == 0
    res = json.loads(out.read_text())
    assert {"test_elbo", "test_nll", "active_units"} <= set(res) and res["kind"] == "vae"
    q = res["sample_quality"]
    assert q["n"] == 200 and q["fid"] > 0 and 0 <= q["class_entropy"] <= LN10 and 1 <= q["inception_score"] <= 10
    vae.rng = vae.backend.default_rng(0)                               # the samples --seed 0 draws
    assert_same_scores(q, metrics.sample_quality(np.clip(vae.sample(200), 0, 1)))
    assert "FID" in capsys.readouterr().out


def test_evaluate_scores_a_gan_checkpoint_on_samples_only(tmp_path, capsys):
    gan = GAN(noise_dim=4, generator_dims=(16,), discriminator_dims=(8,), seed=1)
    path = gan.save(tmp_path / "gan.npz")
    out = tmp_path / "ev.json"
    assert main(["evaluate", str(path), "--samples", "300", "--seed", "5", "--json", str(out)]) == 0
    res = json.loads(out.read_text())
    assert res["kind"] == "gan" and "test_elbo" not in res
    gan.rng = gan.backend.default_rng(5)
    assert_same_scores(res["sample_quality"], metrics.sample_quality(gan.sample(300)))
    assert "FID" in capsys.readouterr().out
    assert main(["evaluate", str(path)]) == 2                          # a GAN has nothing else to score
    assert "--samples N" in capsys.readouterr().err
    assert main(["evaluate", str(path), "--samples", "10", "--figure", str(tmp_path / "f.png")]) == 2
    assert "a GAN checkpoint has no KL per dimension" in capsys.readouterr().err


def test_evaluate_scores_a_vaegan_checkpoint_through_its_encoder_and_decoder(tmp_path):
    """The pixel -ELBO and NLL of a VAE-GAN: those of its inner VAE, which the same command gives for a VAE."""
    from minivae.models.vaegan import VAEGAN
    model = VAEGAN(hidden_dims=(16,), latent_dim=2, discriminator_dims=(8,), seed=2)
    path, out, ref = model.save(tmp_path / "vg.npz"), tmp_path / "vg.json", tmp_path / "ref.json"
    assert main(["evaluate", str(path), "--k", "2", "--n", "20", "--json", str(out)]) == 0
    assert main(["evaluate", str(model.vae.save(tmp_path / "inner.npz")), "--k", "2", "--n", "20",
                 "--json", str(ref)]) == 0
    res, want = json.loads(out.read_text()), json.loads(ref.read_text())
    assert res["kind"] == "vaegan" and want["kind"] == "vae"
    assert res["test_elbo"] == pytest.approx(want["test_elbo"], rel=1e-12)
    assert res["test_nll"] == pytest.approx(want["test_nll"], rel=1e-12)


def test_evaluate_refuses_too_few_samples_and_other_kinds(tmp_path, capsys):
    path = VAE(hidden_dims=(8,), latent_dim=2).save(tmp_path / "vae.npz")
    assert main(["evaluate", str(path), "--k", "1", "--n", "5", "--samples", "1"]) == 2
    assert "--samples must be an integer >= 2" in capsys.readouterr().err
    clf_path = tiny(dtype="float32").save(tmp_path / "clf.npz")
    assert main(["evaluate", str(clf_path)]) == 2
    assert "'classifier' checkpoint" in capsys.readouterr().err


def test_the_classifier_command_trains_saves_and_reports(tmp_path, capsys):
    out = tmp_path / "clf.npz"
    assert main(["classifier", "--out", str(out), "--train-size", "500", "--epochs", "1", "--hidden-dims", "16",
                 "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "test accuracy" in printed and "--train-size 500" in printed
    c = metrics.load_classifier(out)
    assert c.hidden_dims == (16,)
    acc = float(printed.split("test accuracy ")[1].split("%")[0]) / 100
    test = load_dataset("mnist", "test")
    assert acc == pytest.approx(c.accuracy(test.x, test.y), abs=5e-5)


# ------------------------------------------------------------ the shipped weights, kept safe
def test_the_shipped_weights_have_their_recorded_hash():
    assert sha256_of(CLASSIFIER_PATH) == CLASSIFIER_SHA256


def test_changed_shipped_weights_are_refused_in_one_line_that_says_how_to_regenerate_them(tmp_path, monkeypatch):
    changed = tmp_path / "mnist_classifier.npz"
    data = bytearray(CLASSIFIER_PATH.read_bytes())
    data[-100] ^= 0xFF                                                     # one byte of the weights
    changed.write_bytes(bytes(data))
    monkeypatch.setattr(metrics.quality, "CLASSIFIER_PATH", changed.resolve())
    metrics.clear_cache()
    with pytest.raises(CheckpointError) as info:
        metrics.load_classifier()
    message = str(info.value)
    assert "\n" not in message and "SHA-256" in message and weights.REGENERATE in message
    metrics.clear_cache()


def test_a_classifier_trained_with_the_commands_defaults_leaves_the_shipped_weights_alone(tmp_path):
    before = sha256_of(CLASSIFIER_PATH)
    clf, history, accuracy, seconds = train_classifier(hidden_dims=(16,), epochs=1, train_size=500, progress=False)
    assert len(history) == 1 and 0 < accuracy <= 1 and sha256_of(CLASSIFIER_PATH) == before
    with pytest.raises(ConfigError, match=r"^--out .*mnist_classifier\.npz: inside the installed minivae package"):
        save_classifier(clf, CLASSIFIER_PATH)
    with pytest.raises(ConfigError, match="inside the installed minivae package"):
        save_classifier(clf, CLASSIFIER_PATH.parent.parent / "elsewhere.npz")
    assert sha256_of(CLASSIFIER_PATH) == before and not (CLASSIFIER_PATH.parent.parent / "elsewhere.npz").exists()
    path, digest = save_classifier(clf, tmp_path / "clf.npz")
    assert digest == sha256_of(path) and metrics.load_classifier(path).sha256 == digest


def test_replacing_weights_inside_the_package_takes_an_explicit_request(tmp_path, monkeypatch):
    package = tmp_path / "minivae"
    package.mkdir()
    monkeypatch.setattr(weights, "PACKAGE_DIR", package.resolve())
    clf = tiny(dtype="float32")
    with pytest.raises(ConfigError, match="inside the installed minivae package"):
        save_classifier(clf, package / "metrics" / "mnist_classifier.npz")
    (package / "metrics").mkdir()
    save_classifier(clf, package / "metrics" / "mnist_classifier.npz", replace_shipped=True)
    assert Classifier.load(package / "metrics" / "mnist_classifier.npz").hidden_dims == clf.hidden_dims


TINY_BUDGET = ["--train-size", "300", "--epochs", "1", "--hidden-dims", "16", "--quiet"]


def test_the_classifier_command_with_its_default_out_leaves_the_shipped_weights_alone(tmp_path, monkeypatch, capsys):
    before = sha256_of(CLASSIFIER_PATH)
    monkeypatch.chdir(tmp_path)
    assert main(["classifier", *TINY_BUDGET]) == 0                      # no --out: the default
    written = tmp_path / "runs" / "classifier" / "mnist_classifier.npz"
    assert sha256_of(CLASSIFIER_PATH) == before == CLASSIFIER_SHA256
    assert f"(SHA-256 {sha256_of(written)})" in capsys.readouterr().out
    mtime = written.stat().st_mtime_ns
    assert main(["classifier", *TINY_BUDGET]) == 2                      # a second run keeps the first's weights ...
    assert "already there; pass --overwrite" in capsys.readouterr().err and written.stat().st_mtime_ns == mtime
    assert main(["classifier", *TINY_BUDGET, "--overwrite"]) == 0        # ... unless asked


def test_an_out_inside_the_package_is_refused_in_one_line_before_training(capsys):
    assert main(["classifier", "--out", str(CLASSIFIER_PATH), *TINY_BUDGET]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith(f"error: --out {CLASSIFIER_PATH}: inside the installed minivae package")
    assert len(captured.err.strip().splitlines()) == 1 and "test accuracy" not in captured.out
    assert weights.REGENERATE in captured.err and sha256_of(CLASSIFIER_PATH) == CLASSIFIER_SHA256


def test_regenerating_the_shipped_weights_is_the_one_documented_command(tmp_path, monkeypatch, capsys):
    assert main(["classifier", "--help"]) == 0
    assert weights.REGENERATE in capsys.readouterr().out                # the help and the library say the same
    assert "--replace-shipped" in weights.REGENERATE
    shipped = tmp_path / "minivae" / "metrics" / "mnist_classifier.npz"
    shipped.parent.mkdir(parents=True)
    monkeypatch.setattr(weights, "PACKAGE_DIR", shipped.parent.parent.resolve())
    monkeypatch.setattr(weights, "CLASSIFIER_PATH", shipped.resolve())
    assert main(["classifier", "--replace-shipped", "--out", str(tmp_path / "x.npz"), *TINY_BUDGET]) == 2
    assert "leave out --out" in capsys.readouterr().err
    assert main(["classifier", "--replace-shipped", *TINY_BUDGET]) == 0
    out = capsys.readouterr().out
    assert f"set CLASSIFIER_SHA256 in minivae/metrics/weights.py to {sha256_of(shipped)}" in out


def test_every_fid_the_commands_write_carries_the_sha256_of_the_classifier_that_scored_it(tmp_path):
    path = VAE(hidden_dims=(16,), latent_dim=2, seed=0).save(tmp_path / "vae.npz", {"dataset": "mnist", "seed": 0})
    ev, cmp = tmp_path / "ev.json", tmp_path / "cmp.json"
    assert main(["evaluate", str(path), "--k", "1", "--n", "10", "--samples", "30", "--quiet", "--json", str(ev)]) == 0
    assert json.loads(ev.read_text())["sample_quality"]["classifier_sha256"] == CLASSIFIER_SHA256
    assert main(["compare", str(path), "--samples", "30", "--k", "0", "--quiet", "--json", str(cmp)]) == 0
    assert json.loads(cmp.read_text())["rows"][0]["classifier_sha256"] == CLASSIFIER_SHA256
    run = tmp_path / "vaegan"
    assert main(["vaegan", "--train-size", "64", "--test-size", "20", "--epochs", "1", "--hidden-dims", "8",
                 "--discriminator-dims", "8", "--samples", "30", "--quiet", "--no-figures", "--out", str(run)]) == 0
    final = json.loads((run / "metrics.json").read_text())["final"]
    assert final["samples"]["classifier_sha256"] == final["reconstructions"]["classifier_sha256"] == CLASSIFIER_SHA256
    run = tmp_path / "gan"
    assert main(["gan", "--train-size", "64", "--test-size", "20", "--epochs", "1", "--generator-dims", "8",
                 "--discriminator-dims", "8", "--samples", "30", "--quiet", "--no-figures", "--out", str(run)]) == 0
    assert json.loads((run / "metrics.json").read_text())["final"]["classifier_sha256"] == CLASSIFIER_SHA256
