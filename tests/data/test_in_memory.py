import logging
import warnings

import pytest
import torch

from lightning_hydra_template.data.in_memory import InMemoryBatches, InMemoryDataModule, InMemoryImages
from lightning_hydra_template.data.loader_options import LoaderOptions


def dataset(n: int = 10) -> InMemoryImages:
    images = torch.arange(n, dtype=torch.uint8).reshape(n, 1, 1, 1).expand(n, 1, 2, 2).contiguous()
    return InMemoryImages(images, torch.arange(n) % 3)


def test_batches_cover_every_sample_once_with_its_label():
    batches = list(InMemoryBatches(dataset(), batch_size=4, shuffle=True))
    assert [len(y) for _, y in batches] == [4, 4, 2]
    ids = torch.cat([x[:, 0, 0, 0] for x, _ in batches]).long()
    assert sorted(ids.tolist()) == list(range(10))
    assert torch.equal(torch.cat([y for _, y in batches]), ids % 3)


def labels_of(loader: InMemoryBatches) -> torch.Tensor:
    return torch.cat([y for _, y in loader])


def test_the_order_depends_only_on_seed_and_epoch_and_evaluation_keeps_order():
    loader = InMemoryBatches(dataset(50), batch_size=10, shuffle=True, seed=7)
    loader.set_epoch(0)  # without a trainer, the caller says which epoch this is
    first = labels_of(loader)
    loader.set_epoch(1)
    second = labels_of(loader)
    assert not torch.equal(first, second)
    again = InMemoryBatches(dataset(50), batch_size=10, shuffle=True, seed=7)
    again.set_epoch(1)
    assert torch.equal(labels_of(again), second)  # a new process (a resumed run) repeats epoch 1
    in_order = next(iter(InMemoryBatches(dataset(50), batch_size=50, shuffle=False)))[0][:, 0, 0, 0]
    assert torch.equal(in_order.long(), torch.arange(50))


def test_a_resumed_loader_goes_on_from_the_next_batch_of_its_epoch():
    uninterrupted = InMemoryBatches(dataset(50), batch_size=10, shuffle=True, seed=7)
    uninterrupted.set_epoch(3)
    expected = [y for _, y in uninterrupted][2:]
    resumed = InMemoryBatches(dataset(50), batch_size=10, shuffle=True, seed=7)
    resumed.resume(epoch=3, batches_done=2)  # before Lightning has restored the epoch counter
    assert [y.tolist() for _, y in resumed] == [y.tolist() for y in expected]
    assert len(list(resumed)) == 5  # only the first pass is shortened


def test_ddp_ranks_share_one_permutation_and_split_it_evenly():
    torch.manual_seed(0)
    ranks = [InMemoryBatches(dataset(10), batch_size=2, shuffle=True, rank=r, world_size=3) for r in range(3)]
    assert [len(r) for r in ranks] == [2, 2, 2]  # 10 samples padded to 12, 4 per rank
    seen = [torch.cat([x[:, 0, 0, 0] for x, _ in r]).tolist() for r in ranks]
    assert all(len(s) == 4 for s in seen)
    assert set(sum(seen, [])) == set(range(10))


def test_single_items_and_workers_path_still_work():
    data = dataset()
    image, label = data[3]
    assert image.shape == (1, 2, 2) and label == 0
    images, labels = data.__getitems__([1, 2])
    assert images.shape == (2, 1, 2, 2) and labels.tolist() == [1, 2]


def test_moving_to_a_device_keeps_the_samples():
    moved = dataset().to(torch.device("cpu"))
    batch = next(iter(InMemoryBatches(moved, batch_size=3, shuffle=False)))
    assert batch[0].device.type == "cpu" and batch[1].tolist() == [0, 1, 2]


@pytest.mark.parametrize(
    ("workers", "level", "said"),
    [(0, logging.INFO, "replayed exactly (num_workers=0)"), (2, logging.WARNING, "drawn from a new shuffle")],
)
def test_a_mid_epoch_resume_says_once_what_holds_for_the_rest_of_the_epoch(caplog, workers, level, said):
    datamodule = InMemoryDataModule(LoaderOptions(batch_size=4, num_workers=workers))
    with caplog.at_level(logging.INFO, logger="lightning_hydra_template.data.in_memory"):
        datamodule.load_state_dict({"train_position": [1, 3]})
        datamodule.load_state_dict({"train_position": [2, 0]})  # at an epoch's start: nothing to say
    [record] = caplog.records
    assert record.levelno == level and "Resuming at batch 3 of epoch 1" in record.getMessage()
    assert said in record.getMessage()
    with warnings.catch_warnings(record=True) as caught:  # the filters as they are now, ours included
        warnings.warn(LIGHTNINGS_WARNING, UserWarning, stacklevel=1)
    assert not caught  # Lightning's own warning is not said besides


LIGHTNINGS_WARNING = (
    "You're resuming from a checkpoint that ended before the epoch ended and your dataloader is not "
    "resumable. This can cause unreliable results if further training is done."
)
