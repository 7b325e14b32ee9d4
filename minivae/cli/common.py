"""What every training command shares: its data flags and its output folder."""
from __future__ import annotations

import os

from ..datasets import DATASETS
from ..errors import ConfigError


def add_data_args(parser, test_help="use only the first N test images", binarize=False):
    """The data group of a command: --dataset, --data-dir, [--binarize], --train-size, --test-size."""
    d = parser.add_argument_group("data")
    d.add_argument("--dataset", choices=DATASETS, default="mnist")
    d.add_argument("--data-dir", default=None, help="folder with the four IDX files (Fashion-MNIST)")
    if binarize:
        d.add_argument("--binarize", action="store_true", help="dynamic binarization of every training batch")
    d.add_argument("--train-size", type=int, default=None, help="use only the first N training images")
    d.add_argument("--test-size", type=int, default=None, help=test_help)
    return d


def make_out_dir(path):
    """Make the folder ``--out`` names (and its parents); ConfigError, naming it, if that fails."""
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"--out {path}: cannot make the folder ({exc.strerror or exc})") from exc
