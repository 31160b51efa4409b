"""A dataset of uint8 images held in memory, batched by indexing instead of per-sample collation."""

from collections.abc import Sequence

import torch
from torch.utils.data import Dataset


class InMemoryImages(Dataset):
    """uint8 images `[N, C, H, W]` and int64 labels `[N]`; a batch is one indexing op.

    The DataLoader calls `__getitems__` with a batch of indices, so a batch costs one gather
    rather than `batch_size` Python calls and a collate. Workers (if any) share these tensors.
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor) -> None:
        if images.dtype != torch.uint8 or images.ndim != 4:
            raise ValueError(f"images must be uint8 [N, C, H, W], got {images.dtype} {tuple(images.shape)}")
        if len(images) != len(labels):
            raise ValueError(f"{len(images)} images but {len(labels)} labels")
        self.images = images
        self.labels = labels.long()

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.images[index], self.labels[index]

    def __getitems__(self, indices: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
        index = torch.as_tensor(indices)
        return self.images[index], self.labels[index]


def keep_batch(batch: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Collate for `InMemoryImages`: `__getitems__` already returns a whole batch."""
    return batch
