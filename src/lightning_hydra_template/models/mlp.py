"""Multi-layer perceptron over flattened pixels."""

from collections.abc import Callable, Sequence

import torch
from torch import nn


class MLP(nn.Module):
    """Flatten `[B, C, H, W]`, then Linear -> activation -> dropout per hidden size, then a head."""

    def __init__(
        self,
        in_channels: int,
        image_size: int,
        num_classes: int,
        hidden_sizes: Sequence[int] = (512, 512),
        dropout: float = 0.0,
        activation: Callable[[], nn.Module] = nn.ReLU,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        width = in_channels * image_size * image_size
        for hidden in hidden_sizes:
            layers += [nn.Linear(width, hidden), activation(), nn.Dropout(dropout)]
            width = hidden
        layers.append(nn.Linear(width, num_classes))
        self.layers = nn.Sequential(*layers)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.layers(images)  # [B, C, H, W] -> [B, num_classes]
