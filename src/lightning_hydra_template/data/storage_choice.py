"""memory or stream: whether a dataset's decoded images are held in memory or streamed from chunks."""

import logging
from pathlib import Path

from ..errors import ConfigError

log = logging.getLogger(__name__)
STORAGES = ("memory", "stream", "auto")


def available_memory() -> int:
    """Bytes this process can still take: the least of the machine's and its memory cgroups' headroom.

    Written here because psutil (and /proc/meminfo alone) report the machine's memory, not the
    memory cgroup's limit a container or a batch job runs under, which is what the kernel enforces.
    """
    candidates = []
    meminfo = _read(Path("/proc/meminfo"))
    for line in (meminfo or "").splitlines():
        if line.startswith("MemAvailable:"):
            candidates.append(int(line.split()[1]) * 1024)
    folders = memory_cgroups(_read(Path("/proc/self/cgroup")) or "")
    candidates += [headroom for folder in folders if (headroom := cgroup_headroom(folder)) is not None]
    if not candidates:  # not Linux: assume room for 8 GB
        return 8 << 30
    return min(candidates)


def memory_cgroups(listing: str) -> list[Path]:
    """The folders of a process's memory cgroup and of each one above it (a limit may sit on any).

    `listing` is the process's /proc/<pid>/cgroup: a batch job's cgroup (SLURM's
    /slurm/uid_N/job_N, say) is a sub-folder of /sys/fs/cgroup unless the process runs in a cgroup
    namespace of its own, so the files at the top are not its limits.
    """
    folders = []
    for line in listing.splitlines():
        _, controllers, path = line.split(":", 2)
        if controllers == "":  # cgroup v2: one hierarchy
            root = Path("/sys/fs/cgroup")
        elif "memory" in controllers.split(","):
            root = Path("/sys/fs/cgroup/memory")
        else:
            continue
        folder = root / path.strip("/")
        while True:
            folders.append(folder)
            if folder == root:
                break
            folder = folder.parent
    return folders


def cgroup_headroom(folder: Path) -> int | None:
    """Limit minus usage of one cgroup folder, the inactive page cache counted as free (the kernel
    reclaims it first, and docker stats counts it so), or None where it sets no limit."""
    for limit_file, usage_file, inactive in (
        ("memory.max", "memory.current", "inactive_file"),  # cgroup v2
        ("memory.limit_in_bytes", "memory.usage_in_bytes", "total_inactive_file"),  # v1
    ):
        limit, usage = _read(folder / limit_file), _read(folder / usage_file)
        if not (limit and usage and limit.strip().isdigit() and usage.strip().isdigit()):
            continue
        if int(limit) >= 1 << 60:  # "no limit" is written as a huge number (v1)
            return None
        stat = dict(
            line.split()[:2] for line in (_read(folder / "memory.stat") or "").splitlines() if " " in line
        )
        reclaimable = int(stat.get(inactive, 0)) if stat.get(inactive, "").isdigit() else 0
        return max(int(limit) - int(usage) + reclaimable, 0)
    return None


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


def affordable_processes(
    wanted: int, each: int, memory_fraction: float, what: str, available: int | None = None
) -> int:
    """How many of `wanted` processes of about `each` bytes fit `memory_fraction` of the memory available.

    Streaming forks processes (LitData's writers, the loaders' workers), each with memory of its own
    on top of the run's: under a memory limit (a container, a batch job) fewer of them is the
    difference between a slower run and one the kernel kills. Says so in one log line when it cuts.
    """
    available = available_memory() if available is None else available
    fit = int(available * memory_fraction) // each
    if fit >= wanted:
        return wanted
    log.info(
        "data.memory_fraction=%s of the %.2f GB available fits %d %s of about %d MB each, not %d: using %d.",
        memory_fraction,
        available / 1e9,
        fit,
        what,
        each >> 20,
        wanted,
        fit,
    )
    return fit
