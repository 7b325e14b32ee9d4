"""Tests for minivae.datasets: shipped MNIST, checksums, Fashion-MNIST lookup, helpers.

MNIST is decoded once per session through the module cache (about 0.5 s).
"""

import gzip
import shutil

import numpy as np
import pytest

from minivae import datasets
from minivae.datasets import (DATA_DIR, Dataset, batches, binarize, binarize_threshold, clear_cache,
                              load_dataset, load_fashion_mnist, load_mnist, train_val_split,
                              validate_images)
from minivae.errors import (ChecksumError, ConfigError, DataError, DatasetNotFoundError, IDXFormatError,
                            ShapeError)
from minivae.datasets.idx import read_idx, write_idx


def _fake_split(directory, split, n_images, n_labels=None, label_max=9, gz=True):
    """Write a small synthetic split with the official file names."""
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    stems = datasets.FILES[split]
    suffix = ".gz" if gz else ""
    write_idx(directory / (stems[0] + suffix), rng.integers(0, 256, (n_images, 28, 28), dtype=np.uint8))
    labels = rng.integers(0, label_max + 1, n_images if n_labels is None else n_labels, dtype=np.uint8)
    write_idx(directory / (stems[1] + suffix), labels)
    return labels


# --- shipped MNIST ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("split,n,first,pixel_sum,label_sum", [
    ("train", 60000, 5, 1567298545, 267236),
    ("test", 10000, 7, 264923200, 44434),
])
def test_shipped_mnist(split, n, first, pixel_sum, label_sum):
    images, labels = load_mnist(split)
    assert images.shape == (n, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (n,) and labels.dtype == np.uint8
    assert labels[0] == first
    assert set(np.unique(labels)) == set(range(10))
    assert int(images.sum(dtype=np.int64)) == pixel_sum
    assert int(labels.sum(dtype=np.int64)) == label_sum
    assert images.max() == 255 and images.min() == 0


def test_mnist_is_cached_and_read_only():
    images, labels = load_mnist("test")
    again, _ = load_mnist("test", verify=False)  # a verified entry also serves verify=False
    assert again is images
    assert not images.flags.writeable and not labels.flags.writeable
    with pytest.raises(ValueError):
        images[0, 0, 0] = 1


def test_shipped_files_and_licence():
    names = {p.name for p in DATA_DIR.iterdir()}
    assert {"SHA256SUMS.raw", "README.md", "train-images-idx3-ubyte.gz"} <= names
    assert "CC BY-SA 3.0" in (DATA_DIR / "README.md").read_text()


def test_checksum_mismatch_in_data_dir(tmp_path):
    shutil.copy(DATA_DIR / "t10k-images-idx3-ubyte.gz", tmp_path)
    labels = read_idx(DATA_DIR / "t10k-labels-idx1-ubyte.gz")
    labels[0] = 3  # was 7: one flipped label
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", labels)  # uncompressed copies are accepted too
    with pytest.raises(ChecksumError, match=r"t10k-labels-idx1-ubyte: SHA-256 .* is [0-9a-f]{64}, expected "
                                            r"ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"):
        load_mnist("test", data_dir=tmp_path)
    _, unverified = load_mnist("test", data_dir=tmp_path, verify=False)
    assert unverified[0] == 3


def test_data_dir_with_official_copies(tmp_path):
    for stem in datasets.FILES["test"]:
        (tmp_path / stem).write_bytes(gzip.decompress((DATA_DIR / (stem + ".gz")).read_bytes()))
    images, labels = load_mnist("test", data_dir=tmp_path)
    assert np.array_equal(images, load_mnist("test")[0]) and labels[0] == 7


def test_missing_mnist_file(tmp_path):
    shutil.copy(DATA_DIR / "t10k-labels-idx1-ubyte.gz", tmp_path)
    with pytest.raises(DatasetNotFoundError, match=f"looked for t10k-images-idx3-ubyte\\[.gz\\] in {tmp_path}"):
        load_mnist("test", data_dir=tmp_path)


def test_structure_errors(tmp_path):
    _fake_split(tmp_path / "a", "test", 5, n_labels=4)
    with pytest.raises(IDXFormatError, match="5 images .* but 4 labels"):
        load_mnist("test", data_dir=tmp_path / "a", verify=False)
    _fake_split(tmp_path / "b", "test", 5, label_max=12)
    with pytest.raises(DataError, match="label 1[0-2] at index .*, expected 0..9"):
        load_mnist("test", data_dir=tmp_path / "b", verify=False)
    d = tmp_path / "c"
    _fake_split(d, "test", 5)
    write_idx(d / "t10k-images-idx3-ubyte.gz", np.zeros((5, 784), np.uint8))  # flat, 2 dims
    with pytest.raises(IDXFormatError, match="expected 0x00000803"):
        load_mnist("test", data_dir=d, verify=False)


def test_changed_file_is_not_served_from_cache(tmp_path):
    _fake_split(tmp_path, "test", 3)
    first, _ = load_mnist("test", data_dir=tmp_path, verify=False)
    _fake_split(tmp_path, "test", 4)
    assert len(load_mnist("test", data_dir=tmp_path, verify=False)[0]) == 4
    assert len(first) == 3


# --- Fashion-MNIST -------------------------------------------------------------------------------------------

def test_fashion_mnist_missing_says_where_and_how(tmp_path):
    where = tmp_path / "nowhere"
    with pytest.raises(DatasetNotFoundError) as err:
        load_fashion_mnist("train", data_dir=where)
    msg = str(err.value)
    for part in ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", str(where), "does not exist",
                 "apt-get install dataset-fashion-mnist", "--data-dir DIR", "t10k-labels-idx1-ubyte.gz"]:
        assert part in msg
    assert isinstance(err.value, FileNotFoundError)


def test_fashion_mnist_from_data_dir(tmp_path):
    labels = _fake_split(tmp_path, "train", 6, gz=False)
    ds = load_dataset("fashion-mnist", "train", data_dir=tmp_path, verify=False)
    assert ds.name == "fashion-mnist" and ds.x.shape == (6, 784) and np.array_equal(ds.y, labels)
    with pytest.raises(IDXFormatError, match="6 images, expected 60000"):  # verify checks the official size
        load_fashion_mnist("train", data_dir=tmp_path)


# --- Dataset, load_dataset, train_val_split -------------------------------------------------------------------

def test_load_dataset_scaling():
    ds = load_dataset("mnist", "test")
    images, labels = load_mnist("test")
    assert isinstance(ds, Dataset) and len(ds) == 10000 and ds.input_dim == 784
    assert ds.x.dtype == np.float32 and ds.x.flags.c_contiguous and not ds.x.flags.writeable
    assert ds.y.dtype == np.int64 and ds.y[0] == 7
    assert ds.x.min() == 0.0 and ds.x.max() == 1.0
    np.testing.assert_array_equal(ds.x, (images.reshape(-1, 784) / np.float32(255)).astype(np.float32))
    assert load_dataset("mnist", "test", dtype="float64").x.dtype == np.float64


@pytest.mark.parametrize("kwargs,match", [
    ({"name": "cifar10"}, "dataset name 'cifar10' is not known, expected one of 'mnist', 'fashion-mnist'"),
    ({"split": "valid"}, "split 'valid' is not known, expected one of 'train', 'test'"),
    ({"dtype": "float16"}, "dtype float16 is not supported, expected float32 or float64"),
])
def test_load_dataset_config_errors(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        load_dataset(**kwargs)


def test_train_val_split():
    ds = load_dataset("mnist", "train")
    train, val = train_val_split(ds)
    assert (len(train), len(val)) == (50000, 10000)
    assert train.split == "train" and val.split == "val" and val.name == "mnist"
    assert np.shares_memory(val.x, ds.x) and val.x.flags.c_contiguous
    np.testing.assert_array_equal(val.y, ds.y[-10000:])
    with pytest.raises(ConfigError, match="expected an integer with 0 < n_val < 60000"):
        train_val_split(ds, n_val=60000)
    with pytest.raises(ConfigError, match="got split 'test'"):
        train_val_split(load_dataset("mnist", "test"))


def test_dataset_shape_check():
    with pytest.raises(ShapeError, match=r"x of shape \(3, 4\) and y of shape \(2,\)"):
        Dataset(np.zeros((3, 4)), np.zeros(2, np.int64), "toy", "train")


# --- binarize, validate_images, batches ----------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_binarize(dtype):
    x = load_dataset("mnist", "test").x[:2000].astype(dtype)
    before = x.copy()
    b = binarize(x, np.random.default_rng(1))
    assert b.dtype == dtype and b.shape == x.shape
    assert set(np.unique(b)) <= {0.0, 1.0}
    # 1.57 M Bernoulli draws: the std of the mean is below 0.5 / sqrt(1.57e6) = 4e-4
    assert abs(b.mean() - x.mean()) < 2e-3
    assert np.all(b[x == 0] == 0) and np.all(b[x == 1] == 1)
    np.testing.assert_array_equal(x, before)
    np.testing.assert_array_equal(b, binarize(x, np.random.default_rng(1)))
    out = np.empty_like(x)
    assert binarize(x, np.random.default_rng(1), out=out) is out
    np.testing.assert_array_equal(out, b)


def test_binarize_constant_probability_and_threshold():
    x = np.full((1000, 100), 0.3, np.float32)
    assert abs(binarize(x, np.random.default_rng(0)).mean() - 0.3) < 5e-3  # std 1.4e-3
    t = binarize_threshold(np.array([[0.2, 0.5, 0.7]], np.float32))
    assert t.dtype == np.float32 and t.tolist() == [[0.0, 0.0, 1.0]]
    with pytest.raises(DataError, match="dtype uint8"):
        binarize(np.zeros((2, 2), np.uint8), np.random.default_rng(0))


def test_validate_images_accepts_good_data():
    validate_images(load_dataset("mnist", "test").x)
    validate_images(np.full((2, 3), 5.0), input_dim=3, likelihood="gaussian")


@pytest.mark.parametrize("x,err,match", [
    (np.zeros((2, 783), np.float32), ShapeError, r"got shape \(2, 783\), expected \(N, 784\)"),
    (np.zeros((784,), np.float32), ShapeError, r"got shape \(784,\), expected \(N, 784\)"),
    (np.zeros((0, 784), np.float32), ShapeError, "N >= 1"),
    (np.zeros((2, 784), np.uint8), DataError, "dtype uint8, expected float32 or float64"),
])
def test_validate_images_shape_and_dtype(x, err, match):
    with pytest.raises(err, match=match):
        validate_images(x)


def test_validate_images_values():
    x = np.full((3, 784), 0.5, np.float32)
    x[1, 7] = np.nan
    x[2, 0] = np.inf
    with pytest.raises(DataError, match=r"2 non-finite values \(first nan at index \(1, 7\)\)"):
        validate_images(x)
    y = np.full((3, 784), 0.5)
    y[0, 0], y[2, 5] = -0.25, 1.5
    with pytest.raises(DataError, match=r"values in \[-0.25, 1.5\], expected \[0, 1\] for the Bernoulli"):
        validate_images(y)
    validate_images(y, likelihood="gaussian")
    with pytest.raises(ConfigError, match="likelihood 'poisson' is not known"):
        validate_images(y, likelihood="poisson")


def test_batches():
    idx = list(batches(10, 4, np.random.default_rng(0)))
    assert [len(i) for i in idx] == [4, 4, 2] and all(i.dtype == np.int64 for i in idx)
    assert sorted(np.concatenate(idx).tolist()) == list(range(10))
    again = list(batches(10, 4, np.random.default_rng(0)))
    assert all(np.array_equal(a, b) for a, b in zip(idx, again))
    rng = np.random.default_rng(0)
    e1, e2 = np.concatenate(list(batches(50, 7, rng))), np.concatenate(list(batches(50, 7, rng)))
    assert not np.array_equal(e1, e2)  # a new permutation each epoch
    assert [len(i) for i in batches(10, 4, np.random.default_rng(0), drop_last=True)] == [4, 4]
    assert np.concatenate(list(batches(5, 2, None, shuffle=False))).tolist() == [0, 1, 2, 3, 4]
    assert list(batches(0, 3, None, shuffle=False)) == []


def test_batches_errors():
    with pytest.raises(ConfigError, match="batch_size=0, expected an integer >= 1"):
        list(batches(10, 0, np.random.default_rng(0)))
    with pytest.raises(ConfigError, match="needs rng"):
        list(batches(10, 2))


def test_clear_cache():  # last: later modules decode again on first use
    images, _ = load_mnist("test")
    clear_cache()
    assert datasets._CACHE == {}
    again, _ = load_mnist("test")
    assert again is not images and np.array_equal(again, images)
