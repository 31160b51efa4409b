"""Where a run came from: `provenance.json` in its folder, so a result can be traced back.

It records the code (the git commit, and a patch of the uncommitted changes beside it, when the
project is a git checkout), the command as typed, the Python, torch and CUDA versions and every
installed package's version (from `importlib.metadata`: no `pip freeze` subprocess), and the host.
A resumed run appends a start of its own: the code may have changed between the two.
"""

import importlib.metadata
import json
import logging
import os
import platform
import shutil
import socket
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..config.project import PROJECT_ROOT

log = logging.getLogger(__name__)

PROVENANCE_FILE = "provenance.json"
GIT_TIMEOUT_S = 10  # a git on a hung network file system must not hold the run up for ever
MAX_UNTRACKED_LISTED = 100


def collect_provenance(root: Path = PROJECT_ROOT) -> dict[str, Any]:
    """This process's provenance (the patch text under `git.patch_text`, to be written apart)."""
    return {
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        # sys.orig_argv: the command as typed, with the interpreter and its options (`python -X ...`).
        "command": list(sys.orig_argv),
        "cwd": os.getcwd(),
        "host": socket.gethostname(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        **_torch_versions(),
        "git": git_state(root),
        "packages": installed_packages(),
    }


def _torch_versions() -> dict[str, Any]:
    import torch

    # Build-time versions only: asking for devices here would initialise CUDA before a DDP fork.
    return {
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
    }


def installed_packages() -> dict[str, str]:
    """Every installed distribution's name and version, sorted by name."""
    found = {}
    for dist in importlib.metadata.distributions():
        name = dist.metadata["Name"]
        if name:
            found.setdefault(name, dist.version)  # the first on sys.path is the one imported
    return dict(sorted(found.items(), key=lambda item: item[0].lower()))


def git_state(root: Path) -> dict[str, Any] | None:
    """The commit checked out at `root`, and its uncommitted changes; None outside a git checkout."""
    git = shutil.which("git")
    if git is None or not (root / ".git").exists():
        return None

    def ask(*args: str) -> str | None:
        try:
            done = subprocess.run(
                [git, "-C", str(root), *args], capture_output=True, text=True, timeout=GIT_TIMEOUT_S
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout if done.returncode == 0 else None

    commit = ask("rev-parse", "HEAD")
    if commit is None:  # a repository with no commit yet, or one git refuses (ownership)
        return None
    patch = ask("diff", "HEAD", "--binary") or ""
    status = ask("status", "--porcelain", "--untracked-files=all") or ""
    untracked = [line[3:] for line in status.splitlines() if line.startswith("?? ")]
    return {
        "commit": commit.strip(),
        "branch": (ask("rev-parse", "--abbrev-ref", "HEAD") or "").strip() or None,
        "dirty": bool(patch or untracked),
        # Untracked files are not in the patch (their content may be data or secrets): named only.
        "untracked": untracked[:MAX_UNTRACKED_LISTED],
        "untracked_count": len(untracked),
        "patch_text": patch,
    }


def write_provenance(run_dir: Path, record: dict[str, Any] | None = None) -> dict[str, Any]:
    """Add this start to `run_dir/provenance.json` (the patch to `provenance-<n>.patch`); return it.

    The returned record is what the run's checkpoints carry about it (`checkpoint_provenance`).
    """
    from ..atomic_files import atomic_write_json, atomic_write_text

    record = dict(record or collect_provenance())
    run_dir.mkdir(parents=True, exist_ok=True)  # the run's first file: before the config and metrics
    path = run_dir / PROVENANCE_FILE
    starts = _earlier_starts(path)
    git = record.get("git")
    if git is not None:
        git = dict(git)
        patch = git.pop("patch_text", "")
        git["patch"] = None
        if patch:
            git["patch"] = f"provenance-{len(starts)}.patch"
            atomic_write_text(run_dir / git["patch"], patch)
        record["git"] = git
    record["run_dir"] = str(run_dir)
    atomic_write_json(path, {"starts": [*starts, record]})
    return record


def _earlier_starts(path: Path) -> list[dict[str, Any]]:
    """The starts a resumed run's folder recorded already (none for a new run)."""
    if not path.is_file():
        return []
    try:
        return list(json.loads(path.read_text())["starts"])
    except (ValueError, KeyError, TypeError):
        # Not a file this module wrote: kept aside rather than overwritten, and the run goes on.
        path.replace(path.with_suffix(".json.unreadable"))
        log.warning("%s could not be read; kept as %s.unreadable", path, path.name)
        return []


def checkpoint_provenance(record: dict[str, Any]) -> dict[str, Any]:
    """The few plain values a checkpoint keeps about its run: where it ran, from which code."""
    git = record.get("git") or {}
    return {
        "run_dir": record.get("run_dir"),
        "host": record.get("host"),
        "command": record.get("command"),
        "git_commit": git.get("commit"),
        "git_dirty": git.get("dirty"),
        "started": record.get("started"),
    }


def versions_line(record: dict[str, Any]) -> str:
    """`python 3.11.9, torch 2.5.1 (CUDA 12.4), commit abc1234 (+uncommitted changes)`: for the log."""
    git = record.get("git")
    code = "not a git checkout"
    if git:
        code = f"commit {git['commit'][:10]}" + (" (+uncommitted changes)" if git.get("dirty") else "")
    cuda = f"CUDA {record['cuda']}" if record.get("cuda") else "no CUDA"
    return f"python {record['python']}, torch {record['torch']} ({cuda}), {code}, on {record['host']}"
