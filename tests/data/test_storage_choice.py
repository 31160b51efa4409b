import logging

import pytest

from lightning_hydra_template.data.csv_images import CSVImageDataModule
from lightning_hydra_template.data.loader_options import LoaderOptions
from lightning_hydra_template.data.storage_choice import available_memory, choose_storage
from lightning_hydra_template.errors import ConfigError

from ..helpers import rgb_jpegs_with_names

GB = 10**9


def test_auto_keeps_memory_while_the_decoded_images_fit_the_budget_and_says_why(caplog):
    with caplog.at_level(logging.INFO):
        assert choose_storage("auto", 4 * GB, memory_fraction=0.5, available=10 * GB) == "memory"
        assert choose_storage("auto", 6 * GB, memory_fraction=0.5, available=10 * GB) == "stream"
    assert "chose memory: the decoded images (4.00 GB) fit data.memory_fraction=0.5" in caplog.text
    assert "chose stream: the decoded images (6.00 GB) exceed" in caplog.text


def test_an_explicit_storage_is_kept_and_a_wrong_one_named():
    assert choose_storage("stream", 1, 0.5, available=10 * GB) == "stream"
    assert choose_storage("memory", 100 * GB, 0.5, available=10 * GB) == "memory"
    with pytest.raises(ConfigError, match="data.storage must be one of memory, stream, auto"):
        choose_storage("disk", 1, 0.5)
    with pytest.raises(ConfigError, match="data.memory_fraction"):
        choose_storage("auto", 1, 0.0)


def test_available_memory_is_a_positive_number_of_bytes():
    assert available_memory() > 0


def test_the_datamodule_streams_what_does_not_fit_its_budget(tmp_path, caplog):
    csv_path = rgb_jpegs_with_names(tmp_path, per_class=4)
    options = {"cache_dir": str(tmp_path / "cache"), "image_size": 16, "val_ratio": 0.25, "test_ratio": 0.25}
    small = CSVImageDataModule(str(csv_path), **options)
    small.prepare_data()
    assert small.storage == "memory"  # 12 images of 16 px: kilobytes
    with caplog.at_level(logging.INFO):
        workers = LoaderOptions(num_workers=0)
        tight = CSVImageDataModule(str(csv_path), memory_fraction=1e-12, loader=workers, **options)
        tight.prepare_data()
    assert tight.storage == "stream" and "data.storage=auto chose stream" in caplog.text


def test_under_ddp_every_process_takes_the_first_processs_choice(tmp_path):
    from types import SimpleNamespace

    csv_path = rgb_jpegs_with_names(tmp_path, per_class=4)
    # The second process of a DDP run: it skipped prepare_data; the first one chose to stream.
    datamodule = CSVImageDataModule(
        str(csv_path), cache_dir=str(tmp_path / "cache"), image_size=16, val_ratio=0.25, test_ratio=0.25,
        loader=LoaderOptions(num_workers=0),
    )  # fmt: skip
    datamodule.trainer = SimpleNamespace(
        world_size=2, is_global_zero=False, strategy=SimpleNamespace(broadcast=lambda obj, src: "stream")
    )
    datamodule.setup("fit")
    assert datamodule.storage == "stream"  # though its own auto would have kept a few KB in memory
