"""The IDX file format of the MNIST distribution: reader and writer.

LeCun, Cortes and Burges distribute MNIST as four IDX files
(http://yann.lecun.com/exdb/mnist/, section "File formats"). An IDX file is

    bytes 0-1   zero
    byte  2     the element type: 0x08 uint8, 0x09 int8, 0x0B int16,
                0x0C int32, 0x0D float32, 0x0E float64
    byte  3     the number of dimensions, ndim
    4*ndim      the dimensions, big-endian uint32 each
    the rest    the elements, big-endian, in C (row-major) order

so ``train-images-idx3-ubyte`` starts ``00 00 08 03`` then 60000, 28, 28.
The files are usually gzip-compressed (``.gz``); the reader sniffs the gzip
magic bytes, so a compressed file with any name works.

A damaged file raises :class:`DataFileError`, whose message names the file and
says what is wrong (wrong magic number, truncated data, trailing bytes), instead
of a NumPy reshape traceback.

Example:
    >>> import os, tempfile, numpy as np
    >>> path = os.path.join(tempfile.mkdtemp(), "x-idx3-ubyte.gz")
    >>> write_idx(path, np.arange(24, dtype=np.uint8).reshape(2, 3, 4))
    >>> read_idx(path).shape
    (2, 3, 4)
"""
import gzip
import os
import struct
import zlib

import numpy as np

# IDX type code -> big-endian NumPy dtype.
IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODES = {dt.newbyteorder("=").str: code for code, dt in IDX_DTYPES.items()}
_GZIP_MAGIC = b"\x1f\x8b"


class DataFileError(ValueError):
    """A data file is missing, truncated, corrupt or fails its checksum.

    The message always names the file.
    """


class ChecksumError(DataFileError):
    """A downloaded or cached file does not have the published checksum."""


def _read_bytes(path):
    """The decompressed bytes of ``path`` (gzip sniffed from the magic bytes)."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise DataFileError(f"IDX file not found: {path}") from None
    if raw[:2] != _GZIP_MAGIC:
        return raw
    try:
        return gzip.decompress(raw)
    except (EOFError, OSError, zlib.error) as exc:
        # EOFError: the gzip stream stops early (a truncated download);
        # BadGzipFile (an OSError) / zlib.error: corrupt compressed data.
        raise DataFileError(f"{path}: the gzip data is truncated or corrupt ({exc}); "
                            f"delete the file and download it again") from None


def read_idx(path):
    """Read an IDX file (gzip-compressed or not) into a NumPy array.

    Args:
        path: the file's path.

    Returns:
        An array of the file's shape, in native byte order (uint8 for MNIST).

    Raises:
        DataFileError: the file is missing, has a wrong magic number, an unknown
            type code, is truncated, or has trailing bytes. The message names
            the file.
    """
    path = os.fspath(path)
    buf = _read_bytes(path)
    if len(buf) < 4:
        raise DataFileError(f"{path}: truncated IDX file: only {len(buf)} bytes, the header alone needs 4 or more")
    zero, code, ndim = struct.unpack(">HBB", buf[:4])
    if zero != 0 or code not in IDX_DTYPES:
        raise DataFileError(f"{path}: not an IDX file: wrong magic number 0x{buf[:4].hex()} "
                            f"(expected 0x0000 then a type code in "
                            f"{', '.join(hex(c) for c in IDX_DTYPES)} and the number of dimensions)")
    header = 4 + 4 * ndim
    if len(buf) < header:
        raise DataFileError(f"{path}: truncated IDX header: {ndim} dimensions need {header} bytes, "
                            f"the file has {len(buf)}")
    shape = struct.unpack(f">{ndim}I", buf[4:header])
    dtype = IDX_DTYPES[code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    found = len(buf) - header
    if found < expected:
        raise DataFileError(f"{path}: truncated IDX file: shape {shape} needs {expected} bytes of data, "
                            f"found {found}; delete the file and download it again")
    if found > expected:
        raise DataFileError(f"{path}: corrupt IDX file: {found - expected} bytes after the data of shape {shape}")
    data = np.frombuffer(buf, dtype=dtype, count=expected // dtype.itemsize, offset=header)
    # astype gives a writable array in native byte order (frombuffer's view is read-only).
    return data.astype(dtype.newbyteorder("="), copy=True).reshape(shape)


def write_idx(path, array, compress=None):
    """Write ``array`` as an IDX file.

    Args:
        path: where to write.
        array: a NumPy array of dtype uint8, int8, int16, int32, float32 or float64.
        compress: gzip the file; by default when ``path`` ends in ``.gz``.
    """
    path = os.fspath(path)
    array = np.asarray(array)
    key = array.dtype.newbyteorder("=").str
    if key not in _CODES:
        raise TypeError(f"write_idx: IDX cannot store dtype {array.dtype}; use one of uint8, int8, int16, "
                        f"int32, float32, float64")
    if array.ndim > 255:
        raise ValueError(f"write_idx: IDX stores at most 255 dimensions, got {array.ndim}")
    code = _CODES[key]
    header = struct.pack(">HBB", 0, code, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    body = header + np.ascontiguousarray(array, dtype=IDX_DTYPES[code]).tobytes()
    if compress is None:
        compress = path.endswith(".gz")
    if compress:
        # mtime=0 makes the bytes (and so their checksum) depend on the content only.
        body = gzip.compress(body, mtime=0)
    with open(path, "wb") as f:
        f.write(body)
