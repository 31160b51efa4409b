"""Small image datasets with annotation CSVs, written into temporary folders for the tests."""

from pathlib import Path

import numpy as np
from PIL import Image

COLOURS = {"cat": (220, 40, 40), "dog": (40, 220, 40), "fox": (40, 40, 220)}


def write_image(path: Path, rgb: tuple[int, int, int], size: tuple[int, int], grey: bool, seed: int) -> None:
    """A flat colour with noise, so each class is easy to tell apart."""
    rng = np.random.default_rng(seed)
    pixels = np.clip(np.array(rgb) + rng.integers(-30, 30, size=(size[1], size[0], 3)), 0, 255).astype(
        np.uint8
    )
    image = Image.fromarray(pixels, "RGB")
    path.parent.mkdir(parents=True, exist_ok=True)
    (image.convert("L") if grey else image).save(path)


def rgb_jpegs_with_names(root: Path, per_class: int = 10) -> Path:
    """`labels.csv` with a header (`image,species`) and string labels; RGB JPEGs of varying sizes."""
    lines = ["image,species"]
    for c, (name, rgb) in enumerate(COLOURS.items()):
        for i in range(per_class):
            file = f"images/{name}{i}.jpg"
            write_image(root / file, rgb, (20 + 3 * i, 24 + 2 * c), grey=False, seed=10 * c + i)
            lines.append(f"{file},{name}")
    (root / "labels.csv").write_text("\n".join(lines) + "\n")
    return root / "labels.csv"


def grey_pngs_headerless(root: Path, per_class: int = 10) -> Path:
    """The tutorial's form: no header, a space after each comma, integer labels; grey PNGs."""
    lines = []
    for c, rgb in enumerate(COLOURS.values()):
        for i in range(per_class):
            file = f"img_{c}_{i}.png"
            write_image(root / "images" / file, rgb, (28, 28), grey=True, seed=100 + 10 * c + i)
            lines.append(f"{file}, {c}")
    (root / "annotations.csv").write_text("\n".join(lines) + "\n")
    return root / "annotations.csv"


def class_folders(root: Path, per_class: int = 4) -> Path:
    """`root/<class>/<file>` in mixed formats: PNG, JPEG and BMP, grey and colour."""
    formats = ["png", "jpg", "bmp"]
    for c, (name, rgb) in enumerate(COLOURS.items()):
        for i in range(per_class):
            write_image(
                root / name / f"{i}.{formats[i % 3]}", rgb, (16 + i, 16), grey=i % 2 == 1, seed=c * 7 + i
            )
    return root


def write_csv(path: Path, header: str | None, lines: list[str]) -> Path:
    """A CSV of `lines` (after `header`, when given) at `path`."""
    path.write_text("\n".join([header, *lines] if header else lines) + "\n")
    return path
