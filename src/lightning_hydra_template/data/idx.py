"""Read IDX files (the MNIST family's format), gzipped or not, into uint8 tensors."""

import gzip
import math
import zlib
from pathlib import Path

import numpy as np
import torch

from ..errors import DataError

# The third byte of the magic number names the element type; MNIST-style data is uint8 only.
_UINT8 = 0x08
# What gzip raises on a damaged `.gz`: bad header or CRC, a cut-off stream, bad deflate data.
_GZIP_ERRORS = (gzip.BadGzipFile, EOFError, zlib.error)


def broken_file(path: Path, what: str) -> DataError:
    """The error for a damaged download: name the file and the fix."""
    return DataError(f"{path} {what}; delete it and re-download it (or put a good copy there).")


def _read_bytes(path: Path) -> bytes:
    if path.suffix != ".gz":
        return path.read_bytes()
    try:
        with gzip.open(path, "rb") as f:
            return f.read()
    except _GZIP_ERRORS as error:
        raise broken_file(path, f"is not a complete gzip file ({error})") from None


def read_idx(path: Path) -> torch.Tensor:
    """Decode an IDX file (`.gz` or plain) into a uint8 tensor of the shape its header gives."""
    data = _read_bytes(path)
    if not data:
        raise broken_file(path, "is empty")
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise broken_file(path, "is not an IDX file (bad magic number)")
    if data[2] != _UINT8:
        raise broken_file(path, f"has IDX element type {data[2]:#x}, not uint8")
    ndim = data[3]
    header_end = 4 + 4 * ndim
    if len(data) < header_end:
        raise broken_file(path, "is truncated inside its header")
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = math.prod(shape)
    if len(data) - header_end != expected:
        raise broken_file(
            path,
            f"is truncated or corrupt: header says {shape} ({expected} bytes), "
            f"file holds {len(data) - header_end}",
        )
    array = np.frombuffer(data, dtype=np.uint8, offset=header_end).reshape(shape)
    return torch.from_numpy(array.copy())


def write_idx(path: Path, array: np.ndarray) -> None:
    """Write a uint8 array as an IDX file, gzipped when the name ends in `.gz`."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, _UINT8, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wb") as f:
        f.write(header + array.tobytes())
