"""Tests for minivae.datasets.idx: round trips, corrupted headers and payloads, checksums."""

import gzip
import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from minivae.errors import ChecksumError, DataError, IDXFormatError
from minivae.datasets.idx import idx_bytes, read_idx, sha256_hex, write_idx

DTYPES = ["uint8", "int8", ">i2", "<i2", "int32", ">f4", "float32", "float64"]


def _same(a, b):
    """Equal shape, native dtype and bits (so NaN payloads and -0.0 count)."""
    assert b.shape == a.shape
    assert b.dtype == a.dtype.newbyteorder("=")
    assert b.tobytes() == a.astype(b.dtype).tobytes()


@settings(max_examples=60, deadline=None)
@given(hnp.arrays(st.sampled_from(DTYPES), hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=5)))
def test_round_trip_bytes(a):
    b = read_idx(idx_bytes(a))
    _same(a, b)
    assert b.flags.writeable and b.flags.c_contiguous


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_round_trip_file_gzip_detected_by_content(tmp_path, suffix):
    a = np.arange(24, dtype=np.int16).reshape(2, 3, 4) - 7
    p = write_idx(tmp_path / ("a.idx" + suffix), a)
    _same(a, read_idx(p))
    assert (p.read_bytes()[:2] == b"\x1f\x8b") == (suffix == ".gz")
    # gzip content under a name without .gz is still recognised
    q = tmp_path / "misnamed"
    q.write_bytes(gzip.compress(idx_bytes(a)))
    _same(a, read_idx(q))


def test_header_layout():
    a = np.zeros((2, 3), np.uint8)
    assert idx_bytes(a)[:12] == bytes([0, 0, 0x08, 2]) + struct.pack(">II", 2, 3)
    assert idx_bytes(np.float32(1.5).reshape(()))[:4] == bytes([0, 0, 0x0D, 0])


def test_wrong_magic_names_file_and_expected_value():
    data = b"\x00\x00\x00\x00" + bytes(20)
    with pytest.raises(IDXFormatError, match=r"train-images-idx3-ubyte: magic number 0x00000000, "
                                             r"expected 0x00000803 \(unsigned byte, 3 dimensions\)"):
        read_idx(data, name="train-images-idx3-ubyte", dtype=np.uint8, ndim=3)
    with pytest.raises(IDXFormatError, match="magic number 0x01000801"):
        read_idx(b"\x01\x00\x08\x01" + struct.pack(">I", 0))
    with pytest.raises(IDXFormatError, match="0x08 \\(uint8\\)"):  # unknown type code lists the known ones
        read_idx(b"\x00\x00\x0A\x01" + struct.pack(">I", 0))


def test_expected_dims_or_dtype_mismatch():
    data = idx_bytes(np.zeros((4, 2), np.uint8))
    with pytest.raises(IDXFormatError, match=r"0x00000802 \(unsigned byte, 2 dimensions\), expected 0x00000803"):
        read_idx(data, dtype=np.uint8, ndim=3)
    with pytest.raises(IDXFormatError, match="expected 0x00000E02"):
        read_idx(data, dtype=np.float64, ndim=2)


def test_truncated_header():
    with pytest.raises(IDXFormatError, match="truncated header, 3 bytes"):
        read_idx(b"\x00\x00\x08")
    with pytest.raises(IDXFormatError, match="truncated header, 10 bytes, expected 16"):
        read_idx(idx_bytes(np.zeros((1, 2, 3), np.uint8))[:10])


def test_truncated_payload_and_trailing_bytes():
    data = idx_bytes(np.ones((5, 4), np.int32))
    with pytest.raises(IDXFormatError, match=r"truncated payload: header declares shape \(5, 4\) of int32 = 80 bytes "
                                             r"after the 12-byte header, found 79"):
        read_idx(data[:-1], name="x")
    with pytest.raises(IDXFormatError, match="trailing bytes after the payload.*found 82"):
        read_idx(data + b"\x00\x00")


def test_truncated_gzip_stream(tmp_path):
    p = tmp_path / "cut.gz"
    p.write_bytes(gzip.compress(idx_bytes(np.arange(1000, dtype=np.uint8) % 7))[:-12])
    with pytest.raises(IDXFormatError, match="cut: .*not a valid gzip stream"):
        read_idx(p)


def test_checksum_of_decompressed_bytes(tmp_path):
    a = np.arange(10, dtype=np.uint8)
    raw = idx_bytes(a)
    p = write_idx(tmp_path / "labels.gz", a)
    _same(a, read_idx(p, expected_sha256=sha256_hex(raw).upper()))  # case-insensitive
    wrong = "0" * 64
    with pytest.raises(ChecksumError, match=f"labels: SHA-256 .* is {sha256_hex(raw)}, expected {wrong}"):
        read_idx(p, expected_sha256=wrong)


def test_unsupported_dtype_and_source():
    with pytest.raises(DataError, match="dtype bool cannot be stored in IDX"):
        idx_bytes(np.zeros(3, bool))
    with pytest.raises(DataError, match="dtype int64"):
        idx_bytes(np.zeros(3, np.int64))
    with pytest.raises(TypeError, match="expected a path"):
        read_idx(12)
