"""LSTM that reads an image as a sequence of its rows."""

import torch
from torch import nn


class RowLSTM(nn.Module):
    """Each of the H rows is one time step of C*W features; the last hidden state classifies."""

    reads_rows_as_steps = True  # explain.py sums attributions per row: per time step

    def __init__(
        self,
        in_channels: int,
        image_size: int,
        num_classes: int,
        hidden_size: int = 128,
        num_layers: int = 2,
        bidirectional: bool = False,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.lstm = nn.LSTM(
            input_size=in_channels * image_size,
            hidden_size=hidden_size,
            num_layers=num_layers,
            batch_first=True,
            bidirectional=bidirectional,
            dropout=dropout if num_layers > 1 else 0.0,
        )
        directions = 2 if bidirectional else 1
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(directions * hidden_size, num_classes))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        b, c, h, w = images.shape
        rows = images.permute(0, 2, 1, 3).reshape(b, h, c * w)  # [B, C, H, W] -> [B, H, C*W]
        _, (h_n, _) = self.lstm(rows)  # h_n: [layers * directions, B, hidden]
        directions = 2 if self.lstm.bidirectional else 1
        last_layer = h_n[-directions:]  # forward (and backward) state of the top layer
        return self.head(last_layer.permute(1, 0, 2).reshape(b, -1))  # [B, num_classes]
