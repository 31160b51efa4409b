"""One writer per run folder: a run (or resume) holds an exclusive lock on `<run>/run.lock`.

Two trainings in one folder (the same `hydra.run.dir` twice, a resume while the run still goes
on, a requeued job while the old one still stops) would interleave their logs and overwrite each
other's checkpoints. The kernel's `flock` is released when its process dies, however it dies, so
a lock is never stale; the file also names its holder, for the message the second process gets,
and is emptied when the run ends, so a name left in it says that run was killed.
"""

import fcntl
import logging
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from ..errors import UserError

log = logging.getLogger(__name__)

LOCK_FILE = "run.lock"


class RunFolderInUse(UserError):
    """Another process is training in this run folder; the message names it."""


@contextmanager
def run_folder_lock(run_dir: Path) -> Iterator[None]:
    """Hold `run_dir`'s lock for the block, or stop at once naming the process that holds it."""
    run_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(run_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd) or "a process that has not written its name yet"
            raise RunFolderInUse(
                f"{run_dir} is in use by another training ({holder}): wait for it to end or stop it; "
                "a new run needs a folder of its own (leave hydra.run.dir out)."
            ) from None
        previous = _holder(fd)
        if previous:
            log.warning(
                "Took over the lock of %s: its holder (%s) ended without releasing it.", run_dir, previous
            )
        since = datetime.now().isoformat(timespec="seconds")
        me = f"host {socket.gethostname()}, pid {os.getpid()}, since {since}"
        os.ftruncate(fd, 0)
        os.pwrite(fd, me.encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)  # ended, not killed: nobody to name
    finally:
        os.close(fd)  # releases the lock


def _holder(fd: int) -> str:
    return os.pread(fd, 4096, 0).decode(errors="replace").strip()
