"""What predict.py and explain.py take as `input`: an image file, a folder of images, or a CSV of
files (and labels), read as the CSV datamodule reads one."""

import csv
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import DataError, MissingFileError


def image_suffixes() -> set[str]:
    """Every file extension Pillow can open here."""
    from PIL import Image

    Image.init()
    return {suffix for suffix, name in Image.registered_extensions().items() if name in Image.OPEN}


def list_inputs(path: Path, csv_form: Mapping[str, Any] | None = None) -> tuple[list[Path], list[str] | None]:
    """The images to classify and, for a CSV with a label column, their labels.

    `csv_form` reads a CSV as the CSV datamodule does: `file_column`, `label_column` (null: none),
    `header` and `image_dir` (null: the CSV's folder).
    """
    if not path.exists():
        raise MissingFileError(f"input={path} does not exist; give an image, a folder of images or a CSV.")
    if path.is_dir():
        suffixes = image_suffixes()
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in suffixes)
        if not files:
            raise DataError(
                f"input={path} holds no image files (looked for {', '.join(sorted(suffixes)[:8])}...)."
            )
        return files, None
    if path.suffix.lower() != ".csv":
        return [path], None
    return _csv_inputs(path, {"file_column": 0, "label_column": 1, "header": "auto", **(csv_form or {})})


def _csv_inputs(path: Path, form: Mapping[str, Any]) -> tuple[list[Path], list[str] | None]:
    from ..data.csv_annotations import read_rows

    label_column = form["label_column"]
    if isinstance(label_column, int):  # by position: a CSV without that column has no labels
        with open(path, newline="", encoding="utf-8-sig", errors="replace") as f:
            first = next((row for row in csv.reader(f, skipinitialspace=True) if any(row)), [])
        label_column = label_column if len(first) > label_column else None
    rows = read_rows(
        path,
        file_column=form["file_column"],
        label_column=form["file_column"] if label_column is None else label_column,
        header=form["header"],
    )
    image_dir = Path(form["image_dir"]).expanduser() if form.get("image_dir") else path.parent
    files = [image_dir / row.file for row in rows]
    return files, None if label_column is None else [row.label for row in rows]


def label_indices(labels: list[str], class_names: list[str]) -> list[int]:
    """Labels as the model's class indices: by name, or integer labels as indices."""
    index = {name: i for i, name in enumerate(class_names)}
    found, unknown = (
        [],
        sorted({label for label in labels if label not in index and not _is_index(label, class_names)}),
    )
    if unknown:
        raise DataError(f"Labels {unknown[:10]} are not classes of this model ({class_names[:10]}...).")
    for label in labels:
        found.append(index[label] if label in index else int(label))
    return found


def _is_index(label: str, class_names: list[str]) -> bool:
    return label.isdigit() and int(label) < len(class_names)
