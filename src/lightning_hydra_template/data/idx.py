"""Read IDX files (the MNIST family's format), gzipped or not, into uint8 tensors."""

import gzip
from pathlib import Path

import numpy as np
import torch

from ..errors import DataError

# The third byte of the magic number names the element type; MNIST-style data is uint8 only.
_UINT8 = 0x08


def read_idx(path: Path) -> torch.Tensor:
    """Decode an IDX file (`.gz` or plain) into a uint8 tensor of the shape its header gives."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise DataError(f"{path} is not an IDX file (bad magic number); re-download it.")
    if data[2] != _UINT8:
        raise DataError(f"{path}: IDX element type {data[2]:#x} is not uint8.")
    ndim = data[3]
    header_end = 4 + 4 * ndim
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = int(np.prod(shape))
    if len(data) - header_end != expected:
        raise DataError(
            f"{path} is truncated or corrupt: header says {shape} ({expected} bytes), "
            f"file holds {len(data) - header_end}; delete it and re-download."
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
