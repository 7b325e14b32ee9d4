"""Nothing silent: NaN gradients stop an optimizer step, non-finite weights are never saved, bad numbers are refused.

Each bad value raises the documented error with a message that says what was
wrong and what was expected; checkpoints get the mode the umask gives.
"""
import os

import numpy as np
import pytest

from minivae import SGD, VAE, Adam
from minivae.errors import CheckpointError, ConfigError, DataError, NonFiniteGradientError
from minivae.train import TrainConfig

SMALL = dict(input_dim=6, hidden_dims=(5,), latent_dim=2)


def stepped(opt_cls, **kw):
    vae = VAE(**SMALL, seed=1)
    opt = opt_cls(vae.params, **kw)
    x = np.random.default_rng(0).random((8, 6)).astype(np.float32)
    vae.loss(x)
    opt.step(vae.backward())                                   # moments that are not zero
    vae.loss(x)
    vae.backward()
    return vae, opt


@pytest.mark.parametrize("opt_cls, kw", [(Adam, {}), (SGD, {"momentum": 0.9})])
def test_a_non_finite_gradient_stops_the_step_and_changes_nothing(opt_cls, kw):
    vae, opt = stepped(opt_cls, **kw)
    vae.grads["decoder.0.b"][3] = np.nan
    vae.grads["decoder.1.W"][0, 0] = np.inf
    before = {k: v.copy() for k, v in vae.params.items()}
    state = {k: np.array(v, copy=True) for k, v in opt.state_dict().items()}
    with pytest.raises(NonFiniteGradientError, match=r"'decoder\.0\.b' has 1 non-finite values \(the first, nan, "
                                                     r"at index \(3,\)\).*left unchanged"):
        opt.step(vae.grads)
    assert all(np.array_equal(before[k], v) for k, v in vae.params.items())
    assert all(np.array_equal(state[k], v) for k, v in opt.state_dict().items())   # moments and t


def test_without_the_check_a_nan_gradient_spreads_to_the_weights():
    """What the check prevents (and why the CuPy default, which skips it, relies on fit's NaN guard)."""
    vae, opt = stepped(Adam, check_finite=False)
    vae.grads["mu.b"][0] = np.nan
    opt.step(vae.grads)
    assert np.isnan(vae.params["mu.b"][0])


def test_large_finite_gradients_pass_even_if_their_squared_norm_overflows():
    vae, opt = stepped(Adam)
    vae.grads["decoder.1.W"][...] = 1e19                        # each square finite in float32, their sum not
    opt.step(vae.grads)
    assert all(np.isfinite(v).all() for v in vae.params.values())


def test_save_refuses_non_finite_weights_and_keeps_the_previous_file(tmp_path):
    vae = VAE(**SMALL)
    path = tmp_path / "model.npz"
    vae.save(path)
    before = path.read_bytes()
    vae.params["logvar.W"][1, 0] = np.nan
    with pytest.raises(CheckpointError, match=r"logvar\.W has 1 non-finite values.*kept"):
        vae.save(path)
    assert path.read_bytes() == before and len(os.listdir(tmp_path)) == 1      # no temporary file left


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600)])
def test_checkpoints_get_the_mode_the_umask_gives(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        VAE(**SMALL).save(tmp_path / "model.npz")
    finally:
        os.umask(old)
    assert os.stat(tmp_path / "model.npz").st_mode & 0o777 == mode


@pytest.mark.parametrize("make, match", [
    (lambda: VAE(**SMALL, beta=float("inf")), "beta must be a finite number >= 0, got inf"),
    (lambda: VAE(**SMALL, free_bits=float("inf")), "free_bits .* must be a finite number >= 0, got inf"),
    (lambda: VAE(**SMALL, likelihood="gaussian", obs_logvar=float("nan")), "obs_logvar .* finite number, got nan"),
    (lambda: VAE(**SMALL, likelihood="gaussian", obs_logvar=float("inf")), "obs_logvar .* finite number, got inf"),
    (lambda: Adam(VAE(**SMALL).params, lr=float("inf")), "learning rate must be a finite number > 0, got inf"),
    (lambda: Adam(VAE(**SMALL).params, eps=float("nan")), "eps must be a finite number > 0, got nan"),
    (lambda: SGD(VAE(**SMALL).params, momentum=float("nan")), r"momentum must be a finite number in \[0, 1\)"),
    (lambda: TrainConfig(lr=float("inf")), "lr must be a finite number > 0, got inf"),
    (lambda: TrainConfig(denoise=float("inf")), r"denoise \(noise std\) must be a finite number >= 0, got inf"),
    (lambda: TrainConfig(clip_norm=float("nan")), "clip_norm must be a finite number > 0"),
    (lambda: TrainConfig(warmup_epochs=float("inf")), "warmup_epochs must be a finite number >= 0"),
    (lambda: TrainConfig(time_budget=float("nan")), "time_budget must be a finite number > 0 seconds"),
])
def test_numbers_without_meaning_are_refused(make, match):
    with pytest.raises(ConfigError, match=match):
        make()


def test_non_finite_eps_and_z_are_refused():
    vae = VAE(**SMALL)
    x = np.full((3, 6), 0.5, dtype=np.float32)
    eps = np.zeros((3, 2), dtype=np.float32)
    eps[2, 1] = np.nan
    with pytest.raises(DataError, match=r"eps has 1 non-finite values \(the first, nan, at index \(2, 1\)\)"):
        vae.loss(x, eps=eps)
    with pytest.raises(DataError, match="z has 1 non-finite"):
        vae.decode(eps)
    assert np.isfinite(float(vae.loss(x, eps=np.zeros((3, 2)))["loss"]))


def test_a_failed_write_is_a_clear_error_and_keeps_the_previous_checkpoint(tmp_path):
    vae = VAE(**SMALL)
    path = tmp_path / "model.npz"
    vae.save(path)
    before = path.read_bytes()
    os.chmod(tmp_path, 0o555)                                   # read-only folder (root ignores it: see below)
    try:
        if os.access(tmp_path, os.W_OK):
            pytest.skip("root writes to read-only folders; the next test covers a folder that cannot be made")
        with pytest.raises(CheckpointError, match="cannot write .* the file there, if any, is kept"):
            vae.save(path)
    finally:
        os.chmod(tmp_path, 0o755)
    assert path.read_bytes() == before


def test_saving_under_a_file_where_a_folder_should_be_is_a_clear_error(tmp_path):
    (tmp_path / "not-a-folder").write_text("")
    with pytest.raises(CheckpointError, match="cannot write"):
        VAE(**SMALL).save(tmp_path / "not-a-folder" / "model.npz")
