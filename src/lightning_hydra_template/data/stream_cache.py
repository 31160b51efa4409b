"""Images written once, encoded as they are (JPEG/PNG bytes) with their labels, into LitData chunks.

A cache is one folder per key, `<key>.stream/`, holding a LitData dataset per split (`train/`,
`val/`, `test/`) and `record.json` (the sample counts and the images that failed to decode). It is
written under a temporary name and renamed into place only when complete, so an interrupted
optimisation is never read: it is left as `<key>.partial-*`, ignored, and written again.
"""

import contextlib
import json
import logging
import os
import shutil
import sys
import tempfile
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch

from ..atomic_files import atomic_write_json
from .channel_stats import ChannelStats
from .image_files import to_channels_and_size
from .storage_choice import affordable_processes

log = logging.getLogger(__name__)

# A LitData writer's own memory with 16 MB chunks, measured: 225 MB forked from a plain process,
# up to 405 MB from train.py's, whose malloc_trim_threshold_mb keeps freed memory.
WRITER_BYTES = 512 << 20
# LitData's chunk size: about a thousand photos. A writer holds several chunks' worth at once
# (measured: 225 MB of its own at 16 MB, 603 MB at 64 MB), and a reader maps one at a time.
CHUNK_BYTES = "16MB"
RECORD = "record.json"


def scan_images(
    files: Sequence[Path],
    channels: int,
    image_size: int,
    resize: int,
    stats_files: set[Path],
    workers: int | None = None,
) -> tuple[dict[Path, str], tuple[list[float], list[float]] | None]:
    """The files that do not decode (with the reason), and the mean/std of `stats_files` as evaluated.

    Run before anything is written, so every bad row is reported first. Each image is decoded in
    full (a truncated JPEG fails only when its last rows are read) and dropped at once: memory
    stays at a few images per thread, whatever the number of images.
    """
    from PIL import Image
    from rich.progress import track

    failures: dict[Path, str] = {}
    stats, lock = ChannelStats(), threading.Lock()

    def scan(path: Path) -> None:
        try:
            with Image.open(path) as image:
                pixels = to_channels_and_size(image, channels, image_size, resize)
        except Exception as error:  # PIL raises UnidentifiedImageError, OSError, ValueError...
            failures[path] = f"image does not decode: {error}"
            return
        if path in stats_files:
            with lock:
                stats.add(torch.tensor(pixels)[None])  # a copy: Pillow's arrays are read-only

    with ThreadPoolExecutor(max_workers=workers or os.cpu_count()) as pool:
        scanned = pool.map(scan, files)
        for _ in track(
            scanned, total=len(files), description=f"Checking {len(files)} images", transient=True
        ):
            pass
    return failures, (stats.result() if stats_files and stats.count else None)


def record_stats(folder: Path, key: str, stats: tuple[list[float], list[float]] | None) -> None:
    """Add the training split's mean/std for `key` (channels/size/resize) to the folder's record."""
    record = read_record(folder)
    if record is None or stats is None:
        return
    record.setdefault("stats", {})[key] = list(stats)
    atomic_write_json(folder / RECORD, record)


def read_record(folder: Path) -> dict | None:
    """The record of a complete cache folder, or None when there is none (or it is unreadable)."""
    try:
        record = json.loads((folder / RECORD).read_text())
        if not isinstance(record.get("splits"), dict) or not isinstance(record.get("failures"), dict):
            return None
    except (OSError, ValueError):
        return None
    return record


def encoded_sample(item: tuple[str, int]) -> dict:
    """One sample as LitData stores it: the file's own bytes (no re-encoding) and the class index."""
    path, label = item
    return {"image": Path(path).read_bytes(), "label": label}


def write_stream_cache(
    folder: Path,
    splits: dict[str, list[tuple[Path, int]]],
    failures: dict[str, str],
    workers: int | None,
    memory_fraction: float = 0.5,
) -> None:
    """Optimise each split into `folder` (which must not exist yet) through a temporary sibling.

    `workers` None: one writer per core, as many as fit `memory_fraction` of the memory available
    (at least one).
    """
    import litdata

    if workers is None:
        wanted = os.cpu_count() or 1
        workers = max(1, affordable_processes(wanted, WRITER_BYTES, memory_fraction, "LitData writers"))
    folder.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f"{folder.stem}.partial-", dir=folder.parent))
    try:
        for split, samples in splits.items():
            litdata.optimize(
                fn=encoded_sample,
                inputs=[(str(path), label) for path, label in samples],
                output_dir=str(partial / split),
                chunk_bytes=CHUNK_BYTES,
                num_workers=max(1, min(workers, len(samples))),
                # fork: a worker starts in 0.1 s instead of spawn's 3 s of imports; it only reads files.
                start_method="fork" if sys.platform.startswith("linux") else None,
                keep_data_ordered=True,
            )
        record = {"splits": {s: len(v) for s, v in splits.items()}, "failures": failures, "version": 1}
        atomic_write_json(partial / RECORD, record)
        try:
            os.rename(partial, folder)
        except OSError:
            if read_record(folder) is None:  # not another process's complete copy: a real failure
                raise
            shutil.rmtree(partial, ignore_errors=True)
    except BaseException:
        with contextlib.suppress(OSError):
            shutil.rmtree(partial)
        raise
    log.info("Wrote %d images, encoded, into %s", sum(len(v) for v in splits.values()), folder)
