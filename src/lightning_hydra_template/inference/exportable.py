"""The network with its evaluation preprocessing inside: uint8 pixels in, class probabilities out.

What `export.py` writes (ONNX or a `torch.export` program), so a deployed model needs no
normalisation code of its own: give it the resized pixels, `[batch, channels, size, size]` uint8.
"""

import torch
from torch import nn

from .predictor import Predictor


class PixelsToProbabilities(nn.Module):
    def __init__(self, predictor: Predictor) -> None:
        super().__init__()
        self.net = predictor.model.net
        self.channels_last = predictor.model.channels_last
        mean = torch.as_tensor(predictor.preprocess.mean, dtype=torch.float32).reshape(1, -1, 1, 1)
        std = torch.as_tensor(predictor.preprocess.std, dtype=torch.float32).reshape(1, -1, 1, 1)
        # (x / 255 - mean) / std as one multiply-add, as BatchPreprocessor does it.
        self.register_buffer("scale", 1.0 / (255.0 * std))
        self.register_buffer("shift", -mean / std)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = images.float() * self.scale + self.shift
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return self.net(x).softmax(dim=-1)
