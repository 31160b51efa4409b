"""What predict.py and explain.py take as `input`: an image file, a folder of images, or a CSV of
files (and labels), read as the CSV datamodule reads one."""

import csv
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import DataError, MissingFileError


@dataclass
class Inputs:
    """What `input=` names: the images to classify, their labels, and the rows refused unopened."""

    files: list[Path]
    labels: list[str] | None = None  # a CSV's label column, one per file
    refused: list[tuple[Path, str]] = field(default_factory=list)  # (file, why): a CSV's bad paths
    image_dir: Path | None = None  # where a CSV's paths were looked up
    mostly_missing: bool = False  # most of a CSV's files are not under image_dir


def list_inputs(path: Path, csv_form: Mapping[str, Any] | None = None) -> Inputs:
    """The images to classify and, for a CSV with a label column, their labels.

    `csv_form` reads a CSV as the CSV datamodule does: `file_column`, `label_column` (null: none),
    `header` and `image_dir` (null: the CSV's folder), with its path rule: no absolute paths, no
    `..` and no symlink out of image_dir.
    """
    from ..data.image_files import image_suffixes, is_image_name

    if not path.exists():
        raise MissingFileError(f"input={path} does not exist; give an image, a folder of images or a CSV.")
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and is_image_name(p))
        if not files:
            looked_for = ", ".join(sorted(image_suffixes())[:8])
            raise DataError(f"input={path} holds no image files (looked for {looked_for}...).")
        return Inputs(files)
    if path.suffix.lower() != ".csv":
        return Inputs([path])
    return _csv_inputs(path, {"file_column": 0, "label_column": 1, "header": "auto", **(csv_form or {})})


def _csv_inputs(path: Path, form: Mapping[str, Any]) -> Inputs:
    from ..data.csv_annotations import mostly_missing, read_rows, resolve_image

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
    image_dir = Path(form["image_dir"]).expanduser().resolve() if form.get("image_dir") else path.parent
    inputs = Inputs([], None if label_column is None else [], image_dir=image_dir)
    problems = []
    for row in rows:
        resolved = resolve_image(row, image_dir, key="csv.image_dir")
        if isinstance(resolved, Path):
            inputs.files.append(image_dir / row.file)  # named as the CSV names it, links unfollowed
            if inputs.labels is not None:
                inputs.labels.append(row.label)
        else:
            problems.append(resolved)
            inputs.refused.append((image_dir / row.file, f"{resolved.kind}: {resolved.reason}"))
    inputs.mostly_missing = mostly_missing(problems, len(rows))
    return inputs


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
