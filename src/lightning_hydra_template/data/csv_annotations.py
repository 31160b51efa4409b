"""Read an annotations CSV (image file, label, optional split) into rows, and check each row."""

import csv
import io
import os
import stat
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError, DataError, MissingFileError
from .image_files import is_image_name

OUTSIDE, MISSING = "path outside image_dir", "missing file"  # kinds of `Problem` with a row's path
SPLIT_NAMES = {"train": "train", "val": "val", "valid": "val", "validation": "val", "test": "test"}


@dataclass(frozen=True)
class Row:
    """One annotation: where it came from (CSV and 1-based line) and what it says."""

    csv: str
    line: int
    file: str
    label: str
    split: str | None = None


@dataclass(frozen=True)
class Problem:
    """Why a row cannot be used."""

    kind: str
    row: Row
    reason: str


def _looks_like_header(first: list[str], file_index: int) -> bool:
    """A first row whose file field is not an image name is a header (`image,label`)."""
    if file_index >= len(first):
        return True
    return not is_image_name(first[file_index].strip())


def _column_index(column: int | str, header: list[str] | None, key: str, path: Path) -> int:
    if isinstance(column, int):
        return column
    if header is None:
        raise ConfigError(
            f"{key}={column!r} names a column, but {path} has no header row; "
            "give the column's index instead (0 is the first), or set data.header=true."
        )
    names = [name.strip() for name in header]
    if column not in names:
        raise ConfigError(f"{key}={column!r}: {path} has no such column; its columns are {names}.")
    return names.index(column)


def _text(path: Path) -> str:
    """The CSV's text; a binary file (an image, an archive) given by mistake is named as such."""
    data = path.read_bytes()
    nul = data.find(b"\0")
    if nul >= 0:
        raise _not_text(path, f"a NUL byte at byte {nul}")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise _not_text(path, f"byte {error.start} is not UTF-8") from None


def _not_text(path: Path, why: str) -> DataError:
    return DataError(
        f"{path} is not a text CSV ({why}); give a UTF-8 CSV of `file,label` rows "
        "(spreadsheets: save as 'CSV UTF-8')."
    )


def _csv_lines(path: Path) -> list[tuple[int, list[str]]]:
    """(line number, fields) of each non-empty line of the CSV at `path`; at least one."""
    if not path.is_file():
        raise MissingFileError(f"Annotations CSV {path} does not exist; set data.csv_path to your CSV.")
    reader = csv.reader(io.StringIO(_text(path), newline=""), skipinitialspace=True)
    try:
        lines = [(n, r) for n, r in enumerate(reader, 1) if any(r)]
    except csv.Error as error:
        raise DataError(
            f"{path} line {reader.line_num} is not valid CSV ({error}); fix the quoting on that line."
        ) from None
    if not lines:
        raise DataError(f"{path} is empty: it needs one row per image, `file,label` (e.g. `img1.png,cat`).")
    return lines


def read_rows(
    path: Path,
    file_column: int | str = 0,
    label_column: int | str = 1,
    split_column: int | str | None = None,
    header: bool | str = "auto",
) -> list[Row]:
    """All data rows of `path`; spaces after commas are ignored, a header is detected or forced."""
    lines = _csv_lines(path)
    if header == "auto":
        by_name = any(isinstance(c, str) for c in (file_column, label_column, split_column))
        header = by_name or _looks_like_header(
            lines[0][1], file_column if isinstance(file_column, int) else 0
        )
    names = lines[0][1] if header else None
    body = lines[1:] if header else lines
    if not body:
        raise DataError(f"{path} has a header but no rows.")
    columns = {
        "file": _column_index(file_column, names, "data.file_column", path),
        "label": _column_index(label_column, names, "data.label_column", path),
    }
    if split_column is not None:
        columns["split"] = _column_index(split_column, names, "data.split_column", path)
    width = max(columns.values()) + 1
    short = [n for n, r in body if len(r) < width]
    if short:
        raise DataError(
            f"{path}: {len(short)} rows have fewer than {width} columns (first: line {short[0]}); "
            f"the file column is {columns['file']}, the label column {columns['label']} (0-based)."
        )
    return [
        Row(
            csv=str(path),
            line=n,
            file=r[columns["file"]].strip(),
            label=r[columns["label"]].strip(),
            split=r[columns["split"]].strip() if "split" in columns else None,
        )
        for n, r in body
    ]


def resolve_image(row: Row, image_dir: Path, key: str = "data.image_dir") -> Path | Problem:
    """The row's image file with symlinks followed; it must exist and stay inside `image_dir`.

    The one path rule for a CSV's rows, in training and in predict.py (whose folder is `key`
    csv.image_dir): a CSV handed over with a dataset never opens a file elsewhere (`/etc/passwd`).
    `image_dir` must be resolved already (`Path.resolve()`), so that only the components below it
    need looking at: one `lstat` each, about as cheap as the plain existence check.
    """
    if not row.file:
        return Problem("empty file name", row, "the file column is empty")
    if os.path.isabs(row.file) or os.path.splitdrive(row.file)[0]:
        return Problem(OUTSIDE, row, f"absolute path; give it relative to {key}")
    inside = os.path.normpath(row.file)
    if inside == ".." or inside.startswith(".." + os.sep):
        return Problem(OUTSIDE, row, f"`..` leads out of {key}")
    try:
        path, is_file = _follow_links(str(image_dir), inside)
    except OSError:  # a missing folder or file on the way
        path, is_file = "", False
    if path and not path.startswith(os.path.join(image_dir, "")):  # "<image_dir>/", also for "/"
        return Problem(OUTSIDE, row, f"a symlink leads out, to {path}")
    if not is_file:
        return Problem(MISSING, row, f"no file {image_dir / inside}")
    return Path(path)


def _follow_links(image_dir: str, inside: str) -> tuple[str, bool]:
    """`image_dir/inside` with symlinks followed, and whether that is a regular file."""
    path = image_dir
    for part in inside.split(os.sep):
        path = os.path.join(path, part)
        mode = os.lstat(path).st_mode
        if stat.S_ISLNK(mode):
            real = os.path.realpath(os.path.join(image_dir, inside))
            return real, os.path.isfile(real)
    return path, stat.S_ISREG(mode)


def require_two_classes(rows: list[Row], path: Path) -> None:
    """A classifier needs two labels at least; one label means a wrong column or a partial CSV."""
    labels = sorted({row.label for row in rows if row.label})
    if len(labels) < 2:
        found = f"all labelled {labels[0]!r}" if labels else "none labelled"
        raise DataError(
            f"{path} has {_count(len(rows), 'row')}, {found}; a classifier needs at least 2 classes: "
            "add rows of another class (or check data.label_column)."
        )


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def check_split(row: Row) -> Problem | None:
    if row.split is None or row.split.lower() in SPLIT_NAMES:
        return None
    return Problem("bad split", row, f"split {row.split!r} is not one of train, val, test")


class LabelEncoder:
    """Labels as class indices: integers as they are, or class names in sorted order.

    Integer labels are used when most labels parse as integers (the others are then bad rows);
    `class_names`, when given, names integer labels, or fixes the order of string labels.
    """

    def __init__(self, labels: list[str], class_names: list[str] | None = None) -> None:
        integers = sum(_is_int(label) for label in labels)
        self.integer = integers * 2 >= len(labels) > 0
        if self.integer:
            found = [int(label) for label in labels if _is_int(label) and int(label) >= 0]
            count = max(found, default=-1) + 1
            if class_names is not None and len(class_names) < count:
                raise ConfigError(
                    f"data.class_names lists {len(class_names)} names, but the CSV has label {count - 1}; "
                    f"give at least {count} names."
                )
            self.class_names = (
                list(class_names) if class_names is not None else [str(i) for i in range(count)]
            )
        else:
            found_names = sorted({label for label in labels if label})
            if class_names is not None:
                unknown = sorted(set(found_names) - set(class_names))
                if unknown:
                    raise ConfigError(f"Labels {unknown[:10]} are not in data.class_names; add them there.")
            self.class_names = list(class_names) if class_names is not None else found_names
        self._index = {name: i for i, name in enumerate(self.class_names)}

    def encode(self, row: Row) -> int | Problem:
        if self.integer:
            if not _is_int(row.label) or int(row.label) < 0:
                return Problem("bad label", row, f"label {row.label!r} is not a non-negative integer")
            return int(row.label)
        if row.label not in self._index:
            return Problem("bad label", row, "the label is empty")
        return self._index[row.label]


def _is_int(text: str) -> bool:
    return text.lstrip("+-").isdigit()


def mostly_missing(problems: list[Problem], rows: int) -> bool:
    """More than half of `rows` name no file: the paths are relative to another folder, not bad rows."""
    return sum(p.kind == MISSING for p in problems) * 2 > rows > 0


def describe_problems(problems: list[Problem], shown: int = 10) -> str:
    """Counts per kind, then the first rows with their line, file and reason."""
    counts = Counter(p.kind for p in problems)
    lines = [f"{len(problems)} bad rows: " + ", ".join(f"{n} {kind}" for kind, n in counts.most_common())]
    for p in problems[:shown]:
        lines.append(f"  {Path(p.row.csv).name} line {p.row.line}: {p.row.file!r}: {p.kind}: {p.reason}")
    if len(problems) > shown:
        lines.append(f"  ... and {len(problems) - shown} more")
    return "\n".join(lines)
