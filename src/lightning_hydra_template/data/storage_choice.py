"""memory or stream: whether a dataset's decoded images are held in memory or streamed from chunks."""

import logging
from pathlib import Path

from ..errors import ConfigError

log = logging.getLogger(__name__)
STORAGES = ("memory", "stream", "auto")


def available_memory() -> int:
    """Bytes this process can still take: the least of the machine's and its cgroup's headroom.

    Written here because psutil (and /proc/meminfo alone) report the machine's memory, not the
    memory cgroup's limit a container or a batch job runs under, which is what the kernel enforces.
    """
    candidates = []
    meminfo = _read(Path("/proc/meminfo"))
    for line in (meminfo or "").splitlines():
        if line.startswith("MemAvailable:"):
            candidates.append(int(line.split()[1]) * 1024)
    for limit_file, usage_file in (
        ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),  # cgroup v2
        ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes"),  # v1
    ):
        limit, usage = _read(Path(limit_file)), _read(Path(usage_file))
        if limit and usage and limit.strip().isdigit() and usage.strip().isdigit():
            headroom = int(limit) - int(usage)
            if int(limit) < 1 << 60:  # "no limit" is written as a huge number
                candidates.append(max(headroom, 0))
    if not candidates:  # not Linux: assume room for 8 GB
        return 8 << 30
    return min(candidates)


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


def choose_storage(
    storage: str, decoded_bytes: int, memory_fraction: float, available: int | None = None
) -> str:
    """`memory` or `stream` for `data.storage`, saying in one log line which and why."""
    if storage not in STORAGES:
        raise ConfigError(f"data.storage must be one of {', '.join(STORAGES)}, got {storage!r}.")
    if not 0 < memory_fraction <= 1:
        raise ConfigError(f"data.memory_fraction must be in (0, 1], got {memory_fraction}.")
    if storage != "auto":
        return storage
    available = available_memory() if available is None else available
    budget = int(available * memory_fraction)
    chosen = "memory" if decoded_bytes <= budget else "stream"
    relation = "fit" if chosen == "memory" else "exceed"
    log.info(
        "data.storage=auto chose %s: the decoded images (%.2f GB) %s data.memory_fraction=%s of the "
        "%.2f GB available (%.2f GB).",
        chosen,
        decoded_bytes / 1e9,
        relation,
        memory_fraction,
        available / 1e9,
        budget / 1e9,
    )
    return chosen
