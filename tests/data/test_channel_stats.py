import torch

from lightning_hydra_template.data import channel_stats as stats_module
from lightning_hydra_template.data.channel_stats import channel_stats


def test_chunked_statistics_equal_those_of_the_whole_split_in_one_go(monkeypatch):
    images = torch.randint(0, 256, (50, 3, 8, 8), dtype=torch.uint8)
    monkeypatch.setattr(stats_module, "CHUNK_IMAGES", 7)  # many chunks, the last one short
    mean, std = channel_stats(images)
    pixels = images.double().transpose(0, 1).reshape(3, -1) / 255
    assert torch.allclose(torch.tensor(mean, dtype=torch.float64), pixels.mean(dim=1))
    assert torch.allclose(torch.tensor(std, dtype=torch.float64), pixels.std(dim=1, unbiased=False))


def test_batches_from_a_loader_give_the_same_statistics_as_one_tensor():
    images = torch.randint(0, 256, (20, 1, 4, 4), dtype=torch.uint8)
    assert channel_stats(images.split(6)) == channel_stats(images)
