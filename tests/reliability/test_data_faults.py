"""What the data modules promise when their input is damaged; each test injects one fault.

A bad input ends in a `DataError` whose message names the file (and the row) and the fix, before
training starts. A damaged or unwritable image cache costs a decode, never the run.
"""

import errno
import logging
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from lightning_hydra_template.data import image_cache
from lightning_hydra_template.data.csv_annotations import read_rows
from lightning_hydra_template.data.csv_images import CSVImageDataModule
from lightning_hydra_template.data.idx import read_idx, write_idx
from lightning_hydra_template.errors import DataError

from ..helpers import (
    COLOURS,
    fashion_mnist_datamodule,
    rgb_jpegs_with_names,
    write_csv,
    write_fake_fashion_mnist,
    write_image,
)

SPLITS = ("train", "val", "test")


def make(csv_path: Path, cache_dir: Path, **kwargs) -> CSVImageDataModule:
    kwargs.setdefault("image_size", 16)
    datamodule = CSVImageDataModule(str(csv_path), cache_dir=str(cache_dir), **kwargs)
    datamodule.prepare_data()
    datamodule.setup()
    return datamodule


@pytest.fixture
def decodes(monkeypatch) -> list[int]:
    """How many images each decode pass decoded (a cache hit adds nothing)."""
    calls: list[int] = []
    real = image_cache.decode_all

    def counting(files, *args, **kwargs):
        calls.append(len(files))
        return real(files, *args, **kwargs)

    monkeypatch.setattr(image_cache, "decode_all", counting)
    return calls


def csv_rows(csv_path: Path) -> tuple[str, list[str]]:
    header, *rows = csv_path.read_text().splitlines()
    return header, rows


# --- IDX files (FashionMNIST) -------------------------------------------------------------

IDX_DAMAGE = {
    "truncated": lambda data: data[: len(data) // 2],
    "random bytes": lambda data: np.random.default_rng(0).bytes(len(data)),
    "corrupt deflate stream": lambda data: data[:10] + np.random.default_rng(1).bytes(len(data) - 10),
    "empty": lambda data: b"",
}


@pytest.mark.parametrize("damage", IDX_DAMAGE)
def test_a_damaged_idx_gz_is_named_with_the_fix(tmp_path, damage):
    path = tmp_path / "train-images-idx3-ubyte.gz"
    write_idx(path, np.random.default_rng(0).integers(0, 256, size=(50, 28, 28), dtype=np.uint8))
    path.write_bytes(IDX_DAMAGE[damage](path.read_bytes()))
    with pytest.raises(DataError) as error:
        read_idx(path)
    assert str(path) in str(error.value) and "delete it and re-download it" in str(error.value)


def test_fashion_mnist_finds_a_broken_test_file_before_training(tmp_path):
    root = write_fake_fashion_mnist(tmp_path)
    broken = root / "FashionMNIST" / "raw" / "t10k-labels-idx1-ubyte.gz"
    broken.write_bytes(broken.read_bytes()[:20])
    datamodule = fashion_mnist_datamodule(root, val_size=100)
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte.gz is not a complete gzip file"):
        datamodule.setup("fit")


def test_fashion_mnist_fit_keeps_the_test_split_for_later(fake_data_dir):
    datamodule = fashion_mnist_datamodule(fake_data_dir, val_size=100)
    datamodule.setup("fit")
    assert len(datamodule.datasets["test"]) == 100


def test_fashion_mnist_image_and_label_files_must_agree(tmp_path):
    root = write_fake_fashion_mnist(tmp_path)
    raw = root / "FashionMNIST" / "raw"
    (raw / "t10k-labels-idx1-ubyte.gz").write_bytes((raw / "train-labels-idx1-ubyte.gz").read_bytes())
    with pytest.raises(DataError, match=r"t10k-images.* holds \(100, 28, 28\) .* holds \(400,\)"):
        fashion_mnist_datamodule(root, val_size=100).setup("fit")


# --- the annotations CSV ------------------------------------------------------------------


def png_bytes(tmp_path: Path) -> bytes:
    write_image(tmp_path / "picture.png", COLOURS["cat"], (8, 8), grey=False, seed=0)
    return (tmp_path / "picture.png").read_bytes()


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(lambda tmp_path: np.random.default_rng(0).bytes(2000), id="random bytes"),
        pytest.param(png_bytes, id="an image"),
        pytest.param(lambda tmp_path: b"a.png,cat\nb.png,dog\0\0\n", id="NUL bytes"),
        pytest.param(lambda tmp_path: "a.png,chat\nb.png,lévrier\n".encode("latin-1"), id="not UTF-8"),
    ],
)
def test_a_binary_file_given_as_the_csv_is_named(tmp_path, content):
    path = tmp_path / "labels.csv"
    path.write_bytes(content(tmp_path))
    with pytest.raises(DataError, match="is not a text CSV") as error:
        read_rows(path)
    assert str(path) in str(error.value)


def test_a_csv_with_a_single_class_needs_another(tmp_path, decodes):
    csv_path = rgb_jpegs_with_names(tmp_path, per_class=4)
    header, rows = csv_rows(csv_path)
    write_csv(csv_path, header, [r for r in rows if r.endswith(",cat")])
    with pytest.raises(DataError, match=r"labels.csv has 4 rows, all labelled 'cat'; .* at least 2 classes"):
        make(csv_path, tmp_path / "cache")
    assert decodes == []  # said before any image is opened


def test_a_one_row_csv_says_so(tmp_path, decodes):
    csv_path = rgb_jpegs_with_names(tmp_path, per_class=1)
    header, rows = csv_rows(csv_path)
    write_csv(csv_path, header, rows[:1])
    with pytest.raises(DataError, match=r"labels.csv has 1 row, .* at least 2 classes: add rows"):
        make(csv_path, tmp_path / "cache")
    assert decodes == []


def test_too_few_rows_for_the_ratio_split_say_how_many_and_what_to_do(tmp_path, decodes):
    csv_path = rgb_jpegs_with_names(tmp_path, per_class=3)
    with pytest.raises(DataError) as error:
        make(csv_path, tmp_path / "cache", val_ratio=0.1, test_ratio=0.1)
    assert str(error.value) == (
        f"{csv_path} has 9 rows, and the val split gets none of them; raise data.val_ratio, "
        "or add rows (6 rows of one class give it one at data.val_ratio=0.1)."
    )
    assert decodes == []


# --- duplicates and split overlap ---------------------------------------------------------


def test_the_same_image_twice_is_an_error_naming_both_rows(tmp_path):
    csv_path = rgb_jpegs_with_names(tmp_path, per_class=10)
    (tmp_path / "images" / "alias.jpg").symlink_to("cat2.jpg")
    header, rows = csv_rows(csv_path)
    write_csv(
        csv_path, header, [*rows, "./images/cat0.jpg,cat", "images/x/../cat1.jpg,cat", "images/alias.jpg,cat"]
    )
    with pytest.raises(DataError) as error:
        make(csv_path, tmp_path / "cache")
    message = str(error.value)
    assert message.startswith("3 bad rows: 3 duplicate file")
    assert "labels.csv line 32: './images/cat0.jpg': duplicate file: also on labels.csv line 2" in message
    assert "line 33: 'images/x/../cat1.jpg': duplicate file: also on labels.csv line 3" in message
    assert "line 34: 'images/alias.jpg': duplicate file: also on labels.csv line 4" in message


def test_duplicates_can_be_dropped_with_a_warning_saying_how_many(tmp_path, caplog):
    csv_path = rgb_jpegs_with_names(tmp_path, per_class=10)
    header, rows = csv_rows(csv_path)
    write_csv(csv_path, header, [*rows, rows[0], rows[1]])
    with caplog.at_level(logging.WARNING):
        datamodule = make(csv_path, tmp_path / "cache", on_bad_rows="skip")
    assert "Skipping 2 bad rows: 2 duplicate file" in caplog.text
    assert sum(len(datamodule.datasets[s]) for s in SPLITS) == 30


def split_with_overlap(root: Path, method: str) -> dict:
    """30 images split 18/6/6, plus 3 rows that list a used image again in another split."""
    csv_path = rgb_jpegs_with_names(root, per_class=10)
    header, rows = csv_rows(csv_path)
    split_of = {i: ("val", "test", "train", "train", "train")[i % 5] for i in range(len(rows))}
    again = [(rows[2], "val"), (rows[0], "test"), (rows[3], "test")]  # train, val, train images
    if method == "ratios":
        write_csv(csv_path, header, [*rows, *(row for row, _ in again)])
        return {"csv_path": csv_path}
    listed = [(row, split_of[i]) for i, row in enumerate(rows)] + again
    if method == "split column":
        write_csv(csv_path, f"{header},split", [f"{row},{split}" for row, split in listed])
        return {"csv_path": csv_path, "split_column": "split"}
    files = {
        s: write_csv(root / f"{s}.csv", header, [r for r, split in listed if split == s]) for s in SPLITS
    }
    return {"csv_path": files["train"], "val_csv": str(files["val"]), "test_csv": str(files["test"])}


@pytest.mark.parametrize("method", ["split files", "split column", "ratios"])
def test_an_image_listed_in_two_splits_is_an_error(tmp_path, method):
    kwargs = split_with_overlap(tmp_path, method)
    with pytest.raises(DataError, match=r"^3 bad rows: 3 duplicate file"):
        make(cache_dir=tmp_path / "cache", **kwargs)


@pytest.mark.parametrize("method", ["split files", "split column", "ratios"])
def test_no_image_is_in_two_splits_after_skipping(tmp_path, method):
    kwargs = split_with_overlap(tmp_path, method)
    datamodule = make(cache_dir=tmp_path / "cache", on_bad_rows="skip", **kwargs)
    images = {s: {bytes(x.numpy()) for x in datamodule.datasets[s].images} for s in SPLITS}
    assert sum(len(images[s]) for s in SPLITS) == 30
    assert not images["train"] & images["val"]
    assert not images["train"] & images["test"]
    assert not images["val"] & images["test"]


def test_without_a_test_csv_testing_reuses_the_validation_rows_and_says_so(tmp_path, caplog):
    csv_path = rgb_jpegs_with_names(tmp_path, per_class=4)
    header, rows = csv_rows(csv_path)
    train = write_csv(tmp_path / "train.csv", header, rows[0::2])
    val = write_csv(tmp_path / "val.csv", header, rows[1::2])
    with caplog.at_level(logging.WARNING):
        datamodule = make(train, tmp_path / "cache", val_csv=str(val))
    assert "testing on the validation rows" in caplog.text
    assert torch.equal(datamodule.datasets["test"].images, datamodule.datasets["val"].images)


# --- symlinks -------------------------------------------------------------------------------


def test_a_symlink_leading_out_of_image_dir_is_a_bad_row(tmp_path):
    csv_path = rgb_jpegs_with_names(tmp_path / "pets", per_class=10)
    write_image(tmp_path / "elsewhere" / "secret.jpg", COLOURS["cat"], (20, 20), grey=False, seed=0)
    (tmp_path / "pets" / "images" / "link.jpg").symlink_to(tmp_path / "elsewhere" / "secret.jpg")
    (tmp_path / "pets" / "images" / "linked_folder").symlink_to(tmp_path / "elsewhere")
    header, rows = csv_rows(csv_path)
    write_csv(csv_path, header, [*rows, "images/link.jpg,cat", "images/linked_folder/secret.jpg,cat"])
    with pytest.raises(DataError) as error:
        make(csv_path, tmp_path / "cache")
    message = str(error.value)
    assert message.startswith("2 bad rows: 2 path outside image_dir")
    assert "line 32: 'images/link.jpg': path outside image_dir: a symlink leads out" in message
    assert "line 33: 'images/linked_folder/secret.jpg': path outside image_dir" in message


def test_a_symlink_inside_image_dir_is_followed(tmp_path):
    csv_path = rgb_jpegs_with_names(tmp_path, per_class=10)
    (tmp_path / "images" / "alias.jpg").symlink_to("cat0.jpg")
    csv_path.write_text(csv_path.read_text().replace("images/cat0.jpg,", "images/alias.jpg,"))
    datamodule = make(csv_path, tmp_path / "cache")
    assert sum(len(datamodule.datasets[s]) for s in SPLITS) == 30


# --- the image cache ----------------------------------------------------------------------


def all_images(datamodule: CSVImageDataModule) -> torch.Tensor:
    return torch.cat([datamodule.datasets[s].images for s in SPLITS])


def cache_files(cache_dir: Path) -> tuple[Path, Path]:
    (array,) = cache_dir.glob("*.npy")
    return array, array.with_suffix(".json")


CACHE_DAMAGE = {
    "truncated array": lambda array, meta: array.write_bytes(array.read_bytes()[:-100]),
    "zeroed array": lambda array, meta: np.save(array, np.zeros_like(np.load(array))),
    "corrupt record": lambda array, meta: meta.write_text('{"shape": [30, 3'),
    "no record": lambda array, meta: meta.unlink(),
    "edited header": lambda array, meta: edit_header_shape(array),
}


def edit_header_shape(array: Path) -> None:
    """The header's first dimension made huge, the file's size kept: loading it asked for 128 TiB."""
    data = array.read_bytes()
    header_end = data.index(b"\n") + 1
    header = data[:header_end].decode("latin1")
    edited = header.replace("(30,", "(9999999999999,", 1)
    edited = edited[: len(header) - 1].ljust(len(header) - 1) + "\n"  # same length: same file size
    assert edited != header and len(edited) == len(header)
    array.write_bytes(edited.encode("latin1") + data[header_end:])


@pytest.mark.parametrize("damage", CACHE_DAMAGE)
def test_a_damaged_cache_is_rebuilt_with_a_warning(tmp_path, decodes, caplog, damage):
    csv_path = rgb_jpegs_with_names(tmp_path, per_class=10)
    first = make(csv_path, tmp_path / "cache")
    CACHE_DAMAGE[damage](*cache_files(tmp_path / "cache"))
    with caplog.at_level(logging.WARNING):
        second = make(csv_path, tmp_path / "cache")
    assert "is damaged" in caplog.text and "decoding the images again" in caplog.text
    assert torch.equal(all_images(second), all_images(first))
    make(csv_path, tmp_path / "cache")
    assert decodes == [30, 30]  # the rebuilt cache is read by the next run


def full_disk_save(file, array, **kwargs):
    """`np.save` on a disk that fills up halfway through the array."""
    file.write(b"\x93NUMPY" + bytes(100))
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def full_disk_record(path, value):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


@pytest.mark.parametrize(
    ("target", "full_disk"),
    [
        (f"{np.__name__}.save", full_disk_save),
        (f"{image_cache.__name__}.atomic_write_json", full_disk_record),
    ],
    ids=["array", "record"],
)
def test_a_full_disk_while_caching_leaves_no_file_and_the_run_goes_on(
    tmp_path, monkeypatch, caplog, target, full_disk
):
    csv_path = rgb_jpegs_with_names(tmp_path, per_class=10)
    reference = make(csv_path, tmp_path / "good_cache")
    monkeypatch.setattr(target, full_disk)
    with caplog.at_level(logging.WARNING):
        datamodule = make(csv_path, tmp_path / "cache")
    assert "Could not write the image cache" in caplog.text and "No space left on device" in caplog.text
    assert list((tmp_path / "cache").iterdir()) == []  # neither a temporary file nor half a cache
    assert torch.equal(all_images(datamodule), all_images(reference))


def test_a_cache_that_does_not_fit_on_a_real_file_system_is_skipped(tmp_path, small_file_system, caplog):
    tiny_file_system = small_file_system("64k")
    csv_path = rgb_jpegs_with_names(tmp_path, per_class=10)
    with caplog.at_level(logging.WARNING):  # 30 x 3 x 32 x 32 bytes: more than 64 KiB
        datamodule = make(csv_path, tiny_file_system / "cache", image_size=32)
    assert "Could not write the image cache" in caplog.text
    assert list((tiny_file_system / "cache").iterdir()) == []
    assert sum(len(datamodule.datasets[s]) for s in SPLITS) == 30
