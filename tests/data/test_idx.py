import gzip

import numpy as np
import pytest

from lightning_hydra_template.data.idx import read_idx, write_idx


@pytest.mark.parametrize("name", ["images-idx3-ubyte", "images-idx3-ubyte.gz"])
def test_idx_round_trip_plain_and_gzipped(tmp_path, name):
    array = np.random.default_rng(0).integers(0, 256, size=(7, 28, 28), dtype=np.uint8)
    write_idx(tmp_path / name, array)
    decoded = read_idx(tmp_path / name)
    assert decoded.shape == (7, 28, 28)
    assert np.array_equal(decoded.numpy(), array)


def test_truncated_file_names_itself_and_the_fix(tmp_path):
    path = tmp_path / "labels-idx1-ubyte.gz"
    write_idx(path, np.arange(10, dtype=np.uint8))
    path.write_bytes(gzip.compress(gzip.decompress(path.read_bytes())[:-3]))
    with pytest.raises(ValueError, match=r"labels-idx1-ubyte.gz is truncated.*re-download"):
        read_idx(path)


def test_non_idx_file_is_rejected(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("hello")
    with pytest.raises(ValueError, match="not an IDX file"):
        read_idx(path)
