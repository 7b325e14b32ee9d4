"""MNIST and Fashion-MNIST: loading, checking, splitting, binarizing and batching.

MNIST ships with minivae (``minivae/datasets/files/``, CC BY-SA 3.0, LeCun, Cortes &
Burges) and is verified against the SHA-256 of its decompressed files.
Fashion-MNIST (Zalando, MIT) is read from ``/usr/share/datasets/fashion-mnist``
(``apt-get install dataset-fashion-mnist``) or any directory holding the four
official files.

Decoded uint8 arrays are cached per process (:func:`clear_cache` empties the
cache) and returned read-only, so no caller can corrupt the cache.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from minivae.errors import (ConfigError, DataError, DatasetNotFoundError, IDXFormatError,
                            ShapeError)
from minivae.backend import array_module
from minivae.datasets.idx import read_idx

DATA_DIR = Path(__file__).resolve().parent / "files"
FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
DATASETS = ("mnist", "fashion-mnist")
SPLITS = ("train", "test")
LIKELIHOODS = ("bernoulli", "gaussian")
IMAGE_SIDE = 28
INPUT_DIM = IMAGE_SIDE * IMAGE_SIDE  # 784

# Official file names (the same for MNIST and Fashion-MNIST) and split sizes.
FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
SIZES = {"train": 60000, "test": 10000}

_CACHE: dict = {}


def clear_cache() -> None:
    """Forget every decoded array, so the next load reads the files again."""
    _CACHE.clear()


def _check_choice(what, value, valid):
    if value not in valid:
        raise ConfigError(f"{what} {value!r} is not known, expected one of {', '.join(map(repr, valid))}")


def _read_sha256sums(path: Path) -> dict[str, str]:
    """Parse a ``sha256sum``-style file: '<hex>  <name>' per line."""
    sums = {}
    for line in path.read_text().splitlines():
        if line.strip():
            digest, name = line.split(maxsplit=1)
            sums[name.strip().lstrip("*")] = digest.lower()
    return sums


def _find(directory: Path, stem: str) -> Path | None:
    for candidate in (directory / stem, directory / (stem + ".gz")):
        if candidate.is_file():
            return candidate
    return None


def _not_found(label, split, directory, missing, how):
    where = f"{directory}" + ("" if directory.is_dir() else " (the directory does not exist)")
    all_files = ", ".join(f + ".gz" for pair in FILES.values() for f in pair)
    raise DatasetNotFoundError(
        f"{label} {split} split not found: looked for {' and '.join(m + '[.gz]' for m in missing)} in {where}. "
        f"{how}a directory holding the four official files ({all_files}; gzipped or not)")


def _load_pair(label, split, directory, sums, verify):
    """Read, check and cache the (images, labels) of one split; both read-only uint8."""
    _check_choice("split", split, SPLITS)
    directory = Path(directory)
    stems = FILES[split]
    paths = [_find(directory, s) for s in stems]
    if None in paths:
        how = ("Install it with `apt-get install dataset-fashion-mnist`, or pass --data-dir DIR (data_dir=DIR) with "
               if label == "Fashion-MNIST" else "Pass data_dir=None for the copy shipped with minivae, or ")
        _not_found(label, split, directory, [s for s, p in zip(stems, paths) if p is None], how)

    stats = tuple((str(p.resolve()), p.stat().st_mtime_ns, p.stat().st_size) for p in paths)
    for key in [(stats, True)] + ([] if verify else [(stats, False)]):
        if key in _CACHE:
            return _CACHE[key]

    images = read_idx(paths[0], sums.get(stems[0]) if verify else None, stems[0], np.uint8, 3)
    labels = read_idx(paths[1], sums.get(stems[1]) if verify else None, stems[1], np.uint8, 1)
    if images.shape[1:] != (IMAGE_SIDE, IMAGE_SIDE):
        raise IDXFormatError(f"{stems[0]}: images of shape {images.shape[1:]}, expected (28, 28)")
    if len(images) != len(labels):
        raise IDXFormatError(f"{label} {split}: {len(images)} images in {stems[0]} but {len(labels)} labels "
                             f"in {stems[1]}, expected the same number")
    if verify and len(images) != SIZES[split]:
        raise IDXFormatError(f"{label} {split}: {len(images)} images, expected {SIZES[split]}")
    if len(labels) and labels.max() > 9:
        raise DataError(f"{stems[1]}: label {labels.max()} at index {int(np.argmax(labels > 9))}, expected 0..9")
    images.flags.writeable = False
    labels.flags.writeable = False
    _CACHE[(stats, verify)] = (images, labels)
    return images, labels


def load_mnist(split: str = "train", data_dir=None, verify: bool = True):
    """MNIST as ``(images uint8 (N, 28, 28), labels uint8 (N,))``, read-only, N = 60000 or 10000.

    Reads the copy shipped in ``minivae/data`` or ``data_dir`` (the four official
    file names, gzipped or not). With ``verify`` the SHA-256 of each decompressed
    file must match ``minivae/datasets/files/SHA256SUMS.raw``, else :class:`ChecksumError`.
    """
    sums = _read_sha256sums(DATA_DIR / "SHA256SUMS.raw") if verify else {}
    return _load_pair("MNIST", split, DATA_DIR if data_dir is None else data_dir, sums, verify)


def load_fashion_mnist(split: str = "train", data_dir=FASHION_MNIST_DIR, verify: bool = True):
    """Fashion-MNIST as ``(images uint8 (N, 28, 28), labels uint8 (N,))``, read-only.

    No checksums are shipped: ``verify`` checks the structure only (IDX headers,
    28x28 images, 60000/10000 items, labels 0..9). Missing files raise
    :class:`DatasetNotFoundError` saying where they were looked for.
    """
    return _load_pair("Fashion-MNIST", split, FASHION_MNIST_DIR if data_dir is None else data_dir, {}, verify)


@dataclass(frozen=True)
class Dataset:
    """Flattened images ready for a VAE.

    x: float (N, 784) in [0, 1], C-contiguous, read-only; y: int64 (N,) labels 0..9;
    name: "mnist" or "fashion-mnist"; split: "train", "val" or "test".
    """

    x: np.ndarray
    y: np.ndarray
    name: str
    split: str

    def __post_init__(self):
        if self.x.ndim != 2 or self.y.shape != (self.x.shape[0],):
            raise ShapeError(f"Dataset {self.name}/{self.split}: x of shape {self.x.shape} and y of shape "
                             f"{self.y.shape}, expected (N, D) and (N,)")

    def __len__(self) -> int:
        return self.x.shape[0]

    @property
    def input_dim(self) -> int:
        return self.x.shape[1]

    def first(self, n):
        """The first n images and labels (all of them for n = None), as a Dataset of the same name and split."""
        return self if n is None else Dataset(self.x[:n], self.y[:n], self.name, self.split)


def load_dataset(name: str = "mnist", split: str = "train", data_dir=None, dtype="float32",
                 verify: bool = True) -> Dataset:
    """Load a dataset as a :class:`Dataset`, x = images / 255 flattened to (N, 784)."""
    _check_choice("dataset name", name, DATASETS)
    _check_choice("split", split, SPLITS)
    if np.dtype(dtype) not in (np.float32, np.float64):
        raise ConfigError(f"dtype {np.dtype(dtype)} is not supported, expected float32 or float64")
    loader = load_mnist if name == "mnist" else load_fashion_mnist
    images, labels = loader(split, data_dir=data_dir, verify=verify)
    x = np.empty((len(images), INPUT_DIM), dtype=dtype)
    np.divide(images.reshape(len(images), INPUT_DIM), x.dtype.type(255), out=x)  # 255/255 == 1 exactly
    y = labels.astype(np.int64)
    x.flags.writeable = False
    y.flags.writeable = False
    return Dataset(x, y, name, split)


def train_val_split(ds: Dataset, n_val: int = 10000) -> tuple[Dataset, Dataset]:
    """Hold out the last ``n_val`` training examples for validation (deterministic, views, no copy)."""
    if ds.split != "train":
        raise ConfigError(f"train_val_split splits the training set, got split {ds.split!r}, expected 'train'")
    if not isinstance(n_val, (int, np.integer)) or isinstance(n_val, bool) or not 0 < n_val < len(ds):
        raise ConfigError(f"n_val={n_val!r}, expected an integer with 0 < n_val < {len(ds)} (the training size)")
    cut = len(ds) - int(n_val)
    return (Dataset(ds.x[:cut], ds.y[:cut], ds.name, "train"),
            Dataset(ds.x[cut:], ds.y[cut:], ds.name, "val"))


def binarize(x, rng, out=None, xp=None, work=None):
    """Dynamic binarization: each pixel x_ij in [0, 1] becomes b_ij ~ Bernoulli(x_ij).

    b_ij = 1[u_ij < x_ij] with u_ij ~ U[0, 1) drawn from ``rng`` (a NumPy or CuPy
    ``Generator`` matching the array's module), so P(b_ij = 1) = x_ij.
    Returns an array of x's dtype (written into ``out`` if given); x is not
    modified unless it is ``out``. ``work``: where u is drawn (allocated when None).
    """
    xp = xp or array_module(x)
    if x.dtype.kind != "f":
        raise DataError(f"binarize: x has dtype {x.dtype}, expected float32 or float64 in [0, 1]")
    for name, a in (("out", out), ("work", work)):
        if a is not None and a.shape != x.shape:
            raise ShapeError(f"binarize: {name} has shape {a.shape}, expected {x.shape} (the shape of x)")
    u = rng.random(x.shape, dtype=x.dtype, out=work)
    return xp.less(u, x, out=u if out is None else out)


def binarize_threshold(x, threshold: float = 0.5):
    """Static binarization: b_ij = 1[x_ij > threshold], in x's dtype (NumPy or CuPy)."""
    return (x > threshold).astype(x.dtype)


def validate_images(x, input_dim: int = INPUT_DIM, likelihood: str = "bernoulli") -> None:
    """Check a batch of flattened images before it enters a model.

    Raises :class:`ShapeError` unless x has shape (N, input_dim) with N >= 1,
    :class:`DataError` if x is not floating point, has NaN or inf, or (for the
    Bernoulli likelihood, which needs x in [0, 1]) has values outside [0, 1].
    Costs one pass for finiteness and one each for min and max.
    """
    _check_choice("likelihood", likelihood, LIKELIHOODS)
    shape = tuple(getattr(x, "shape", ()))
    if len(shape) != 2 or shape[1] != input_dim or shape[0] == 0:
        raise ShapeError(f"images: got shape {shape}, expected (N, {input_dim}) with N >= 1")
    if x.dtype.kind != "f":
        raise DataError(f"images: dtype {x.dtype}, expected float32 or float64 (uint8 pixels: divide by 255)")
    xp = array_module(x)
    if not bool(xp.isfinite(x).all()):
        bad = ~xp.isfinite(x)
        first = tuple(int(i) for i in xp.argwhere(bad)[0])
        raise DataError(f"images: {int(bad.sum())} non-finite values (first {float(x[first])} at index {first}), "
                        f"expected only finite values")
    if likelihood == "bernoulli":
        lo, hi = float(x.min()), float(x.max())
        if lo < 0 or hi > 1:
            raise DataError(f"images: values in [{lo}, {hi}], expected [0, 1] for the Bernoulli likelihood")


def batches(n: int, batch_size: int, rng=None, shuffle: bool = True, drop_last: bool = False):
    """Yield int64 index arrays covering range(n) once: one epoch of minibatches.

    With ``shuffle`` the order is ``rng.permutation(n)`` (a fresh permutation per
    call, so per epoch); gather with ``np.take(x, idx, axis=0, out=buf)``.
    With ``drop_last`` a final batch smaller than ``batch_size`` is skipped.
    """
    for what, v, low in (("n", n, 0), ("batch_size", batch_size, 1)):
        if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < low:
            raise ConfigError(f"batches: {what}={v!r}, expected an integer >= {low}")
    if shuffle and rng is None:
        raise ConfigError("batches: shuffle=True needs rng, a numpy.random.Generator (np.random.default_rng(seed))")
    order = rng.permutation(n).astype(np.int64, copy=False) if shuffle else np.arange(n, dtype=np.int64)
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        yield order[start:start + batch_size]


def load_data(dataset, data_dir=None, binarized=False, train_size=None, val_size=0, seed=0):
    """(train, val or None, test) Datasets of ``dataset``, as ``python -m minivae train`` uses them.

    ``val_size``: the last images of the training set held out for validation;
    ``train_size``: then only the first images for training. With ``binarized``
    the test and validation sets are binarized once, with fixed seeds, so
    figures are comparable across runs (training batches are binarized anew
    at every step by the training loop).
    """
    train = load_dataset(dataset, "train", data_dir)
    test = load_dataset(dataset, "test", data_dir)
    val = None
    if val_size:
        train, val = train_val_split(train, val_size)
    if train_size is not None:
        train = type(train)(train.x[:train_size], train.y[:train_size], train.name, train.split)
    if binarized:   # fixed binarizations of the held-out data, so figures are comparable across runs
        fix = lambda ds, s: type(ds)(binarize(ds.x, np.random.default_rng(s)), ds.y, ds.name, ds.split)  # noqa: E731
        test = fix(test, 10_000 + seed)
        val = None if val is None else fix(val, 20_000 + seed)
    return train, val, test
