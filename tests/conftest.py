"""Shared fixtures: float64 random data for gradient checks."""
import numpy as np
import pytest


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def away_from_zero(rng, shape, margin=0.1):
    """Standard normal values with |v| >= margin (keeps ReLU kinks out of finite differences)."""
    v = rng.standard_normal(shape)
    return np.where(v >= 0, v + margin, v - margin)
