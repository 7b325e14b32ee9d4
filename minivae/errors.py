"""The exceptions minivae raises. Each message says what was wrong and what was expected."""

import math
import numbers


class MiniVAEError(Exception):
    """Base class of every error minivae raises on purpose."""


class ConfigError(MiniVAEError, ValueError):
    """A model, optimizer or trainer option is out of its allowed range."""


class ShapeError(MiniVAEError, ValueError):
    """An array has the wrong shape or feature count."""


class DataError(MiniVAEError, ValueError):
    """Input data is not usable: non-finite values, out-of-range pixels, bad labels."""


class IDXFormatError(DataError):
    """An IDX file has a wrong magic number, a truncated payload or mismatched sizes."""


class ChecksumError(DataError):
    """A data file's SHA-256 differs from the published one."""


class DatasetNotFoundError(MiniVAEError, FileNotFoundError):
    """A dataset's files are not where they were looked for."""


class CheckpointError(MiniVAEError, ValueError):
    """A checkpoint is corrupted, incomplete or of another architecture."""


class TrainingDivergedError(MiniVAEError, FloatingPointError):
    """The loss became NaN or infinite during training."""


class BackendError(MiniVAEError, RuntimeError):
    """The requested array backend (e.g. CuPy on a GPU) is not available."""


class TrainingInterrupted(KeyboardInterrupt):
    """Training stopped at a signal (Ctrl-C: SIGINT, or SIGTERM) after finishing its step and saving the run.

    A KeyboardInterrupt, so a notebook sees what it would have seen; ``signal``,
    ``epoch`` and ``batch`` say where, ``out_dir`` where the run was saved
    (None: nowhere), and ``exit_code`` is the shell's 128 + signal number.
    """

    def __init__(self, signum, epoch, batch, out_dir):
        self.signal, self.epoch, self.batch, self.out_dir = signum, epoch, batch, out_dir
        self.exit_code = 128 + int(signum)
        where = f"epoch {epoch}, after batch {batch}" if batch else f"after epoch {epoch}"
        saved = f"; the run is saved in {out_dir}" if out_dir else " (nothing saved: no out_dir)"
        super().__init__(f"training stopped by signal {int(signum)} at {where}{saved}")


class NonFiniteGradientError(TrainingDivergedError):
    """An optimizer step met a NaN or infinite gradient; the parameters were left unchanged."""


def finite_number(name, value, expected="", ok=None):
    """``value`` as a float; ConfigError ("NAME must be a finite number EXPECTED, got ...") unless it is
    one and ``ok(value)`` holds. Infinity and NaN are refused wherever they have no meaning."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        v = math.nan
    if isinstance(value, bool) or not math.isfinite(v) or (ok is not None and not ok(v)):
        raise ConfigError(f"{name} must be a finite number{' ' + expected if expected else ''}, got {value!r}")
    return v


def positive_int(name, value):
    """``value`` as an int; ConfigError ("NAME must be an integer >= 1, got ...") unless it is one (bools refused)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ConfigError(f"{name} must be an integer >= 1, got {value!r}")
    return int(value)


def check_mlp_sizes(config):
    """Normalize a frozen config's ``input_dim`` and ``latent_dim`` (ints >= 1) and ``hidden_dims`` (a tuple of
    ints >= 1, possibly empty), each refused by name: the sizes every autoencoder-shaped model's config holds."""
    for name in ("input_dim", "latent_dim"):
        object.__setattr__(config, name, positive_int(name, getattr(config, name)))
    object.__setattr__(config, "hidden_dims", positive_ints("hidden_dims", config.hidden_dims, "each hidden dim"))


def positive_ints(name, value, each=None, nonempty=False):
    """``value`` (a sequence, or one int) as a tuple of ints >= 1, e.g. a model's hidden layer sizes; ConfigError
    naming ``name`` (and ``each``, "each of NAME" by default, for a bad entry) otherwise."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        value = (value,)
    try:
        out = tuple(positive_int(each or f"each of {name}", v) for v in value)
    except TypeError:
        raise ConfigError(f"{name} must be a sequence of ints, got {value!r}") from None
    if nonempty and not out:
        raise ConfigError(f"{name} must name at least one hidden layer, got {value!r}")
    return out
