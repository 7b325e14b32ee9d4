"""Moved: a model's inputs are checked where they belong (images: :meth:`minivae.models.base.Model.as_images`;
labels: :mod:`minivae.models.labels`; noise and codes: :class:`minivae.models.latent.Latent`).

Only ``positive_int`` is still imported from here (by :mod:`minivae.metrics.classifier`); it lives in
:mod:`minivae.errors`. Delete this module once nothing imports it.
"""
from ..errors import positive_int  # noqa: F401
