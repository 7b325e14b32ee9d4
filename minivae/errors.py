"""The exceptions minivae raises. Each message says what was wrong and what was expected."""


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
