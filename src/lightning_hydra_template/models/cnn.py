"""Convolutional network: blocks of 3x3 conv + batch norm + ReLU, each ending in a 2x2 max-pool."""

from collections.abc import Sequence

import torch
from torch import nn

from ..errors import ConfigError


def conv_block(in_channels: int, out_channels: int, convs: int) -> nn.Sequential:
    """`convs` x (3x3 conv, BN, ReLU), then halve the resolution."""
    layers: list[nn.Module] = []
    for i in range(convs):
        layers += [
            # No conv bias: the batch norm that follows has its own.
            nn.Conv2d(in_channels if i == 0 else out_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        ]
    layers.append(nn.MaxPool2d(2))
    return nn.Sequential(*layers)


class CNN(nn.Module):
    """`features` (conv blocks) then `head` (flatten, dropout, hidden linear, dropout, classifier)."""

    def __init__(
        self,
        in_channels: int,
        image_size: int,
        num_classes: int,
        channels: Sequence[int] = (32, 64),
        convs_per_block: int = 2,
        hidden_size: int = 128,
        dropout: float = 0.3,
    ) -> None:
        super().__init__()
        side = image_size // 2 ** len(channels)
        if side < 1:
            raise ConfigError(
                f"{len(channels)} pooling blocks shrink a {image_size}px image to nothing; "
                f"use fewer entries in model.net.channels or a larger data.image_size."
            )
        widths = [in_channels, *channels]
        self.features = nn.Sequential(
            *(conv_block(c_in, c_out, convs_per_block) for c_in, c_out in zip(widths, widths[1:]))
        )
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Dropout(dropout),
            nn.Linear(widths[-1] * side * side, hidden_size),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(hidden_size, num_classes),
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        # [B, C, H, W] -> [B, channels[-1], H / 2^k, W / 2^k] -> [B, num_classes]
        return self.head(self.features(images))
