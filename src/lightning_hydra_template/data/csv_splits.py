"""Which CSV rows train, validate and test: split files, a split column, or seeded ratios."""

import logging
import math
from pathlib import Path

import numpy as np

from ..errors import ConfigError, DataError
from .csv_annotations import SPLIT_NAMES, Row, read_rows, require_two_classes
from .folds import check_fold, split_fold

log = logging.getLogger(__name__)
SPLITS = ("train", "val", "test")


class CSVSplits:
    """The rows of each split, read once; no image is opened here.

    One of three ways: `val_csv` (and `test_csv`) files beside `csv_path`, which then holds the
    training rows; a `split_column` holding train/val/test; or else a seeded split of `csv_path`,
    stratified by label, by ratios.
    """

    def __init__(
        self,
        csv_path: Path,
        val_csv: str | None,
        test_csv: str | None,
        split_column: int | str | None,
        val_ratio: float,
        test_ratio: float,
        split_seed: int,
        columns: dict,
        folds: int | None = None,
        fold: int = 0,
    ) -> None:
        if (
            val_csv is None
            and split_column is None
            and not (val_ratio > 0 and test_ratio >= 0 and val_ratio + test_ratio < 1)
        ):
            raise ConfigError(
                f"data.val_ratio={val_ratio} and data.test_ratio={test_ratio} must leave training rows: "
                "0 < val_ratio, 0 <= test_ratio, and their sum below 1."
            )
        check_fold(folds, fold)
        if folds and val_csv and not test_csv:
            raise ConfigError(
                f"data.folds={folds} validates on part of the training and validation rows; testing would "
                "reuse the validation rows: give the test rows their own file, data.test_csv."
            )
        self.folds, self.fold = folds, fold
        self.csv_path = csv_path
        self.split_csvs = {"val": val_csv, "test": test_csv}
        self.split_column = split_column
        self.val_ratio, self.test_ratio, self.split_seed = val_ratio, test_ratio, split_seed
        self.columns = columns
        self._rows: dict[str, list[Row]] | None = None

    def csv_files(self) -> list[Path]:
        """Every CSV the splits are read from, the main one first."""
        extra = [Path(p).expanduser().resolve() for p in self.split_csvs.values() if p]
        return [self.csv_path, *extra]

    @property
    def test_is_val(self) -> bool:
        """No `test_csv` beside a `val_csv`: testing reuses the validation rows, by design."""
        rows = self.rows()
        return rows["test"] is rows["val"]

    def rows(self) -> dict[str, list[Row]]:
        """Rows per split (and `unsplit`: rows whose split column names no split), unchecked yet.

        Fails at once, before any image is opened, when there are too few classes or rows.
        """
        if self._rows is None:
            if self.split_csvs["val"]:
                self._rows = self._from_split_files()
            elif self.split_column is not None:
                rows = self._read_main(self.split_column)
                self._rows = {
                    s: [r for r in rows if SPLIT_NAMES.get((r.split or "").lower()) == s] for s in SPLITS
                }
                self._rows["unsplit"] = [r for r in rows if (r.split or "").lower() not in SPLIT_NAMES]
                self._require_every_split(len(rows))
            else:
                rows = self._read_main()
                self._rows = self._split_by_ratio(rows)
                self._require_every_split(len(rows))
            if self.folds:
                self._rows = self._cross_validation_fold(self._rows)
        return self._rows

    def _cross_validation_fold(self, rows: dict[str, list[Row]]) -> dict[str, list[Row]]:
        """Fold `fold` of the training and validation rows validates, the others train; test stays."""
        pool = rows["train"] + rows["val"]
        train, val = split_fold([r.label for r in pool], self.folds, self.fold, self.split_seed)
        in_file_order = [
            sorted((pool[i] for i in part), key=lambda r: (r.csv, r.line)) for part in (train, val)
        ]
        return {**rows, "train": in_file_order[0], "val": in_file_order[1]}

    def _read(self, path: Path | str, split_column: int | str | None = None) -> list[Row]:
        return read_rows(Path(path).expanduser().resolve(), split_column=split_column, **self.columns)

    def _read_main(self, split_column: int | str | None = None) -> list[Row]:
        rows = self._read(self.csv_path, split_column)
        require_two_classes(rows, self.csv_path)
        return rows

    def _from_split_files(self) -> dict[str, list[Row]]:
        rows = {"train": self._read_main(), "val": self._read(self.split_csvs["val"])}
        if self.split_csvs["test"]:
            rows["test"] = self._read(self.split_csvs["test"])
        else:
            log.warning("No data.test_csv: testing on the validation rows.")
            rows["test"] = rows["val"]
        return rows

    def _require_every_split(self, n_rows: int) -> None:
        """Say so now, before any image is decoded, when the CSV cannot fill all three splits."""
        for split in SPLITS:
            if not self._rows[split]:
                raise DataError(
                    f"{self.csv_path} has {n_rows} row{'s' if n_rows != 1 else ''}, and the {split} split "
                    f"gets none of them; {self.how_to_fill(split)}."
                )

    def _split_by_ratio(self, rows: list[Row]) -> dict[str, list[Row]]:
        """Per label, a seeded shuffle: the first val_ratio to val, the next test_ratio to test."""
        generator = np.random.default_rng(self.split_seed)
        split: dict[str, list[Row]] = {s: [] for s in SPLITS}
        by_label: dict[str, list[Row]] = {}
        for row in rows:
            by_label.setdefault(row.label, []).append(row)
        for label in sorted(by_label):
            group = [by_label[label][i] for i in generator.permutation(len(by_label[label]))]
            n_val, n_test = round(len(group) * self.val_ratio), round(len(group) * self.test_ratio)
            split["val"] += group[:n_val]
            split["test"] += group[n_val : n_val + n_test]
            split["train"] += group[n_val + n_test :]
        return {s: sorted(split[s], key=lambda r: r.line) for s in SPLITS}

    def how_to_fill(self, split: str) -> str:
        """What to change so that `split` gets rows, for this way of splitting."""
        if self.split_csvs["val"]:
            return f"add rows to the {split} CSV"
        if self.split_column is not None:
            return f"give some rows the value {split!r} in the split column"
        if split == "train":
            return "lower data.val_ratio and data.test_ratio, or add rows"
        ratio = self.val_ratio if split == "val" else self.test_ratio
        if ratio <= 0:
            return f"raise data.{split}_ratio above 0"
        # Stratified: each class gives the split round(rows * ratio) of its rows.
        return (
            f"raise data.{split}_ratio, or add rows ({math.floor(0.5 / ratio) + 1} rows of one class "
            f"give it one at data.{split}_ratio={ratio})"
        )
