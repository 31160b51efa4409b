"""Decode and resize every image once, in parallel, into a uint8 array file reused by later runs."""

import hashlib
import json
import logging
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)


def decode_image(path: Path, channels: int, image_size: int) -> np.ndarray:
    """One image file -> uint8 `[channels, image_size, image_size]` (converted and resized)."""
    from PIL import Image

    with Image.open(path) as image:
        image = image.convert("L" if channels == 1 else "RGB")
        image = image.resize((image_size, image_size), Image.Resampling.BILINEAR)
        pixels = np.asarray(image, dtype=np.uint8)
    return pixels[None] if channels == 1 else pixels.transpose(2, 0, 1)


def cache_key(csv_files: Sequence[Path], image_files: Sequence[Path], settings: dict) -> str:
    """Changes when a CSV's bytes, an image's size or modification time, or a setting changes."""
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode())
    for path in csv_files:
        digest.update(path.read_bytes())
    for path in image_files:
        stat = path.stat()
        digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:24]


def decode_all(
    files: Sequence[Path], channels: int, image_size: int, workers: int | None = None
) -> tuple[np.ndarray, dict[int, str]]:
    """Decode `files` in a thread pool (Pillow releases the GIL) with a progress bar.

    Returns the images `[N, C, H, W]` (zeros where decoding failed) and the failures by index.
    """
    from rich.progress import track

    images = np.zeros((len(files), channels, image_size, image_size), dtype=np.uint8)
    failures: dict[int, str] = {}

    def decode_into(index: int) -> None:
        try:
            images[index] = decode_image(files[index], channels, image_size)
        except Exception as error:  # PIL raises UnidentifiedImageError, OSError, ValueError...
            failures[index] = f"image does not decode: {error}"

    with ThreadPoolExecutor(max_workers=workers or os.cpu_count()) as pool:
        for _ in track(
            pool.map(decode_into, range(len(files))),
            total=len(files),
            description=f"Decoding {len(files)} images",
            transient=True,
        ):
            pass
    return images, failures


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
    if array_path.is_file() and meta_path.is_file():
        log.info("Images from cache %s", array_path)
        failures = {int(i): reason for i, reason in json.loads(meta_path.read_text())["failures"].items()}
        return np.load(array_path), failures
    images, failures = decode_all(files, channels, image_size, workers)
    cache_dir.mkdir(parents=True, exist_ok=True)
    # Write then rename: an interrupted run never leaves a half-written cache to be trusted later.
    tmp = array_path.with_suffix(f".{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        np.save(f, images)
    tmp.replace(array_path)
    meta = {"files": [str(f) for f in files], "failures": failures, "channels": channels, "size": image_size}
    tmp = meta_path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(meta))
    tmp.replace(meta_path)
    log.info("Decoded %d images into %s", len(files), array_path)
    return images, failures
