"""End to end: train on a real MNIST subset and require the test loss to fall by a stated margin."""
import numpy as np
import pytest

from minivae import VAE
from minivae.datasets import load_dataset
from minivae.train import evaluate, fit


@pytest.mark.slow
def test_training_on_real_mnist_lowers_the_test_loss():
    train, test = load_dataset("mnist", "train"), load_dataset("mnist", "test")
    x_train, x_test = train.x[:10_000], test.x[:2_000]
    vae = VAE(hidden_dims=(256,), latent_dim=16, seed=0)
    before = evaluate(vae, x_test)["loss"]
    history = fit(vae, x_train, x_test, epochs=2, batch_size=100, lr=2e-3, progress=False)
    after = history[-1]["test_loss"]
    # an untrained VAE scores about 540 nats; two epochs on 10k images reach about 140
    assert before > 500
    assert after < 155, f"test -ELBO after 2 epochs: {after:.1f} nats"
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert all(np.isfinite(h["test_kl"]) and h["test_kl"] > 1 for h in history)
