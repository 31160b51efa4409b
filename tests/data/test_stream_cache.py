"""data.storage=stream: encoded images written once into LitData chunks, checked first, never half-used."""

import os

import litdata
import pytest
import torch

from lightning_hydra_template.data import stream_cache
from lightning_hydra_template.data.csv_images import CSVImageDataModule
from lightning_hydra_template.data.loader_options import LoaderOptions
from lightning_hydra_template.errors import DataError

from ..helpers import COLOURS, rgb_jpegs_with_names, write_image

SPLITS = ("train", "val", "test")


def streamed(csv_path, tmp_path, loader: LoaderOptions | None = None, **kwargs) -> CSVImageDataModule:
    options = {"image_size": 16, "val_ratio": 0.25, "test_ratio": 0.25}
    datamodule = CSVImageDataModule(
        str(csv_path), cache_dir=str(tmp_path / "cache"), storage="stream",
        loader=loader or LoaderOptions(num_workers=0), **{**options, **kwargs},
    )  # fmt: skip
    datamodule.prepare_data()
    datamodule.setup()
    return datamodule


def every_sample(loader) -> tuple[torch.Tensor, torch.Tensor]:
    batches = list(loader)
    return torch.cat([images for images, _ in batches]), torch.cat([labels for _, labels in batches])


class OptimizeCounter:
    """Counts `litdata.optimize` calls (one per split written); `fail_at` interrupts one of them."""

    def __init__(self, monkeypatch, fail_at: int | None = None):
        self.calls, self.fail_at = 0, fail_at
        real = litdata.optimize

        def counting(*args, **kwargs):
            self.calls += 1
            if self.calls == self.fail_at:
                raise KeyboardInterrupt  # Ctrl-C, or the job's time limit, in the middle of writing
            return real(*args, **kwargs)

        monkeypatch.setattr(litdata, "optimize", counting)


def test_streamed_splits_hold_every_row_and_give_uint8_batches_of_the_image_size(tmp_path):
    csv_path = rgb_jpegs_with_names(tmp_path, per_class=4)
    datamodule = streamed(csv_path, tmp_path, LoaderOptions(batch_size=4, num_workers=2))
    in_memory = CSVImageDataModule(
        str(csv_path), cache_dir=str(tmp_path / "cache"), image_size=16, val_ratio=0.25, test_ratio=0.25
    )
    in_memory.prepare_data()
    assert datamodule.storage == "stream" and in_memory.storage == "memory"
    for split in SPLITS:
        images, labels = every_sample(getattr(datamodule, f"{split}_dataloader")())
        assert images.dtype == torch.uint8 and images.shape[1:] == (3, 16, 16)
        assert sorted(labels.tolist()) == sorted(in_memory.datasets[split].labels.tolist())
    images, labels = next(iter(datamodule.train_dataloader()))
    normalised, _ = datamodule.on_after_batch_transfer((images, labels), 0)
    assert normalised.dtype == torch.float32 and normalised.mean(dim=(0, 2, 3)).abs().max() < 1
    # What predict, export and serve redo: shorter side to 18 (16 / 0.875), the centre 16 px.
    assert datamodule.preprocess.describe()["resize"] == 18
    assert datamodule.example_images().shape == (1, 3, 16, 16)


def test_the_chunks_are_written_once_and_again_when_an_image_changes(tmp_path, monkeypatch):
    csv_path = rgb_jpegs_with_names(tmp_path, per_class=4)
    counter = OptimizeCounter(monkeypatch)
    first = streamed(csv_path, tmp_path)
    assert counter.calls == 3  # train, val, test
    streamed(csv_path, tmp_path)
    assert counter.calls == 3
    image = tmp_path / "images" / "cat0.jpg"
    write_image(image, COLOURS["fox"], (20, 24), grey=False, seed=0)
    os.utime(image, ns=(1, 1))
    second = streamed(csv_path, tmp_path)
    assert counter.calls == 6 and second.streams["train"] != first.streams["train"]


@pytest.fixture
def csv_with_bad_images(tmp_path):
    csv_path = rgb_jpegs_with_names(tmp_path, per_class=4)
    (tmp_path / "images" / "dog1.jpg").write_bytes(b"not an image")
    truncated = tmp_path / "images" / "fox2.jpg"
    truncated.write_bytes(truncated.read_bytes()[:200])
    return csv_path


def test_bad_images_in_a_streamed_dataset_are_all_reported_before_anything_is_written(
    csv_with_bad_images, tmp_path, monkeypatch
):
    counter = OptimizeCounter(monkeypatch)
    with pytest.raises(DataError) as error:
        streamed(csv_with_bad_images, tmp_path)
    message = str(error.value)
    assert (
        "images/dog1.jpg" in message and "images/fox2.jpg" in message and "data.on_bad_rows=skip" in message
    )
    assert counter.calls == 0 and not list((tmp_path / "cache").glob("*"))


def test_skipped_bad_images_are_left_out_of_the_chunks_and_reported_again_from_the_cache(
    csv_with_bad_images, tmp_path, caplog
):
    datamodule = streamed(csv_with_bad_images, tmp_path, on_bad_rows="skip")
    counts = [len(every_sample(getattr(datamodule, f"{s}_dataloader")())[1]) for s in SPLITS]
    assert sum(counts) == 10  # 12 rows, 2 of them bad
    caplog.clear()
    streamed(csv_with_bad_images, tmp_path, on_bad_rows="skip")
    assert "dog1.jpg" in caplog.text and "fox2.jpg" in caplog.text


def test_an_interrupted_optimisation_is_never_used(tmp_path, monkeypatch):
    csv_path = rgb_jpegs_with_names(tmp_path, per_class=4)
    OptimizeCounter(monkeypatch, fail_at=2)
    with pytest.raises(KeyboardInterrupt):
        streamed(csv_path, tmp_path)
    assert not list((tmp_path / "cache").glob("*"))  # the partial folder removed, nothing under the key
    # A process killed outright cannot clean up: its partial folder stays, and is ignored.
    monkeypatch.setattr(stream_cache.shutil, "rmtree", lambda *args, **kwargs: None)
    OptimizeCounter(monkeypatch, fail_at=2)
    with pytest.raises(KeyboardInterrupt):
        streamed(csv_path, tmp_path)
    [partial] = (tmp_path / "cache").glob("*")
    assert ".partial-" in partial.name
    monkeypatch.undo()
    counter = OptimizeCounter(monkeypatch)
    datamodule = streamed(csv_path, tmp_path)
    assert counter.calls == 3 and datamodule.streams["train"].parent.name.endswith(".stream")
    assert len(every_sample(datamodule.train_dataloader())[1]) == 6


def test_the_streaming_commands_of_the_docs_compose(compose_config, tmp_path):
    cfg = compose_config(["experiment=csv_cnn", "data.csv_path=/data/pets/labels.csv", "data.storage=stream",
                          "data.image_size=64"])  # fmt: skip
    assert cfg.data.storage == "stream" and cfg.data.augment.stream_transforms[0].size == 64
    augment = (
        "data.augment.stream_transforms=[{_target_: torchvision.transforms.v2.RandomResizedCrop, size: 224}, "
        "{_target_: torchvision.transforms.v2.TrivialAugmentWide}]"
    )
    cfg = compose_config(["experiment=csv_finetune", "data.csv_path=/data/pets/labels.csv", augment])
    assert cfg.data.augment.stream_transforms[1]._target_.endswith("TrivialAugmentWide")
