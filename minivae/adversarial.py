"""The GAN losses of the lectures, each forward with its backward, as functions of the discriminator's raw score.

The discriminator (critic) ends in one linear unit: its raw score s = D_raw(x).
For the minimax and non-saturating GAN, D(x) = sigmoid(s) is the probability
that x is real; LSGAN and WGAN use s itself. Every loss below is written as a
quantity to *minimize*, as a batch mean, and returns its gradient with respect
to the scores: ``(loss, ds_real, ds_fake)`` for the discriminator's loss,
``(loss, ds_fake)`` for the generator's. s_r = scores of N real images, s_f =
scores of M generated ones.

With softplus(t) = log(1 + e^t) = -log sigmoid(-t), the cross-entropies are
stable for any score: -log D = softplus(-s), -log(1 - D) = softplus(s), and
d softplus(t)/dt = sigmoid(t).

=========  ==========================================  =====================================
loss       discriminator minimizes                     generator minimizes
=========  ==========================================  =====================================
minimax    -E log D(x) - E log(1 - D(G(z)))            E log(1 - D(G(z)))
ns         same as minimax                             -E log D(G(z))
lsgan      1/2 E (s_r - b)^2 + 1/2 E (s_f - a)^2        1/2 E (s_f - c)^2
wgan       -(E s_r - E s_f)                             -E s_f
=========  ==========================================  =====================================

(BLG561E notes, "GAN loss used in practice", "WGAN loss", "LS-GAN"; Goodfellow
et al. 2014, Mao et al. 2017 with a = 0, b = c = 1, Arjovsky et al. 2017.)
WGAN-GP's critic loss is WGAN's plus the gradient penalty of
:mod:`minivae.gradient_penalty`.
"""
from __future__ import annotations

from .activations import sigmoid, softplus
from .backend import array_module
from .errors import ConfigError

LOSSES = ("minimax", "ns", "lsgan", "wgan", "wgan-gp")
LSGAN_A, LSGAN_B, LSGAN_C = 0.0, 1.0, 1.0        # fake label, real label, the generator's target


def bce_discriminator(s_real, s_fake):
    """L_D = 1/N sum softplus(-s_r) + 1/M sum softplus(s_f)  (= -E log D(x) - E log(1 - D(G(z)))).

    dL/ds_r = -sigmoid(-s_r) / N = (D(x) - 1) / N,   dL/ds_f = sigmoid(s_f) / M = D(G(z)) / M.
    """
    n, m = len(s_real), len(s_fake)
    loss = softplus(-s_real).sum() / n + softplus(s_fake).sum() / m
    return loss, (sigmoid(s_real) - 1) / n, sigmoid(s_fake) / m


def minimax_generator(s_fake):
    """The saturating loss L_G = 1/M sum log(1 - D(G(z))) = -1/M sum softplus(s_f).

    dL/ds_f = -sigmoid(s_f) / M = -D(G(z)) / M: vanishes when D rejects the fakes (D(G(z)) -> 0),
    which is when the generator most needs a gradient.
    """
    m = len(s_fake)
    return -softplus(s_fake).sum() / m, -sigmoid(s_fake) / m


def ns_generator(s_fake):
    """The non-saturating loss L_G = -1/M sum log D(G(z)) = 1/M sum softplus(-s_f).

    dL/ds_f = (D(G(z)) - 1) / M: close to -1/M when D rejects the fakes. Against the minimax gradient,
    the ratio is (1 - D) / D, the same sign (both push s_f up).
    """
    m = len(s_fake)
    return softplus(-s_fake).sum() / m, (sigmoid(s_fake) - 1) / m


def lsgan_discriminator(s_real, s_fake, a=LSGAN_A, b=LSGAN_B):
    """L_D = 1/2 E (s_r - b)^2 + 1/2 E (s_f - a)^2;  dL/ds_r = (s_r - b) / N,  dL/ds_f = (s_f - a) / M."""
    n, m = len(s_real), len(s_fake)
    r, f = s_real - b, s_fake - a
    return 0.5 * (r * r).sum() / n + 0.5 * (f * f).sum() / m, r / n, f / m


def lsgan_generator(s_fake, c=LSGAN_C):
    """L_G = 1/2 E (s_f - c)^2;  dL/ds_f = (s_f - c) / M."""
    m = len(s_fake)
    f = s_fake - c
    return 0.5 * (f * f).sum() / m, f / m


def wgan_critic(s_real, s_fake):
    """L_D = -(E s_r - E s_f): the critic maximizes its estimate of the Wasserstein-1 distance.

    dL/ds_r = -1/N,  dL/ds_f = 1/M. (Meaningful only for a 1-Lipschitz critic: clipping or the penalty.)
    """
    xp = array_module(s_real)
    n, m = len(s_real), len(s_fake)
    loss = s_fake.sum() / m - s_real.sum() / n
    return loss, xp.full_like(s_real, -1.0 / n), xp.full_like(s_fake, 1.0 / m)


def wgan_generator(s_fake):
    """L_G = -E s_f (only this term of the critic's objective depends on G);  dL/ds_f = -1/M."""
    m = len(s_fake)
    return -s_fake.sum() / m, array_module(s_fake).full_like(s_fake, -1.0 / m)


_DISCRIMINATOR = {"minimax": bce_discriminator, "ns": bce_discriminator, "lsgan": lsgan_discriminator,
                  "wgan": wgan_critic, "wgan-gp": wgan_critic}
_GENERATOR = {"minimax": minimax_generator, "ns": ns_generator, "lsgan": lsgan_generator,
              "wgan": wgan_generator, "wgan-gp": wgan_generator}


def check_loss(name):
    """``name`` itself, or ConfigError naming the losses there are."""
    if name not in LOSSES:
        raise ConfigError(f"unknown GAN loss {name!r}; expected one of {list(LOSSES)}")
    return name


def discriminator_loss(name, s_real, s_fake):
    """The discriminator's (critic's) loss ``name`` and its gradients: (loss, ds_real, ds_fake)."""
    return _DISCRIMINATOR[check_loss(name)](s_real, s_fake)


def generator_loss(name, s_fake):
    """The generator's loss ``name`` and its gradient: (loss, ds_fake)."""
    return _GENERATOR[check_loss(name)](s_fake)


def probability(name, s):
    """What D(x) means for ``name``: sigmoid(s), a probability, for minimax/ns; the raw score otherwise."""
    return sigmoid(s) if check_loss(name) in ("minimax", "ns") else s
