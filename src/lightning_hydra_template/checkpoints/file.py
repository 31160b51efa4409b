"""Open a checkpoint file for a task: every way it can be bad becomes a message that says what to do.

torch's own errors name neither the file nor a fix, and its `weights_only` refusal suggests
loading with `weights_only=False`, which runs whatever code the file holds: none of its text is
passed on. Checkpoints this template writes hold tensors and plain values only.

Every task (train's resume and init_from, eval, predict, export, serve, explain) opens its
checkpoint here first, so this is where damage is caught: `torch.load` does not verify the zip's
CRCs, and a file with a few flipped bytes otherwise loads into NaN (or plausible but wrong) weights.
"""

import re
import warnings
import zipfile
from pathlib import Path
from typing import Any

from ..errors import MissingFileError, UserError

CHECKPOINTS_ARE = "Checkpoints are in logs/train/runs/<run>/checkpoints/ (best.ckpt or last.ckpt)."
USE_ANOTHER = "Use another checkpoint, e.g. best.ckpt or last.ckpt from the same run's checkpoints/ folder."
LIGHTNING_KEYS = ("state_dict", "epoch", "global_step")  # what every Lightning checkpoint holds
ZIP_MAGIC = b"PK"  # torch.save writes a zip archive
PICKLE_PROTO = b"\x80"  # then the protocol number: a plain pickle, or torch's legacy format


class CheckpointError(UserError, ValueError):
    """A checkpoint file that cannot be used; the message names it and what to use instead."""


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """The Lightning checkpoint at `path`, on the CPU; a `UserError` saying why not, never a traceback."""
    path = Path(path).expanduser()
    head = first_bytes(path)
    import torch  # here, not at import: the tasks' --help must not load torch

    try:
        with warnings.catch_warnings():
            # torch's note on any plain pickle; the error below says what the file is instead.
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # foreign bytes make the unpickler raise anything (KeyError, OSError)
        raise CheckpointError(f"{path} {why_unloadable(head, error)} {USE_ANOTHER}") from None
    missing = [key for key in LIGHTNING_KEYS if not isinstance(checkpoint, dict) or key not in checkpoint]
    if missing:
        raise CheckpointError(
            f"{path} is a PyTorch file but not a Lightning checkpoint (it has no {', '.join(missing)}); "
            f"it was not written by this template's training. {USE_ANOTHER}"
        )
    if head.startswith(ZIP_MAGIC):
        check_crcs(path)
    check_finite(path, checkpoint["state_dict"])
    return checkpoint


def check_crcs(path: Path) -> None:
    """Every entry of the zip archive torch.save wrote matches the CRC recorded when it was written.

    Reads the file once more: 0.045 s for a 134 MB resnet18 checkpoint with its Adam state (in the
    page cache, 2-core machine), against 0.05 s for torch.load: the cost of never training from,
    evaluating or serving corrupted weights.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            damaged = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as error:
        raise CheckpointError(
            f"{path} is damaged: its zip archive does not read ({error}). {USE_ANOTHER}"
        ) from None
    if damaged is not None:
        raise CheckpointError(
            f"{path} is damaged: the bytes of {damaged} do not match the checksum recorded when it was "
            f"saved (corrupted on disk or in a copy). {USE_ANOTHER}"
        )


NET = "net."  # the network's tensors in the LightningModule's state dict


def check_finite(path: Path, state_dict: Any) -> None:
    """No floating-point tensor of the network holds NaN or infinity: training never saves such weights.

    The network's tensors only: a metric's state may be infinite by design (the best accuracy so
    far starts at -inf, as in a checkpoint saved before the first validation).
    """
    import torch

    if not isinstance(state_dict, dict):
        raise CheckpointError(f"{path} has no state_dict of tensors. {USE_ANOTHER}")
    for name, tensor in state_dict.items():
        if not name.startswith(NET) or not isinstance(tensor, torch.Tensor):
            continue
        if tensor.is_floating_point() and not tensor.isfinite().all():
            raise CheckpointError(
                f"{path} holds non-finite weights ({name} has NaN or infinity): it is damaged, or was "
                f"saved after training diverged. {USE_ANOTHER}"
            )


def first_bytes(path: Path) -> bytes:
    """The file's first bytes, which tell its kind; missing, a folder, unreadable or empty is said here."""
    if path.is_dir():
        raise CheckpointError(f"{path} is a folder, not a checkpoint file. {nearby(path)}")
    if not path.exists():
        raise MissingFileError(f"{path} does not exist. {nearby(path.parent)}")
    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except OSError as error:
        raise CheckpointError(f"{path} cannot be read ({error.strerror or error}).") from None
    if not head:
        raise CheckpointError(f"{path} is empty: the save that wrote it was interrupted. {USE_ANOTHER}")
    return head


def nearby(folder: Path) -> str:
    """The checkpoints in `folder` (or its checkpoints/), as a suggestion; else where they live."""
    found = sorted(folder.glob("*.ckpt")) + sorted(folder.glob("checkpoints/*.ckpt"))
    if not found:
        return CHECKPOINTS_ARE
    return "Checkpoints there: " + ", ".join(str(p) for p in found[:5]) + (", ..." if len(found) > 5 else "")


def why_unloadable(head: bytes, error: Exception) -> str:
    """What the file is, from its first bytes and torch's error, whose own text is not passed on."""
    # weights_only refused a class: its name tells whose file this is.
    refused = re.search(r"GLOBAL ([\w.]+)", str(error))
    if refused:
        return (
            f"is not a checkpoint this template wrote: it holds a Python object ({refused[1]}) besides "
            "tensors and plain values, and such files are not loaded because loading them can run any code."
        )
    if head.startswith(ZIP_MAGIC):
        return "is damaged: cut short or corrupted (a save or a copy was interrupted)."
    if head[:1] == PICKLE_PROTO and 2 <= head[1] <= 5:
        return "is a Python pickle, not a checkpoint this template wrote (or it is damaged)."
    return "is not a PyTorch checkpoint, or is damaged."


def checkpoint_summary(checkpoint: dict[str, Any]) -> dict[str, Any]:
    """Where training stood when `checkpoint` was saved.

    epoch, global_step: Lightning's counters (epoch is 0-based: the epoch running, or next to run).
    epoch_finished: True at an epoch boundary (resuming starts a new epoch), False mid-epoch
        (resuming replays the rest of it), None when the checkpoint holds no loop state.
    completed_epochs: training epochs whose every batch ran.
    """
    epoch, step = checkpoint["epoch"], checkpoint["global_step"]
    fit_loop = (checkpoint.get("loops") or {}).get("fit_loop") or {}
    epochs = (fit_loop.get("epoch_progress") or {}).get("current")
    if not epochs:  # no loop state: only the epochs whose end Lightning recorded are known
        return {"epoch": epoch, "global_step": step, "epoch_finished": None, "completed_epochs": epoch}
    # `processed` counts epochs whose batches all ran; `completed` lags it inside the epoch-end hooks,
    # where ModelCheckpoint saves. `ready` counts epochs started.
    finished_epochs, started_epochs = epochs["processed"], epochs["ready"]
    if finished_epochs < started_epochs and last_batch_ran(fit_loop):
        finished_epochs += 1  # saved after the epoch's last batch, before its end: Lightning resumes past it
    return {
        "epoch": epoch,
        "global_step": step,
        "epoch_finished": finished_epochs == started_epochs,
        "completed_epochs": finished_epochs,
    }


def last_batch_ran(fit_loop: dict[str, Any]) -> bool:
    batches = fit_loop.get("epoch_loop.batch_progress") or {}
    current = batches.get("current") or {}
    return bool(batches.get("is_last_batch")) and current.get("processed", 0) == current.get("ready", 0) > 0
