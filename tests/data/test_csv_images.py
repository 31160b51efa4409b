import csv
import logging
import os
from collections import Counter
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from lightning_hydra_template.data import image_cache
from lightning_hydra_template.data.augment_options import AugmentOptions
from lightning_hydra_template.data.csv_images import CSVImageDataModule
from lightning_hydra_template.errors import ConfigError, DataError

from ..helpers import COLOURS, grey_pngs_headerless, rgb_jpegs_with_names, write_image


def make(csv_path, tmp_path, **kwargs) -> CSVImageDataModule:
    kwargs.setdefault("image_size", 16)
    datamodule = CSVImageDataModule(str(csv_path), cache_dir=str(tmp_path / "cache"), **kwargs)
    datamodule.prepare_data()
    datamodule.setup()
    return datamodule


def test_rgb_jpegs_of_any_size_with_string_labels(tmp_path):
    csv_path = rgb_jpegs_with_names(tmp_path)
    datamodule = make(csv_path, tmp_path, file_column="image", label_column="species", val_ratio=0.2)
    assert datamodule.class_names == ["cat", "dog", "fox"] and datamodule.num_classes == 3
    # Stratified: 2 of each class's 10 rows in val and in test, the rest in train.
    assert [len(datamodule.datasets[s]) for s in ("train", "val", "test")] == [21, 6, 3]
    assert torch.bincount(datamodule.datasets["val"].labels).tolist() == [2, 2, 2]
    images, labels = next(iter(datamodule.train_dataloader()))
    assert images.dtype == torch.uint8 and images.shape[1:] == (3, 16, 16)
    images, _ = datamodule.on_after_batch_transfer((images, labels), 0)
    # Normalised with the training split's own statistics: about zero mean per channel.
    assert images.mean(dim=(0, 2, 3)).abs().max() < 0.5


def test_grey_pngs_headerless_with_integer_labels_and_names(tmp_path):
    csv_path = grey_pngs_headerless(tmp_path)
    datamodule = make(
        csv_path,
        tmp_path,
        image_dir=str(tmp_path / "images"),
        channels=1,
        image_size=28,
        class_names=["zero", "one", "two"],
        mean=0.5,
        std=0.25,
    )
    assert datamodule.class_names == ["zero", "one", "two"]
    assert datamodule.datasets["train"].images.shape[1:] == (1, 28, 28)
    assert sorted(set(datamodule.datasets["train"].labels.tolist())) == [0, 1, 2]


def test_colour_images_become_grey_and_grey_become_colour(tmp_path):
    csv_path = rgb_jpegs_with_names(tmp_path, per_class=4)
    grey = make(csv_path, tmp_path, channels=1, val_ratio=0.25, test_ratio=0.25)
    assert grey.datasets["train"].images.shape[1] == 1
    csv_path = grey_pngs_headerless(tmp_path / "g", per_class=4)
    colour = make(
        csv_path, tmp_path, image_dir=str(tmp_path / "g" / "images"), val_ratio=0.25, test_ratio=0.25
    )
    images = colour.datasets["train"].images
    assert images.shape[1] == 3 and torch.equal(images[:, 0], images[:, 1])


def test_split_column(tmp_path):
    rgb_jpegs_with_names(tmp_path, per_class=3)
    lines = (tmp_path / "labels.csv").read_text().splitlines()
    splits = ["train", "train", "val", "train", "validation", "test", "train", "TEST", "val"]
    text = "image,species,split\n" + "\n".join(f"{line},{s}" for line, s in zip(lines[1:], splits))
    (tmp_path / "split.csv").write_text(text)
    datamodule = make(tmp_path / "split.csv", tmp_path, split_column="split")
    assert [len(datamodule.datasets[s]) for s in ("train", "val", "test")] == [4, 3, 2]


def test_one_csv_per_split(tmp_path):
    rgb_jpegs_with_names(tmp_path, per_class=4)
    header, *rows = (tmp_path / "labels.csv").read_text().splitlines()
    for name, part in (("train", rows[0::2]), ("val", rows[1::4]), ("test", rows[3::4])):
        (tmp_path / f"{name}.csv").write_text("\n".join([header, *part]) + "\n")
    datamodule = make(
        tmp_path / "train.csv",
        tmp_path,
        val_csv=str(tmp_path / "val.csv"),
        test_csv=str(tmp_path / "test.csv"),
    )
    assert [len(datamodule.datasets[s]) for s in ("train", "val", "test")] == [6, 3, 3]


@pytest.fixture
def dataset_with_bad_rows(tmp_path):
    csv_path = grey_pngs_headerless(tmp_path, per_class=6)
    (tmp_path / "images" / "broken.png").write_bytes(b"this is not a png")
    (tmp_path / "outside.png").write_bytes(b"")
    bad = ["missing.png, 1", "/etc/passwd, 1", "../outside.png, 2", "img_0_0.png, one", "broken.png, 0"]
    with open(csv_path, "a") as f:
        f.write("\n".join(bad) + "\n")
    return csv_path


def test_every_bad_row_is_reported_at_once_with_line_and_file(dataset_with_bad_rows, tmp_path):
    with pytest.raises(DataError) as error:
        make(dataset_with_bad_rows, tmp_path, image_dir=str(tmp_path / "images"), channels=1)
    message = str(error.value)
    assert message.startswith("5 bad rows:")
    for count_kind in ("2 path outside image_dir", "1 missing file", "1 bad label", "1 undecodable image"):
        assert count_kind in message
    assert "annotations.csv line 19: 'missing.png': missing file" in message
    assert "line 20: '/etc/passwd': path outside image_dir" in message
    assert "line 21: '../outside.png'" in message
    assert "line 22: 'img_0_0.png': bad label: label 'one' is not a non-negative integer" in message
    assert "line 23: 'broken.png': undecodable image" in message
    assert "data.on_bad_rows=skip" in message


def test_a_csv_whose_paths_are_relative_to_another_folder_names_the_folder_not_skipping(tmp_path):
    # The CSV of images-to-csv, given without data.image_dir: skipping would skip every row.
    csv_path = grey_pngs_headerless(tmp_path, per_class=6)
    for on_bad_rows in ("error", "skip"):
        with pytest.raises(DataError) as error:
            make(csv_path, tmp_path, channels=1, on_bad_rows=on_bad_rows)
        message = str(error.value)
        assert f"Most files were looked up under data.image_dir={tmp_path} and are not there" in message
        assert "set data.image_dir=<that folder>" in message and "on_bad_rows=skip" not in message


def test_16_bit_pngs_train_on_the_same_pixels_as_their_8_bit_originals(tmp_path):
    csv_path = grey_pngs_headerless(tmp_path, per_class=10)
    eight_bit = make(csv_path, tmp_path, image_dir=str(tmp_path / "images"), channels=1, mean=0.5, std=0.25)
    for path in (tmp_path / "images").glob("*.png"):
        grey = np.asarray(Image.open(path), dtype=np.uint16)
        Image.fromarray(grey * 257).save(path)  # the same image as a 16-bit PNG (mode I;16)
    sixteen_bit = make(
        csv_path, tmp_path / "16", image_dir=str(tmp_path / "images"), channels=1, mean=0.5, std=0.25
    )
    for split in ("train", "val", "test"):
        assert torch.equal(sixteen_bit.datasets[split].images, eight_bit.datasets[split].images)


def test_the_run_folder_records_which_rows_went_to_which_split(tmp_path):
    csv_path = rgb_jpegs_with_names(tmp_path, per_class=10)
    datamodule = CSVImageDataModule(
        str(csv_path), cache_dir=str(tmp_path / "cache"), image_size=16, val_ratio=0.2
    )
    datamodule.trainer = SimpleNamespace(
        default_root_dir=str(tmp_path / "run"), is_global_zero=True, world_size=1
    )  # as fit
    (tmp_path / "run").mkdir()
    datamodule.prepare_data()
    datamodule.setup("fit")
    with open(tmp_path / "run" / "splits.csv") as f:
        rows = list(csv.DictReader(f))
    assert Counter(row["split"] for row in rows) == {"train": 21, "val": 6, "test": 3}
    assert len({row["file"] for row in rows}) == 30 and rows[0]["file"].startswith("images/")
    val = [row for row in rows if row["split"] == "val"]
    assert Counter(row["label"] for row in val) == {"cat": 2, "dog": 2, "fox": 2}  # stratified, by name


def test_bad_rows_can_be_skipped_with_a_warning(dataset_with_bad_rows, tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        datamodule = make(
            dataset_with_bad_rows,
            tmp_path,
            image_dir=str(tmp_path / "images"),
            channels=1,
            on_bad_rows="skip",
        )
    assert "Skipping 5 bad rows" in caplog.text
    assert sum(len(d) for d in datamodule.datasets.values()) == 18


def test_a_class_only_in_validation_is_an_error(tmp_path):
    rgb_jpegs_with_names(tmp_path, per_class=3)
    header, *rows = (tmp_path / "labels.csv").read_text().splitlines()
    cats, dogs, foxes = rows[0:3], rows[3:6], rows[6:9]
    (tmp_path / "train.csv").write_text("\n".join([header, *cats[:2], *dogs]))
    (tmp_path / "val.csv").write_text("\n".join([header, cats[2], *foxes]))
    with pytest.raises(DataError, match=r"Classes \['fox'\] appear in the val split but never in training"):
        make(tmp_path / "train.csv", tmp_path, val_csv=str(tmp_path / "val.csv"))


def test_a_split_without_samples_says_how_to_fill_it(tmp_path):
    rgb_jpegs_with_names(tmp_path, per_class=10)
    with pytest.raises(
        DataError, match=r"30 rows, and the test split gets none of them; raise data.test_ratio"
    ):
        make(tmp_path / "labels.csv", tmp_path, test_ratio=0.0)


def test_bad_settings_name_their_key(tmp_path):
    with pytest.raises(ConfigError, match="data.on_bad_rows"):
        CSVImageDataModule("x.csv", on_bad_rows="ignore")
    with pytest.raises(ConfigError, match="data.val_ratio"):
        CSVImageDataModule("x.csv", val_ratio=0.6, test_ratio=0.5)
    csv_path = rgb_jpegs_with_names(tmp_path, per_class=10)
    with pytest.raises(ConfigError, match=r"data.num_classes=5, but the CSV has 3 classes"):
        make(csv_path, tmp_path, num_classes=5)


class DecodeCounter:
    def __init__(self, monkeypatch):
        self.calls = 0
        real = image_cache.decode_image

        def counting(*args):
            self.calls += 1
            return real(*args)

        monkeypatch.setattr(image_cache, "decode_image", counting)


def test_images_are_decoded_once_and_cached_across_runs(tmp_path, monkeypatch):
    csv_path = rgb_jpegs_with_names(tmp_path, per_class=4)
    counter = DecodeCounter(monkeypatch)
    make(csv_path, tmp_path, val_ratio=0.25, test_ratio=0.25)
    assert counter.calls == 12
    second = make(csv_path, tmp_path, val_ratio=0.25, test_ratio=0.25)
    assert counter.calls == 12 and len(second.datasets["train"]) == 6
    make(csv_path, tmp_path, val_ratio=0.25, test_ratio=0.25, image_size=8)  # other settings, other cache
    assert counter.calls == 24


def all_images(datamodule: CSVImageDataModule) -> torch.Tensor:
    return torch.cat([datamodule.datasets[s].images for s in ("train", "val", "test")])


def test_a_changed_image_or_csv_invalidates_the_cache(tmp_path, monkeypatch):
    csv_path = rgb_jpegs_with_names(tmp_path, per_class=4)
    counter = DecodeCounter(monkeypatch)
    first = make(csv_path, tmp_path, val_ratio=0.25, test_ratio=0.25)
    image = tmp_path / "images" / "cat0.jpg"
    write_image(image, COLOURS["fox"], (20, 24), grey=False, seed=0)
    os.utime(image, ns=(1, 1))  # a new modification time even on coarse clocks
    second = make(csv_path, tmp_path, val_ratio=0.25, test_ratio=0.25)
    assert counter.calls == 24
    assert not torch.equal(all_images(first), all_images(second))
    csv_path.write_text(csv_path.read_text() + "\n")  # the same rows, other bytes
    make(csv_path, tmp_path, val_ratio=0.25, test_ratio=0.25)
    assert counter.calls == 36  # the same 12 files, decoded again for the changed CSV


def test_checkpointed_class_list_must_match_the_csv(tmp_path):
    csv_path = rgb_jpegs_with_names(tmp_path, per_class=10)
    datamodule = CSVImageDataModule(str(csv_path), cache_dir=str(tmp_path / "cache"))
    datamodule.load_state_dict(datamodule.state_dict())
    with pytest.raises(DataError, match="trained on classes"):
        datamodule.load_state_dict({"class_names": ["ant", "bee"]})


def test_torchvision_v2_transforms_augment_training_batches_only(tmp_path):
    from torchvision.transforms import v2

    csv_path = rgb_jpegs_with_names(tmp_path, per_class=4)
    datamodule = make(
        csv_path,
        tmp_path,
        val_ratio=0.25,
        test_ratio=0.25,
        mean=0.0,
        std=1.0,
        augment=AugmentOptions(transforms=[v2.RandomErasing(p=1.0, value=0)]),
    )
    batch = next(iter(datamodule.test_dataloader()))
    assert datamodule.preprocess(batch[0], training=False).min() > 0  # no erasing at evaluation
    erased = datamodule.preprocess(batch[0], training=True)
    assert erased.shape == batch[0].shape and (erased == 0).any()


def test_in_memory_splits_are_slices_of_one_decoded_array_not_copies(tmp_path):
    csv_path = rgb_jpegs_with_names(tmp_path, per_class=4)
    datamodule = make(csv_path, tmp_path, val_ratio=0.25, test_ratio=0.25)
    storages = {datamodule.datasets[s].images.untyped_storage().data_ptr() for s in ("train", "val", "test")}
    assert len(storages) == 1  # each image held once, whatever the number of images
