"""Mixup and cutmix: each training batch blended with itself, labels become class probabilities."""

import torch
from torchvision.transforms import v2

from ..errors import ConfigError


class BatchMixing:
    """torchvision's batched `v2.MixUp` / `v2.CutMix` (one of the two per batch when both are on).

    Each draws one mixing share lambda ~ Beta(alpha, alpha) per batch and pairs every image with
    its neighbour in the batch (the batch rolled by one): mixup blends the two images, cutmix pastes
    a rectangle of the neighbour. The labels become `[B, K]` probabilities in the same shares,
    which the losses of `configs/loss/` take as targets. Runs on the batch's device; its draws come
    from torch's generator, which the datamodule seeds per batch, so a resumed run mixes the same.
    """

    def __init__(self, num_classes: int, mixup_alpha: float = 0.0, cutmix_alpha: float = 0.0) -> None:
        if mixup_alpha < 0 or cutmix_alpha < 0:
            raise ConfigError(
                "data.augment.mixup_alpha and data.augment.cutmix_alpha must be >= 0 (0: off), "
                f"got {mixup_alpha}, {cutmix_alpha}."
            )
        mixers = []
        if mixup_alpha > 0:
            mixers.append(v2.MixUp(alpha=mixup_alpha, num_classes=num_classes))
        if cutmix_alpha > 0:
            mixers.append(v2.CutMix(alpha=cutmix_alpha, num_classes=num_classes))
        if not mixers:
            raise ConfigError(
                "BatchMixing needs data.augment.mixup_alpha or data.augment.cutmix_alpha above 0."
            )
        self.mix = mixers[0] if len(mixers) == 1 else v2.RandomChoice(mixers)

    def __call__(self, images: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """float `[B, C, H, W]` and int `[B]` -> mixed images and `[B, K]` label probabilities."""
        return self.mix(images, labels)


def batch_mixing(num_classes: int, mixup_alpha: float, cutmix_alpha: float) -> BatchMixing | None:
    """The mixing a datamodule applies to its training batches; None when both are off."""
    if mixup_alpha == 0 and cutmix_alpha == 0:
        return None
    return BatchMixing(num_classes, mixup_alpha, cutmix_alpha)
