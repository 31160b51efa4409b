import csv

import pytest

from lightning_hydra_template.data.csv_images import CSVImageDataModule
from lightning_hydra_template.data.folder_to_csv import main

from ..helpers import class_folders


def test_a_class_folder_tree_becomes_a_csv_the_datamodule_reads(tmp_path, capsys):
    images = class_folders(tmp_path / "images", per_class=5)
    (images / "cat" / "notes.txt").write_text("not an image")
    main([str(images), str(tmp_path / "labels.csv")])
    with open(tmp_path / "labels.csv") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["file", "label"] and len(rows) == 16
    assert rows[1] == ["cat/0.png", "cat"] and ["dog/1.jpg", "dog"] in rows and ["fox/2.bmp", "fox"] in rows
    assert "Wrote 15 rows (3 classes)" in capsys.readouterr().err

    # PNG, JPEG and BMP, grey and colour, of several sizes, in one dataset.
    datamodule = CSVImageDataModule(
        str(tmp_path / "labels.csv"),
        image_dir=str(images),
        val_ratio=0.2,
        test_ratio=0.2,
        image_size=12,
        cache_dir=str(tmp_path / "cache"),
    )
    datamodule.setup()
    assert datamodule.class_names == ["cat", "dog", "fox"]
    assert datamodule.datasets["train"].images.shape == (9, 3, 12, 12)


def test_a_folder_without_class_folders_is_a_clear_error(tmp_path):
    with pytest.raises(SystemExit, match="expected <image_dir>/<class>/<file>"):
        main([str(tmp_path), str(tmp_path / "labels.csv")])
