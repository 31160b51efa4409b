"""Rows from every process of a run, in rank order: predictions for pictures drawn on rank zero."""

import lightning as L
import torch


def gather_rows(pl_module: L.LightningModule, rows: torch.Tensor) -> torch.Tensor:
    """`rows` of every process concatenated (each may hold a different number); all ranks must call.

    `all_gather` needs equal shapes, so each process pads its rows to the longest and the padding
    is cut off again after the exchange.
    """
    if pl_module.trainer.world_size == 1:
        return rows
    counts = pl_module.all_gather(torch.tensor(len(rows), device=rows.device)).flatten().tolist()
    padded = rows.new_zeros((max(counts), *rows.shape[1:]))
    padded[: len(rows)] = rows
    gathered = pl_module.all_gather(padded)  # [world_size, max(counts), ...]
    return torch.cat([part[:count] for part, count in zip(gathered, counts)])
