"""The checks on CSV rows before training: every bad row found and reported at once, with reasons."""

import logging
from pathlib import Path

from ..errors import ConfigError, DataError
from .csv_annotations import (
    LabelEncoder,
    Problem,
    Row,
    check_split,
    describe_problems,
    mostly_missing,
    resolve_image,
)
from .csv_splits import SPLITS, CSVSplits

log = logging.getLogger(__name__)

Kept = dict[str, list[tuple[Row, Path, int]]]  # per split: the row, its image file, its class index


def checked_rows(splits: CSVSplits, image_dir: Path, encoder: LabelEncoder) -> tuple[Kept, list[Problem]]:
    """Rows that pass the split, path, label and duplicate checks, and the problems of the others.

    An image file is used once: a later row naming it again (in any split, after resolving links)
    is a bad row, so no image is in two splits. Rows are checked in CSV order, so "later" is the
    order a person reads them in.
    """
    rows = splits.rows()
    problems = [p for r in rows.get("unsplit", []) if (p := check_split(r))]
    reused = splits.test_is_val
    csv_order = {str(path): i for i, path in enumerate(splits.csv_files())}
    listed = sorted(
        ((split, row) for split in SPLITS if not (split == "test" and reused) for row in rows[split]),
        key=lambda listing: (csv_order.get(listing[1].csv, 0), listing[1].line),
    )
    kept: Kept = {s: [] for s in SPLITS}
    first_rows: dict[Path, Row] = {}
    for split, row in listed:
        checked = _check_row(row, image_dir, encoder, first_rows)
        if isinstance(checked, Problem):
            problems.append(checked)
        else:
            kept[split].append((row, *checked))
    if reused:
        kept["test"] = kept["val"]
    return kept, problems


def _check_row(
    row: Row, image_dir: Path, encoder: LabelEncoder, first_rows: dict[Path, Row]
) -> tuple[Path, int] | Problem:
    path = resolve_image(row, image_dir)
    if isinstance(path, Problem):
        return path
    label = encoder.encode(row)
    if isinstance(label, Problem):
        return label
    first = first_rows.setdefault(path, row)
    if first is not row:
        return Problem("duplicate file", row, f"also on {Path(first.csv).name} line {first.line}")
    return path, label


def report_problems(problems: list[Problem], on_bad_rows: str, image_dir: Path, rows: int) -> None:
    """Every bad row at once: a warning when skipping them, else one error that lists them.

    When most of the `rows` name no file, skipping is not the fix (it would skip nearly every
    row): the message names the folder they were looked up in and the key that sets another.
    """
    if not problems:
        return
    problems.sort(key=lambda p: (p.row.csv, p.row.line))
    summary = describe_problems(problems)
    if mostly_missing(problems, rows):
        raise DataError(
            f"{summary}\nMost files were looked up under data.image_dir={image_dir} and are not there: "
            "if the CSV's paths are relative to another folder, set data.image_dir=<that folder>."
        )
    if on_bad_rows == "skip":
        log.warning("Skipping %s", summary)
        return
    raise DataError(
        f"{summary}\nFix these rows in the CSV, or skip them with data.on_bad_rows=skip "
        f"(images are looked up under data.image_dir={image_dir})."
    )


def check_split_labels(
    labels: dict[str, list[int]], splits: CSVSplits, class_names: list[str], expected_num_classes: int | None
) -> None:
    """Every split has samples, every class evaluated was trained on, and the class count is as set."""
    for split, split_labels in labels.items():
        if not split_labels:
            raise DataError(f"The {split} split has no samples; {splits.how_to_fill(split)}.")
    train_classes = set(labels["train"])
    for split in ("val", "test"):
        unseen = sorted(set(labels[split]) - train_classes)
        if unseen:
            raise DataError(
                f"Classes {[class_names[i] for i in unseen]} appear in the {split} split but never in "
                "training; add training rows for them or remove them."
            )
    if expected_num_classes is not None and expected_num_classes != len(class_names):
        raise ConfigError(
            f"data.num_classes={expected_num_classes}, but the CSV has {len(class_names)} classes "
            f"({class_names[:10]}...); set data.num_classes=null to count them."
        )
