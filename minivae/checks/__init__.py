"""Checks for the lesson exercises: your function against the library's reference.

Every ``check_*`` function takes the function you wrote, calls it on random
float64 inputs of several shapes (and on a few special inputs), and compares
each output with the reference implementation in minivae. The convention,
the same for every check:

* it prints one line per case; for a wrong output it says which output is
  wrong, by how much (max absolute and relative error), where (the index of
  the worst element, with the input values there), and, when your output
  matches a common mistake (a missing factor 1/2, sigma where sigma^2
  belongs, a flipped sign...), which one;
* it returns ``True`` when every case passes and ``False`` otherwise. It
  never raises because an answer is wrong, so in a notebook write
  ``assert check_kl_divergence(kl_divergence)``;
* an exception raised by your function propagates unchanged, with a note
  naming the check and the input shapes (``NotImplementedError`` tells you an
  exercise is still open).

Outputs are compared with :func:`minivae.gradcheck.rel_error`; a correct
float64 implementation is within about 1e-12 of the reference, so the
tolerance ``RTOL = 1e-7`` flags every real mistake.

The package also holds two small helpers the lessons use: :func:`quick_mode`
(``MINIVAE_QUICK=1`` shortens training for CI) and :func:`figure_path`.

Layout: :mod:`.compare` holds the machinery every check shares (calling,
comparing, spotting common mistakes, reporting); the checks themselves are
grouped by topic:

* :mod:`.sampling`: the effective sample size of importance weights (lesson 1);
* :mod:`.elbo`: the ELBO's reconstruction term of a linear-Gaussian decoder (lesson 3);
* :mod:`.gaussian`: KL, reparameterization;
* :mod:`.decoder`: dense backward, likelihoods;
* :mod:`.bounds`: log weights, IWAE, the Rényi bound (lesson 22), the two-layer log weight (lesson 21);
* :mod:`.linear`: the optimum of the 1-1-1 linear beta-VAE (lesson 7);
* :mod:`.conditional`: CVAE;
* :mod:`.attributes`: an attribute vector balanced within classes (lesson 11);
* :mod:`.amortization`: the ELBO's gap split into approximation and amortization (lesson 19);
* :mod:`.collapse`: free bits, active units;
* :mod:`.gan`: the optimal discriminator, the non-saturating gradient, W_1 in
  1-D, the gradient penalty of a linear critic;
* :mod:`.vaegan`: the VAE-GAN's feature-matching loss;
* :mod:`.flows`: a planar flow step's log-determinant, the KL of a
  full-covariance posterior; MADE's masks and an IAF step (lesson 20);
* :mod:`.discrete`: the Gumbel-softmax sample and its backward, the
  categorical KL, nearest codes;
* :mod:`.mmd`: the unbiased MMD^2 estimate, the KL term split into I_q(x; z)
  and KL(q(z) || p(z)).

:mod:`.lessons` holds the two helpers. Import them all from here.
"""
from .amortization import check_gap_parts
from .attributes import check_attribute_vector
from .bounds import check_iwae_bound, check_log_weights, check_renyi_bound, check_two_layer_log_weight
from .collapse import check_active_units, check_free_bits_kl
from .compare import RTOL, SHAPES  # noqa: F401  (SHAPES: not in __all__, importable as before)
from .conditional import check_condition_input
from .decoder import (check_bernoulli_backward, check_bernoulli_log_likelihood, check_dense_backward,
                      check_gaussian_log_likelihood)
from .elbo import check_expected_log_likelihood
from .discrete import (check_categorical_kl, check_gumbel_softmax, check_gumbel_softmax_backward, check_nearest_codes)
from .flows import check_full_kl, check_iaf_step, check_made_masks, check_planar_log_det
from .gan import (check_linear_critic_penalty, check_ns_generator_gradient, check_optimal_discriminator,
                  check_wasserstein_1d)
from .gaussian import (check_kl_backward, check_kl_divergence, check_reparameterize, check_reparameterize_backward)
from .lessons import figure_path, quick_mode
from .linear import check_linear_vae_optimum
from .mmd import check_kl_decomposition, check_mmd
from .sampling import check_effective_sample_size
from .vaegan import check_feature_matching_loss

__all__ = [
    "RTOL", "quick_mode", "figure_path",
    "check_kl_divergence", "check_kl_backward",
    "check_reparameterize", "check_reparameterize_backward",
    "check_dense_backward", "check_bernoulli_log_likelihood", "check_bernoulli_backward",
    "check_gaussian_log_likelihood", "check_log_weights", "check_iwae_bound", "check_renyi_bound",
    "check_condition_input", "check_free_bits_kl", "check_active_units",
    "check_optimal_discriminator", "check_ns_generator_gradient", "check_wasserstein_1d",
    "check_linear_critic_penalty", "check_feature_matching_loss",
    "check_planar_log_det", "check_full_kl", "check_made_masks", "check_iaf_step",
    "check_gumbel_softmax", "check_gumbel_softmax_backward", "check_categorical_kl", "check_nearest_codes",
    "check_mmd", "check_kl_decomposition",
    "check_effective_sample_size", "check_expected_log_likelihood", "check_linear_vae_optimum",
    "check_attribute_vector", "check_gap_parts",
    "check_two_layer_log_weight",
]
