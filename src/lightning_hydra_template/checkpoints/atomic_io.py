"""Checkpoint files written the database way (a temporary sibling, fsync, rename), and read once."""

import shutil
from collections.abc import Mapping
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

    `already_read` maps a checkpoint path to the dict the task read (and checked) from it: Lightning
    gets that dict instead of reading the file a second time. Each is handed over once, then
    dropped, so no second copy of the weights stays in memory.
    """

    def __init__(self, already_read: Mapping[str | Path, dict[str, Any]] | None = None) -> None:
        super().__init__()
        self.already_read = {_key(path): checkpoint for path, checkpoint in (already_read or {}).items()}

    def load_checkpoint(self, path: str | Path, *args: Any, **kwargs: Any) -> dict[str, Any]:
        checkpoint = self.already_read.pop(_key(path), None)
        return checkpoint if checkpoint is not None else super().load_checkpoint(path, *args, **kwargs)

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
            reason = error.__cause__ if isinstance(error, StorageError) else error  # atomic_open's, unwrapped
            if isinstance(reason, RuntimeError):
                reason = _full_disk(path.parent, _tensor_bytes(checkpoint)) or reason
            raise StorageError(
                f"Could not write {path} ({reason}); {kept}. Free space on that disk, or point the run "
                "elsewhere with paths.log_dir=/another/disk."
            ) from error


def _full_disk(folder: Path, needed: int) -> str | None:
    """The reason in words when `folder`'s disk cannot hold `needed` bytes.

    torch's C++ zip writer reports a full disk as "[enforce fail at inline_container.cc] unexpected
    pos ...", never as ENOSPC; the free space after the partial file is removed says what happened.
    """
    free = shutil.disk_usage(folder).free
    if free >= needed:
        return None
    megabytes = f"the checkpoint needs about {needed / 1e6:.1f} MB, {free / 1e6:.1f} MB are free"
    return f"No space left on device: {megabytes}"


def _tensor_bytes(value: Any) -> int:
    """The bytes of every tensor in a checkpoint dict: about the size of its file."""
    if isinstance(value, torch.Tensor):
        return value.nelement() * value.element_size()
    if isinstance(value, Mapping):
        return sum(_tensor_bytes(v) for v in value.values())
    if isinstance(value, list | tuple):
        return sum(_tensor_bytes(v) for v in value)
    return 0


def _key(path: str | Path) -> str:
    return str(Path(path).expanduser().resolve())
