"""Checkpoint files written the database way: a temporary sibling, fsync, rename."""

from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from ..atomic_files import atomic_write_with
from ..errors import StorageError


class AtomicCheckpointIO(TorchCheckpointIO):
    """`torch.save` into a temporary file beside the target, fsync, rename.

    Lightning's own IO stages the file under `$TMPDIR` and moves it; across file systems that
    move truncates the old file first, so a full disk lost the good `best.ckpt`.
    """

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: str | Path, storage_options: Any = None
    ) -> None:
        path = Path(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_with(path, lambda f: torch.save(checkpoint, f))
        except (OSError, RuntimeError) as error:  # torch's zip writer reports a full disk as RuntimeError
            kept = (
                f"the previous {path.name} is unchanged" if path.exists() else f"no {path.name} was written"
            )
            raise StorageError(
                f"Could not write {path} ({error}); {kept}. Free space on that disk, or point the run "
                "elsewhere with paths.log_dir=/another/disk."
            ) from error
