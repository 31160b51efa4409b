"""Streamed samples: augmented in workers from (seed, epoch, sample), resumable mid-epoch, sharded by rank."""

import io

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.transforms import v2

from lightning_hydra_template.data.augment_options import AugmentOptions
from lightning_hydra_template.data.csv_images import CSVImageDataModule
from lightning_hydra_template.data.loader_options import LoaderOptions
from lightning_hydra_template.data.streamed_images import decoded, release_inherited_heap
from lightning_hydra_template.errors import ConfigError

from ..helpers import rgb_jpegs_with_names


def streamed(
    csv_path, cache_dir, seed: int = 7, stream_transforms=None, num_workers: int = 2
) -> CSVImageDataModule:
    torch.manual_seed(seed)  # the datamodule's seed is the run's, as after seed_everything
    datamodule = CSVImageDataModule(
        str(csv_path), cache_dir=str(cache_dir), storage="stream", image_size=16, val_ratio=0.25,
        test_ratio=0.25, loader=LoaderOptions(batch_size=3, num_workers=num_workers),
        augment=AugmentOptions(stream_transforms=stream_transforms),
    )  # fmt: skip
    datamodule.prepare_data()
    datamodule.setup()
    return datamodule


@pytest.fixture(scope="module")
def csv_path(tmp_path_factory):
    return rgb_jpegs_with_names(tmp_path_factory.mktemp("photos"), per_class=8)


def test_a_loader_resumed_mid_epoch_gives_the_rest_of_the_epoch_bit_exact(csv_path, tmp_path):
    transforms = [v2.RandomResizedCrop(16), v2.RandomHorizontalFlip(), v2.TrivialAugmentWide()]
    whole = list(streamed(csv_path, tmp_path, stream_transforms=transforms).train_dataloader())
    assert len(whole) == 4  # 12 training images in batches of 3

    interrupted = streamed(csv_path, tmp_path, stream_transforms=transforms).train_dataloader()
    batches = iter(interrupted)
    for _ in range(2):
        next(batches)
    state = interrupted.state_dict()  # what Lightning saves in a mid-epoch checkpoint
    resumed = streamed(csv_path, tmp_path, stream_transforms=transforms).train_dataloader()
    resumed.load_state_dict(state)
    rest = list(resumed)
    assert len(rest) == 2
    for (images, labels), (expected_images, expected_labels) in zip(rest, whole[2:]):
        assert torch.equal(labels, expected_labels) and torch.equal(images, expected_images)


def test_each_epoch_shuffles_and_augments_anew_from_the_runs_seed(csv_path, tmp_path):
    loader = streamed(csv_path, tmp_path).train_dataloader()
    first, second = list(loader), list(loader)
    assert not torch.equal(torch.cat([x for x, _ in first]), torch.cat([x for x, _ in second]))
    again = list(streamed(csv_path, tmp_path).train_dataloader())
    assert all(torch.equal(a[0], b[0]) for a, b in zip(first, again))  # same seed, same epoch: same
    other = list(streamed(csv_path, tmp_path, seed=8).train_dataloader())
    assert not all(torch.equal(a[0], b[0]) for a, b in zip(first, other))


def test_evaluation_batches_are_the_centre_crop_and_repeat_exactly(csv_path, tmp_path):
    datamodule = streamed(csv_path, tmp_path)
    first, second = list(datamodule.val_dataloader()), list(datamodule.val_dataloader())
    assert all(torch.equal(a[0], b[0]) for a, b in zip(first, second))


def test_transforms_that_do_not_reach_the_image_size_are_named_at_setup(csv_path, tmp_path):
    with pytest.raises(ConfigError, match=r"stream_transforms gave a torch.uint8 image of shape"):
        streamed(csv_path, tmp_path, stream_transforms=[v2.RandomHorizontalFlip()])


def test_no_stream_transforms_prepares_training_images_as_for_evaluation(csv_path, tmp_path):
    datamodule = streamed(csv_path, tmp_path, stream_transforms=[], num_workers=0)
    images, _ = next(iter(datamodule.train_dataloader()))
    assert images.shape == (3, 3, 16, 16)


def encoded(image: Image.Image, format: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=format, **options)
    return buffer.getvalue()


def test_a_training_photo_reaches_the_transforms_upright_at_full_size_as_a_uint8_tensor():
    upright = np.zeros((20, 30, 3), np.uint8)
    upright[:, :15] = 255  # white left half
    stored = Image.fromarray(upright).transpose(Image.Transpose.ROTATE_90)  # as the camera stored it
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 clockwise to view
    pixels = decoded(encoded(stored, "JPEG", quality=95, exif=exif), channels=3)
    assert pixels.dtype == torch.uint8 and pixels.shape == (3, 20, 30)  # upright, not resized
    assert pixels[:, :, :13].min() > 200 and pixels[:, :, 17:].max() < 50
    assert decoded(encoded(stored, "JPEG"), channels=1).shape == (1, 30, 20)  # grey, as stored


def test_a_16_bit_training_image_keeps_its_shades_as_evaluation_reads_them():
    ramp = (np.arange(256, dtype=np.uint16) * 257).reshape(16, 16)
    pixels = decoded(encoded(Image.fromarray(ramp), "PNG"), channels=1)
    assert torch.equal(pixels[0], torch.arange(256, dtype=torch.uint8).reshape(16, 16))


def test_streaming_loader_workers_give_back_the_heap_they_share_first(csv_path, tmp_path):
    datamodule = streamed(csv_path, tmp_path)
    for loader in (datamodule.train_dataloader(), datamodule.val_dataloader()):
        assert loader.worker_init_fn is release_inherited_heap
    release_inherited_heap(0)  # harmless in any process: glibc's malloc_trim, or nothing


def stream_run(csv_path, run_dir, *extra: str) -> list[str]:
    return [
        "train.py", "experiment=csv_cnn", f"data.csv_path={csv_path}",
        f"data.cache_dir={run_dir.parent / 'cache'}",
        "data.storage=stream", "data.loader.num_workers=2", "data.image_size=16", "data.loader.batch_size=3",
        "model.net.channels=[8,16]", "model.net.hidden_size=16", "trainer.max_epochs=2",
        "trainer.accelerator=cpu", "test=false", "callbacks.rich_progress_bar=null",
        "callbacks.rich_model_summary=null", f"hydra.run.dir={run_dir}", *extra,
    ]  # fmt: skip


@pytest.mark.slow
def test_a_streamed_run_stopped_mid_epoch_and_resumed_ends_with_the_uninterrupted_weights(csv_path, tmp_path):
    import signal

    from ..helpers import run

    whole = run(*stream_run(csv_path, tmp_path / "whole"))
    assert whole.returncode == 0, whole.stderr[-3000:]
    stopped = run(
        *stream_run(csv_path, tmp_path / "stopped"),
        "+callbacks.fault._target_=tests.helpers.SignalAtStep", "+callbacks.fault.step=6",
        f"+callbacks.fault.signum={int(signal.SIGTERM)}",
    )  # fmt: skip
    last = tmp_path / "stopped" / "checkpoints" / "last.ckpt"
    assert (
        stopped.returncode == 128 + signal.SIGTERM and torch.load(last)["global_step"] == 6
    )  # epoch 1, batch 2
    resumed = run("train.py", f"ckpt_path={last}", "++callbacks.fault=null")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    expected = torch.load(tmp_path / "whole" / "checkpoints" / "last.ckpt")["state_dict"]
    for name, tensor in torch.load(last)["state_dict"].items():
        assert torch.equal(tensor, expected[name]), name


@pytest.mark.slow
def test_under_ddp_each_process_streams_its_own_shard_in_as_many_batches(csv_path, tmp_path):
    import json

    from ..helpers import run

    record = tmp_path / "record"
    result = run(
        *stream_run(csv_path, tmp_path / "ddp"), "trainer=ddp_sim", "data.augment.stream_transforms=[]",
        "+callbacks.record._target_=tests.helpers.RecordTrainingBatches",
        f"+callbacks.record.folder={record}",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    for epoch in (0, 1):
        ranks = [json.loads((record / f"rank{r}-epoch{epoch}.json").read_text()) for r in (0, 1)]
        assert len(ranks[0]) == len(ranks[1]) == 3  # 18 training images, 9 a process, batches of 3
        seen = [{digest for batch in batches for digest in batch} for batches in ranks]
        assert len(seen[0]) == len(seen[1]) == 9 and not seen[0] & seen[1]  # disjoint shards
