"""Write files so that a reader only ever sees the old version or the complete new one.

The temporary file lives in the target's own folder: a rename is atomic only within one file
system, and a move across file systems (the `$TMPDIR` route) truncates the old file first.
"""

import contextlib
import json
import math
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any


@contextlib.contextmanager
def atomic_open(path: Path | str, mode: str = "wb") -> Iterator[IO]:
    """Open a temporary sibling of `path`; on success fsync and rename it over `path`.

    On any error (a full disk, an interrupt) the temporary file is removed and `path` is untouched.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    _fsync_dir(path.parent)


def atomic_write_bytes(path: Path | str, data: bytes) -> None:
    with atomic_open(path, "wb") as f:
        f.write(data)


def atomic_write_text(path: Path | str, text: str) -> None:
    with atomic_open(path, "w") as f:
        f.write(text)


def atomic_write_with(path: Path | str, write: Callable[[IO], Any]) -> None:
    """`write(file)` into a temporary sibling, then rename (e.g. `np.save`, `torch.save`)."""
    with atomic_open(path, "wb") as f:
        write(f)


def strict_json(value: Any) -> Any:
    """`value` with NaN and infinities replaced by None: strict JSON has no literal for them."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: strict_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [strict_json(v) for v in value]
    return value


def atomic_write_json(path: Path | str, value: Any) -> None:
    """Strict JSON (no NaN/Infinity literals), written atomically."""
    atomic_write_text(path, json.dumps(strict_json(value), indent=2, allow_nan=False) + "\n")


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable (a crash right after must not bring the old file back)."""
    with contextlib.suppress(OSError):  # not every file system lets a folder be opened
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
