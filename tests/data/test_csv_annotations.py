from pathlib import Path

import pytest

from lightning_hydra_template.data.csv_annotations import (
    LabelEncoder,
    Problem,
    Row,
    describe_problems,
    read_rows,
    resolve_image,
)
from lightning_hydra_template.errors import ConfigError, DataError, MissingFileError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "labels.csv"
    path.write_text(text)
    return path


def test_header_is_detected_and_spaces_after_commas_ignored(tmp_path):
    rows = read_rows(write(tmp_path, "file, label\na.png, cat\nb.jpg, dog\n"))
    assert [(r.line, r.file, r.label) for r in rows] == [(2, "a.png", "cat"), (3, "b.jpg", "dog")]


def test_no_header_when_the_first_row_names_an_image(tmp_path):
    rows = read_rows(write(tmp_path, "tshirt1.jpg, 0\nankleboot999.jpg, 9\n"))
    assert [(r.line, r.label) for r in rows] == [(1, "0"), (2, "9")]


def test_header_can_be_forced(tmp_path):
    path = write(tmp_path, "x,y\na.png,1\n")
    assert len(read_rows(path, header=False)) == 2
    assert len(read_rows(path, header=True)) == 1


def test_columns_by_name_or_index(tmp_path):
    path = write(tmp_path, "label,split,path\ncat,train,a.png\ndog,val,b.png\n")
    by_name = read_rows(path, file_column="path", label_column="label", split_column="split")
    by_index = read_rows(path, file_column=2, label_column=0, split_column=1, header=True)
    assert by_name == by_index
    assert [(r.file, r.label, r.split) for r in by_name] == [
        ("a.png", "cat", "train"),
        ("b.png", "dog", "val"),
    ]


def test_unknown_column_lists_the_real_ones(tmp_path):
    with pytest.raises(ConfigError, match=r"data.label_column='class'.*\['file', 'label'\]"):
        read_rows(write(tmp_path, "file,label\na.png,1\n"), label_column="class")


def test_column_name_without_header_says_to_use_an_index(tmp_path):
    with pytest.raises(ConfigError, match="has no header row"):
        read_rows(write(tmp_path, "a.png,1\n"), label_column="label", header=False)


def test_empty_and_missing_csvs(tmp_path):
    with pytest.raises(DataError, match="is empty"):
        read_rows(write(tmp_path, "\n\n"))
    with pytest.raises(DataError, match="header but no rows"):
        read_rows(write(tmp_path, "file,label\n"))
    with pytest.raises(MissingFileError, match="data.csv_path"):
        read_rows(tmp_path / "nope.csv")


def test_rows_missing_the_label_column(tmp_path):
    with pytest.raises(DataError, match="fewer than 2 columns.*line 3"):
        read_rows(write(tmp_path, "a.png,1\nc.png,2\nb.png\n"))


def test_string_labels_become_sorted_classes():
    rows = [Row("x.csv", i, f"{i}.png", label) for i, label in enumerate(["dog", "cat", "dog", "ant"])]
    encoder = LabelEncoder([r.label for r in rows])
    assert encoder.class_names == ["ant", "cat", "dog"]
    assert [encoder.encode(r) for r in rows] == [2, 1, 2, 0]


def test_integer_labels_with_optional_names():
    assert LabelEncoder(["0", "2", "1"]).class_names == ["0", "1", "2"]
    assert LabelEncoder(["0", "2"], ["zero", "one", "two"]).class_names == ["zero", "one", "two"]
    with pytest.raises(ConfigError, match="at least 3 names"):
        LabelEncoder(["0", "2"], ["zero", "one"])


def test_a_stray_word_among_integer_labels_is_a_bad_row():
    encoder = LabelEncoder(["0", "1", "2", "one"])
    problem = encoder.encode(Row("x.csv", 5, "e.png", "one"))
    assert encoder.integer and problem.kind == "bad label" and "'one'" in problem.reason


def test_paths_must_stay_inside_the_image_folder(tmp_path):
    (tmp_path / "a.png").write_bytes(b"")

    def kind(file):
        resolved = resolve_image(Row("x.csv", 1, file, "0"), tmp_path)
        return resolved.kind if isinstance(resolved, Problem) else resolved.name

    assert kind("a.png") == "a.png"
    assert kind("./sub/../a.png") == "a.png"
    assert kind("/etc/passwd") == "path outside image_dir"
    assert kind("../secret.png") == "path outside image_dir"
    assert kind("sub/../../secret.png") == "path outside image_dir"
    assert kind("b.png") == "missing file"


def test_problem_report_counts_kinds_and_shows_the_first_rows(tmp_path):
    (tmp_path / "a.png").write_bytes(b"")
    problems = [
        resolve_image(Row(str(tmp_path / "l.csv"), n, f"m{n}.png", "0"), tmp_path) for n in range(2, 15)
    ]
    text = describe_problems(problems)
    assert text.startswith("13 bad rows: 13 missing file")
    assert "l.csv line 2: 'm2.png': missing file" in text and "... and 3 more" in text
