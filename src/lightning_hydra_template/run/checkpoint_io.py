"""Checkpoint files written the database way: a temporary sibling, fsync, rename."""

from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from .atomic_files import atomic_write_with


class AtomicCheckpointIO(TorchCheckpointIO):
    """`torch.save` into a temporary file beside the target, fsync, rename.

    Lightning's own IO stages the file under `$TMPDIR` and moves it; across file systems that
    move truncates the old file first, so a full disk lost the good `best.ckpt`.
    """

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: str | Path, storage_options: Any = None
    ) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_with(path, lambda f: torch.save(checkpoint, f))
