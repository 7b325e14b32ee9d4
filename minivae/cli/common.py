"""What the commands share: the flag groups (data, device, run), defined once, and where ``--out`` goes.

Each group means the same in every command; a command picks its own defaults
through the keywords. Every command's ``--out`` (a run's folder, or a file)
goes through :func:`out_folder` or :func:`out_file`, so an unusable path is
one line (``error: --out README.md: ...``) in every command.

Every training command asks :func:`run_folder` for its folder, and only it:
without ``--out`` each run gets a new folder ``runs/<command>-<time>`` (and
``runs/latest`` points to the newest); an ``--out`` that already holds a run
is refused unless ``--overwrite`` (its files are removed first) or
``--resume`` (the run goes on there). The policy itself is
:mod:`minivae.train.run_folder`'s.
"""
from __future__ import annotations

import os

from ..datasets import DATASETS
from ..errors import ConfigError
from ..train.run_folder import claim_run_folder

DTYPES = ("float32", "float64")
BACKENDS = ("numpy", "cupy")


def add_training_command(sub, name, model, about, examples):
    """The parser of the training command ``name`` (``python -m minivae NAME``), which trains a ``model``."""
    return sub.add_parser(name, help=f"train a {model} and write checkpoint, metrics and figures", epilog=examples,
                          description=f"train a {model} ({about}) and write its checkpoint, metrics.json and figures")


def add_model_args(parser, *, hidden_help="encoder hidden sizes (the decoder mirrors them)", latent_help="size of z",
                   latent_metavar=None):
    """The model group every autoencoder-shaped command starts with: --hidden-dims, --latent-dim."""
    m = parser.add_argument_group("model")
    m.add_argument("--hidden-dims", type=int, nargs="*", default=[400], metavar="H", help=hidden_help)
    m.add_argument("--latent-dim", type=int, default=20, metavar=latent_metavar, help=latent_help)
    return m


def add_data_args(parser, *, binarize=False, test_help="use only the first N test images", val_size=False):
    """The data group: --dataset, --data-dir, [--binarize], --train-size, --test-size, [--val-size]."""
    d = parser.add_argument_group("data")
    d.add_argument("--dataset", choices=DATASETS, default="mnist", help="the images to train on")
    d.add_argument("--data-dir", default=None, help="folder with the four IDX files (Fashion-MNIST)")
    if binarize:
        d.add_argument("--binarize", action="store_true",
                       help="dynamic binarization: resample each pixel ~ Bernoulli(intensity) at every batch")
    d.add_argument("--train-size", type=int, default=None, help="use only the first N training images")
    d.add_argument("--test-size", type=int, default=None, help=test_help)
    if val_size:
        d.add_argument("--val-size", type=int, default=0,
                       help="hold out the last N training images for validation (model selection)")
    return d


def add_device_args(parser, *, dtype=True, seed_help="initial weights, data order and noise"):
    """The device group: [--dtype], --backend, --seed."""
    g = parser.add_argument_group("device")
    if dtype:
        g.add_argument("--dtype", choices=DTYPES, default="float32", help="the parameters' and activations' dtype")
    g.add_argument("--backend", choices=BACKENDS, default="numpy", help="numpy (CPU) or cupy (an NVIDIA GPU)")
    g.add_argument("--seed", type=int, default=0, help=seed_help)
    return g


def add_run_args(parser, *, epochs=10, batch_size=128, batch_help="images per step"):
    """The run group of a training command: epochs, batch size, --out and how a run stops, resumes, reports."""
    command = parser.prog.rsplit(" ", 1)[-1]           # "python -m minivae gan" -> gan
    r = parser.add_argument_group("run")
    r.add_argument("--epochs", type=int, default=epochs, help="passes over the training images")
    r.add_argument("--batch-size", type=int, default=batch_size, help=batch_help)
    r.add_argument("--out", default=None, metavar="DIR",
                   help=f"the run's folder (checkpoint, metrics.json, figures); none: a new folder "
                        f"runs/{command}-<time> for each run, and runs/latest points to the newest. A folder that "
                        "already holds a run is refused unless --overwrite or --resume")
    r.add_argument("--overwrite", action="store_true",
                   help="replace the run already in --out: its files (checkpoints, metrics.json, figures) are "
                        "removed first, other files stay")
    r.add_argument("--resume", default=None, metavar="RUN",
                   help="continue the run saved in RUN (its folder, its model.npz, or runs/latest) where it "
                        "stopped (Ctrl-C, SIGTERM, a kill); --epochs N may extend it, other options must match "
                        "the run's")
    r.add_argument("--checkpoint-every", type=int, default=None, metavar="STEPS",
                   help="also write the checkpoint every STEPS steps inside an epoch (a kill loses at most that "
                        "many); none: after every epoch only")
    r.add_argument("--time-budget", type=float, default=None, metavar="SECONDS",
                   help="stop before an epoch that would end past this many seconds")
    r.add_argument("--budget-clock", choices=("wall", "cpu"), default="wall",
                   help="count --time-budget in wall-clock or this process's CPU seconds")
    r.add_argument("--quiet", action="store_true", help="no progress bar or run summary on stderr")
    r.add_argument("--no-figures", action="store_true", help="write no PNG figures")
    return r


def train_config_args(a):
    """The TrainConfig keywords of the run group (every training command's)."""
    return dict(epochs=a.epochs, batch_size=a.batch_size, seed=a.seed, time_budget=a.time_budget,
                budget_clock=a.budget_clock, checkpoint_every=a.checkpoint_every)


def run_folder(a, runs_dir="runs"):
    """The folder the training run ``a`` writes to, claimed now (an unusable one fails before training).

    A new run: ``a.out``, or without it a new ``runs_dir/<a.command>-<time>``
    (``runs_dir/latest`` then points to it); a used ``a.out`` is refused
    unless ``a.overwrite``. A resumed run (``a.resume``: its folder, its
    model.npz or ``runs/latest``): that run's folder. ``a.out`` becomes the
    folder's path (a str), which the command prints and writes to.
    """
    resume = getattr(a, "resume", None)
    folder = claim_run_folder(resume or a.out, a.command, overwrite=getattr(a, "overwrite", False),
                              resume=bool(resume), runs_dir=runs_dir)
    if folder.is_symlink():                        # runs/latest: the run it names now, not whichever comes next
        folder = folder.parent / os.readlink(folder)
    a.out = str(folder)
    return a.out


def out_folder(path, flag="--out"):
    """Make the folder ``path`` (and its parents); one ConfigError naming ``flag`` if that fails."""
    if os.path.exists(path) and not os.path.isdir(path):
        raise ConfigError(f"{flag} {path}: a file is there, not a folder; give a folder's path")
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"{flag} {path}: cannot make the folder ({exc.strerror or exc})") from exc
    if not os.access(path, os.W_OK | os.X_OK):
        raise ConfigError(f"{flag} {path}: the folder is not writable")
    return path


def out_file(path, flag="--out"):
    """Check that the file ``path`` can be written (its folder is made); one ConfigError naming ``flag`` if not."""
    if os.path.isdir(path):
        raise ConfigError(f"{flag} {path}: a folder is there; give a file's path")
    folder = os.path.dirname(os.path.abspath(path))
    out_folder(folder, f"{flag} {path}: its folder")
    return path


def check_at_least(**values):
    """ConfigError for the first ``flag_name=(value, low)`` whose value is below ``low`` (None passes)."""
    for name, (value, low) in values.items():
        if value is not None and (isinstance(value, bool) or value < low):
            flag = "--" + name.replace("_", "-")
            raise ConfigError(f"{flag} must be an integer >= {low}, got {value}"
                              + (" (FID needs a covariance)" if name == "samples" else ""))
