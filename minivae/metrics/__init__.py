"""A sample-quality yardstick for any generator of MNIST digits, on a classifier built from minivae's layers.

    classifier.py  Classifier: an MLP p(y|x) trained by ``fit``; its penultimate features
    fid.py         frechet_distance (NumPy only), gaussian_statistics
    scores.py      class entropy and Inception score of class probabilities
    quality.py     fid, class_entropy, inception_score, sample_quality, real_data_floor of images;
                   load_classifier (the shipped weights, minivae/metrics/mnist_classifier.npz), clear_cache;
                   draw_samples (any generator's images, a batch at a time); each takes progress=
    weights.py     the shipped weights' SHA-256 (checked on load, recorded with every score),
                   train_classifier, save_classifier (never inside the package unless asked)

The shipped classifier (98.49% test accuracy) scores, 10,000 images each, FID against the test set:

    images                                FID     class entropy   Inception score
    MNIST training images (the floor)     1.25    2.3009          9.91
    MNIST test images (themselves)        0       2.3008          9.76
    uniform noise U(0, 1)                 479.4   0.396           1.29
    the mean training image, repeated     533.9   0               1.00

Typical use::

    from minivae.metrics import sample_quality
    sample_quality(gan.sample(10000))   # {"fid": ..., "class_entropy": ..., "inception_score": ..., "n": 10000}
"""
from .classifier import Classifier
from .fid import frechet_distance, gaussian_statistics
from .quality import (CLASSIFIER_PATH, check_images, class_entropy, clear_cache, draw_samples, fid, inception_score,
                      load_classifier, real_data_floor, reference_statistics, sample_quality)
from .weights import CLASSIFIER_SHA256, check_shipped, save_classifier, train_classifier
from .scores import class_entropy_of, inception_score_of

__all__ = ["Classifier", "frechet_distance", "gaussian_statistics", "fid", "class_entropy", "inception_score",
           "sample_quality", "real_data_floor", "load_classifier", "clear_cache", "reference_statistics",
           "check_images", "class_entropy_of", "inception_score_of", "CLASSIFIER_PATH", "CLASSIFIER_SHA256", "check_shipped",
           "save_classifier", "train_classifier", "draw_samples"]
