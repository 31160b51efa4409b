"""Write files so that a reader only ever sees the old version or the complete new one.

The temporary file lives in the target's own folder: a rename is atomic only within one file
system, and a move across file systems (the `$TMPDIR` route) truncates the old file first.
"""

import contextlib
import errno
import json
import math
import os
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from .errors import StorageError

HOST = socket.gethostname().replace(".", "-")  # in temporary names: whose processes left them

# A full disk, a quota, a file too large, a read-only file system or folder: the user's to fix.
UNWRITABLE = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES, errno.EPERM}


@contextlib.contextmanager
def atomic_open(path: Path | str, mode: str = "wb") -> Iterator[IO]:
    """Open a temporary sibling of `path`; on success fsync and rename it over `path`.

    On any error (a full disk, an interrupt) the temporary file is removed and `path` is untouched.
    A full or read-only disk is a `StorageError` naming `path`, said in one line by every task.
    """
    path = Path(path)
    remove_stale_temporaries(path)
    tmp = path.with_name(f".{path.name}.{HOST}.{os.getpid()}.tmp")
    try:
        with open(tmp, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as error:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        if isinstance(error, OSError) and error.errno in UNWRITABLE:
            kept = (
                f"the previous {path.name} is unchanged" if path.exists() else f"no {path.name} was written"
            )
            raise StorageError(
                f"Could not write {path} ({error.strerror}); {kept}. Free space on that disk, or write "
                "to another one."
            ) from error
        raise
    _fsync_dir(path.parent)


def remove_stale_temporaries(path: Path) -> None:
    """Remove the temporary siblings of `path` that processes of this host, now dead, left.

    A process killed outright (kill -9, out of memory) leaves its hidden temporary file behind;
    nothing else would ever remove it. The host is in the name: on a file system shared by several
    machines, a process number says nothing about another machine's processes.
    """
    prefix = f".{path.name}.{HOST}."
    with contextlib.suppress(OSError):  # a folder that does not exist yet, or cannot be listed
        for tmp in path.parent.iterdir():
            pid = tmp.name[len(prefix) : -len(".tmp")]
            if (
                tmp.name.startswith(prefix)
                and tmp.name.endswith(".tmp")
                and pid.isdigit()
                and not alive(int(pid))
            ):
                with contextlib.suppress(OSError):
                    tmp.unlink()


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, run by another user
        return True
    return True


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
