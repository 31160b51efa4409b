"""Decode and resize every image once, in parallel, into a uint8 array file reused by later runs.

A cache is two files: `<key>.npy`, the images, then `<key>.json`, written last as the commit
record: the array file's size, shape and checksum. A cache that does not match its record is
decoded again; one that cannot be written (a full disk) is done without.
"""

import contextlib
import hashlib
import json
import logging
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from ..atomic_files import atomic_write_json, atomic_write_with
from .image_files import decode_image

log = logging.getLogger(__name__)


def cache_key(csv_files: Sequence[Path], image_files: Sequence[Path], settings: dict) -> str:
    """Changes when a CSV's bytes, an image's size or modification time, or a setting changes.

    Image bytes are not read: that would cost a read of the whole dataset per run (3x the stat
    calls for 10k small PNGs, far more for photos). An image rewritten with the same size and
    modification time (`cp -p`, `rsync -t` of other content) is not noticed.
    """
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode())
    for path in csv_files:
        digest.update(path.read_bytes())
    for path in image_files:
        stat = path.stat()
        digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:24]


def decode_all(
    files: Sequence[Path],
    channels: int,
    image_size: int,
    workers: int | None = None,
    advance: Callable[[int], None] | None = None,
    resize: int | None = None,
) -> tuple[np.ndarray, dict[int, str]]:
    """Decode `files` in a thread pool (Pillow releases the GIL) with a progress bar.

    Returns the images `[N, C, H, W]` (zeros where decoding failed) and the failures by index.
    `advance(n)` reports progress to a caller's own bar (one bar over many calls) instead.
    `resize`: as `to_channels_and_size` (None: squeezed to the square; else shorter side, centre crop).
    """
    from rich.progress import track

    images = np.zeros((len(files), channels, image_size, image_size), dtype=np.uint8)
    failures: dict[int, str] = {}

    def decode_into(index: int) -> None:
        try:
            images[index] = decode_image(files[index], channels, image_size, resize)
        except Exception as error:  # PIL raises UnidentifiedImageError, OSError, ValueError...
            failures[index] = f"image does not decode: {error}"

    with ThreadPoolExecutor(max_workers=workers or os.cpu_count()) as pool:
        decoded = pool.map(decode_into, range(len(files)))
        if advance is not None:
            for _ in decoded:
                advance(1)
            return images, failures
        description = f"Decoding {len(files)} images"
        for _ in track(decoded, total=len(files), description=description, transient=True):
            pass
    return images, failures


_RECORD_TYPES = {"shape": list, "dtype": str, "bytes": int, "checksum": str, "failures": dict}


class DamagedCache(Exception):
    """The cache files do not match their record; the message says how."""


def checksum(images: np.ndarray) -> str:
    """blake2b of the array's bytes: about 50 ms for 60k 28x28 grey images (47 MB)."""
    return hashlib.blake2b(np.ascontiguousarray(images).data, digest_size=16).hexdigest()


def load_or_decode(
    cache_dir: Path,
    key: str,
    files: Sequence[Path],
    channels: int,
    image_size: int,
    workers: int | None = None,
) -> tuple[np.ndarray, dict[int, str]]:
    """The cached decode of `files` under `key`, decoding (and caching) it on a miss."""
    array_path, meta_path = cache_dir / f"{key}.npy", cache_dir / f"{key}.json"
    shape = (len(files), channels, image_size, image_size)
    if array_path.exists() or meta_path.exists():
        try:
            images, failures = read_cache(array_path, meta_path, shape)
            log.info("Images from cache %s", array_path)
            return images, failures
        except DamagedCache as damage:
            log.warning("The image cache %s is damaged (%s); decoding the images again.", array_path, damage)
    images, failures = decode_all(files, channels, image_size, workers)
    meta = {"files": [str(f) for f in files], "failures": failures, "channels": channels, "size": image_size}
    if write_cache(array_path, meta_path, images, meta):
        log.info("Decoded %d images into %s", len(files), array_path)
    return images, failures


def read_cache(
    array_path: Path, meta_path: Path, shape: tuple[int, ...]
) -> tuple[np.ndarray, dict[int, str]]:
    """The images and decode failures of a cache, checked against its record; else `DamagedCache`."""
    meta = _read_meta(meta_path)
    if meta["shape"] != list(shape) or meta["dtype"] != "uint8":
        raise DamagedCache(f"{meta_path.name} records {meta['dtype']} {meta['shape']}, not {list(shape)}")
    size = array_path.stat().st_size if array_path.is_file() else 0
    if size != meta["bytes"]:
        raise DamagedCache(f"{array_path.name} holds {size} bytes, {meta_path.name} says {meta['bytes']}")
    header_shape = _header_shape(array_path)
    if header_shape != shape:  # an edited header: loading it would allocate what it claims (TiBs)
        raise DamagedCache(f"{array_path.name}'s header says {list(header_shape or [])}, not {list(shape)}")
    try:
        images = np.load(array_path, allow_pickle=False)
    except (OSError, ValueError, EOFError, MemoryError) as error:
        raise DamagedCache(f"{array_path.name} does not load: {error}") from None
    if images.shape != shape or images.dtype != np.uint8:
        raise DamagedCache(f"{array_path.name} holds {images.dtype} {list(images.shape)}")
    if checksum(images) != meta["checksum"]:
        raise DamagedCache(f"{array_path.name} does not match its checksum")
    return images, {int(i): str(reason) for i, reason in meta["failures"].items()}


def _header_shape(array_path: Path) -> tuple[int, ...] | None:
    """The shape the `.npy` header declares, read without loading the array; None when unreadable."""
    try:
        with open(array_path, "rb") as f:
            version = np.lib.format.read_magic(f)
            read = (
                np.lib.format.read_array_header_1_0
                if version == (1, 0)
                else np.lib.format.read_array_header_2_0
            )
            shape, _, _ = read(f)
    except (OSError, ValueError, EOFError):
        return None
    return tuple(shape)


def _read_meta(meta_path: Path) -> dict:
    try:
        meta = json.loads(meta_path.read_text())
        for key, kind in _RECORD_TYPES.items():
            if not isinstance(meta[key], kind):
                raise TypeError(f"{key} is not a {kind.__name__}")
    except (OSError, ValueError, KeyError, TypeError) as error:  # missing, not JSON, not our record
        raise DamagedCache(f"{meta_path.name} is unreadable: {error!r}") from None
    return meta


def write_cache(array_path: Path, meta_path: Path, images: np.ndarray, meta: dict) -> bool:
    """Write the array, then its record (atomically each); on failure leave neither and warn.

    A cache is an optimisation: a full disk or a read-only folder costs the next run a decode,
    not this run its result.
    """
    try:
        array_path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_with(array_path, lambda f: np.save(f, images, allow_pickle=False))
        record = {"shape": list(images.shape), "dtype": str(images.dtype), "checksum": checksum(images)}
        atomic_write_json(meta_path, {**record, "bytes": array_path.stat().st_size, **meta})
    except OSError as error:
        for path in (array_path, meta_path):  # a stale record must not vouch for a new array
            with contextlib.suppress(OSError):
                path.unlink()
        log.warning(
            "Could not write the image cache %s (%s); going on without it, so the next run decodes again.",
            array_path,
            error,
        )
        return False
    return True
