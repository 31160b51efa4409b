"""CSVSplits: which rows train, validate and test, decided from the CSVs alone (no image opened)."""

from pathlib import Path

import pytest

from lightning_hydra_template.data.csv_splits import CSVSplits
from lightning_hydra_template.errors import ConfigError, DataError

from ..helpers import write_csv

COLUMNS = {"file_column": 0, "label_column": 1, "header": "auto"}


def splits(csv_path: Path, **how) -> CSVSplits:
    options = {"val_csv": None, "test_csv": None, "split_column": None, "val_ratio": 0.2, "test_ratio": 0.2}
    return CSVSplits(csv_path, **{**options, "split_seed": 42, **how}, columns=COLUMNS)


def labelled(tmp_path: Path, per_class: int = 10, name: str = "labels.csv") -> Path:
    lines = [f"{label}{i}.png,{label}" for label in ("cat", "dog") for i in range(per_class)]
    return write_csv(tmp_path / name, "file,label", lines)


def test_ratios_split_each_label_alike_and_the_seed_fixes_which_rows(tmp_path):
    rows = splits(labelled(tmp_path)).rows()
    assert {s: len(rows[s]) for s in ("train", "val", "test")} == {"train": 12, "val": 4, "test": 4}
    assert sorted(r.label for r in rows["val"]) == ["cat", "cat", "dog", "dog"]
    again = splits(labelled(tmp_path)).rows()
    other_seed = splits(labelled(tmp_path), split_seed=7).rows()
    assert [r.file for r in again["val"]] == [r.file for r in rows["val"]]
    assert [r.file for r in other_seed["val"]] != [r.file for r in rows["val"]]


def test_split_files_give_their_rows_and_without_a_test_csv_testing_reuses_validation(tmp_path):
    val = labelled(tmp_path, per_class=2, name="val.csv")
    split = splits(labelled(tmp_path), val_csv=str(val))
    assert len(split.rows()["train"]) == 20 and len(split.rows()["val"]) == 4
    assert split.test_is_val and split.csv_files() == [tmp_path / "labels.csv", val]


def test_a_split_column_sorts_rows_and_keeps_the_unknown_ones_for_the_checks(tmp_path):
    lines = ["a.png,cat,train", "b.png,dog,train", "c.png,cat,valid", "d.png,dog,test", "e.png,cat,holdout"]
    rows = splits(write_csv(tmp_path / "s.csv", "file,label,split", lines), split_column="split").rows()
    assert [[r.file for r in rows[s]] for s in ("train", "val", "test", "unsplit")] == [
        ["a.png", "b.png"],
        ["c.png"],
        ["d.png"],
        ["e.png"],
    ]


def test_too_few_rows_say_which_split_is_empty_and_what_to_change(tmp_path):
    with pytest.raises(
        DataError, match=r"the test split gets none of them; raise data.test_ratio, or add rows"
    ):
        splits(labelled(tmp_path, per_class=2), val_ratio=0.5, test_ratio=0.1).rows()


def test_ratios_that_leave_no_training_rows_are_refused_at_once(tmp_path):
    with pytest.raises(ConfigError, match="must leave training rows"):
        splits(tmp_path / "never_read.csv", val_ratio=0.5, test_ratio=0.5)
