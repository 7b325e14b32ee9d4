"""Read and write the IDX format that MNIST and Fashion-MNIST are distributed in.

An IDX file is a 4-byte magic number, one big-endian uint32 per dimension,
then the values in C order, big-endian::

    magic = 0x00 0x00 <type code> <number of dimensions>
    dims  = d_0 d_1 ... d_{k-1}        (k big-endian uint32)
    data  = prod(d_i) values of the type, big-endian

    type codes: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32,
                0x0D float32, 0x0E float64

So ``train-images-idx3-ubyte`` starts with ``0x00000803``: unsigned bytes in
3 dimensions, (60000, 28, 28). Files may be gzip-compressed; :func:`read_idx`
recognises gzip by its magic bytes ``1f 8b``, not by the file name.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import struct
import zlib
from pathlib import Path

import numpy as np

from minivae.errors import ChecksumError, DataError, IDXFormatError

# type code -> (big-endian dtype as stored, native dtype returned, description)
IDX_TYPES = {
    0x08: (np.dtype(">u1"), np.dtype("uint8"), "unsigned byte"),
    0x09: (np.dtype(">i1"), np.dtype("int8"), "signed byte"),
    0x0B: (np.dtype(">i2"), np.dtype("int16"), "short int"),
    0x0C: (np.dtype(">i4"), np.dtype("int32"), "int"),
    0x0D: (np.dtype(">f4"), np.dtype("float32"), "float"),
    0x0E: (np.dtype(">f8"), np.dtype("float64"), "double"),
}
_CODE_OF_DTYPE = {native: code for code, (_, native, _) in IDX_TYPES.items()}
_GZIP_MAGIC = b"\x1f\x8b"


def _known_types() -> str:
    return ", ".join(f"0x{c:02X} ({IDX_TYPES[c][1]})" for c in IDX_TYPES)


def _expected_magic(dtype, ndim) -> str:
    """Describe the magic number the caller expects, e.g. '0x00000803 (unsigned byte, 3 dimensions)'."""
    if dtype is None or ndim is None:
        return "0x0000TTDD (TT a type code among " + _known_types() + ", DD the number of dimensions)"
    code = _CODE_OF_DTYPE[np.dtype(dtype)]
    return f"0x0000{code:02X}{ndim:02X} ({IDX_TYPES[code][2]}, {ndim} dimensions)"


def sha256_hex(data: bytes) -> str:
    """Lower-case hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def _load_raw(source, name):
    """Return (decompressed bytes, name) for a path or a bytes-like source."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        name = name or "<bytes>"
    elif isinstance(source, (str, os.PathLike)):
        path = Path(source)
        data = path.read_bytes()
        if name is None:
            name = path.name[:-3] if path.name.endswith(".gz") else path.name
    else:
        raise TypeError(f"read_idx: source is a {type(source).__name__}, expected a path (str or os.PathLike) or bytes")
    if data[:2] == _GZIP_MAGIC:
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as e:
            raise IDXFormatError(f"{name}: starts with the gzip magic bytes 1f 8b but is not a valid gzip stream "
                                 f"({e}); expected a complete gzip file or an uncompressed IDX file") from e
    return data, name


def read_idx(source, expected_sha256: str | None = None, name: str | None = None,
             dtype=None, ndim: int | None = None) -> np.ndarray:
    """Decode an IDX file into a NumPy array of the header's dtype and shape.

    Args:
        source: a path (gzip-compressed or not, detected by content) or raw bytes.
        expected_sha256: if given, the SHA-256 (hex) of the *decompressed* bytes;
            a mismatch raises :class:`ChecksumError`.
        name: the name used in error messages (default: file name without .gz).
        dtype, ndim: if given, the type and number of dimensions the caller
            expects; a different magic number raises :class:`IDXFormatError`.

    Returns:
        A writable, native-endian, C-contiguous array, shape ``(d_0, ..., d_{k-1})``.
    """
    data, name = _load_raw(source, name)
    if expected_sha256 is not None:
        found = sha256_hex(data)
        if found != expected_sha256.strip().lower():
            raise ChecksumError(f"{name}: SHA-256 of the decompressed file is {found}, expected "
                                f"{expected_sha256.strip().lower()}; the file is corrupted or is not the published one")

    if len(data) < 4:
        raise IDXFormatError(f"{name}: truncated header, {len(data)} bytes, expected at least 4 (the magic number)")
    (magic,) = struct.unpack(">I", data[:4])
    zero, code, k = data[0:2], data[2], data[3]
    want = _expected_magic(dtype, ndim)
    if zero != b"\x00\x00" or code not in IDX_TYPES:
        raise IDXFormatError(f"{name}: magic number 0x{magic:08X}, expected {want}")
    if (dtype is not None and IDX_TYPES[code][1] != np.dtype(dtype)) or (ndim is not None and k != ndim):
        raise IDXFormatError(f"{name}: magic number 0x{magic:08X} ({IDX_TYPES[code][2]}, {k} dimensions), "
                             f"expected {want}")

    header = 4 + 4 * k
    if len(data) < header:
        raise IDXFormatError(f"{name}: truncated header, {len(data)} bytes, expected {header} "
                             f"(magic number and {k} dimension sizes)")
    shape = struct.unpack(f">{k}I", data[4:header])
    stored, native, _ = IDX_TYPES[code]
    count = int(np.prod(shape, dtype=np.int64))
    need = count * stored.itemsize
    have = len(data) - header
    if have != need:
        what = "truncated payload" if have < need else "trailing bytes after the payload"
        raise IDXFormatError(f"{name}: {what}: header declares shape {shape} of {native} = {need} bytes "
                             f"after the {header}-byte header, found {have}")
    arr = np.frombuffer(data, dtype=stored, count=count, offset=header)
    return arr.astype(native).reshape(shape)  # astype copies: writable and native-endian


def idx_bytes(array) -> bytes:
    """Encode ``array`` as an uncompressed IDX file (the inverse of :func:`read_idx`)."""
    a = np.asarray(array)
    code = _CODE_OF_DTYPE.get(a.dtype.newbyteorder("=")) if a.dtype.kind in "uif" else None
    if code is None:
        raise DataError(f"idx_bytes: dtype {a.dtype} cannot be stored in IDX, expected one of {_known_types()}")
    if a.ndim > 255:
        raise DataError(f"idx_bytes: array has {a.ndim} dimensions, expected at most 255")
    if any(d > 0xFFFFFFFF for d in a.shape):
        raise DataError(f"idx_bytes: shape {a.shape} has a size above 2**32 - 1, which IDX cannot store")
    head = struct.pack(">BBBB", 0, 0, code, a.ndim) + struct.pack(f">{a.ndim}I", *a.shape)
    return head + np.ascontiguousarray(a, dtype=IDX_TYPES[code][0]).tobytes()


def write_idx(path, array, compress: bool | None = None) -> Path:
    """Write ``array`` as an IDX file; gzip it if ``compress`` (default: the name ends in .gz).

    The gzip header carries no time stamp, so equal arrays give identical files.
    """
    path = Path(path)
    data = idx_bytes(array)
    if compress is None:
        compress = path.name.endswith(".gz")
    if compress:
        data = gzip.compress(data, compresslevel=6, mtime=0)
    path.write_bytes(data)
    return path
