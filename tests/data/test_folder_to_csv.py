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
    # Relative to the CSV's own folder, where training and predict look by default.
    assert rows[1] == ["images/cat/0.png", "cat"] and ["images/dog/1.jpg", "dog"] in rows
    assert ["images/fox/2.bmp", "fox"] in rows
    err = capsys.readouterr().err
    assert f"Wrote 15 rows (3 classes) to {tmp_path / 'labels.csv'}, paths relative to {tmp_path}" in err
    assert f"Train: python train.py experiment=csv_cnn data.csv_path={tmp_path / 'labels.csv'}\n" in err

    # PNG, JPEG and BMP, grey and colour, of several sizes, in one dataset; no data.image_dir needed.
    datamodule = CSVImageDataModule(
        str(tmp_path / "labels.csv"),
        val_ratio=0.2,
        test_ratio=0.2,
        image_size=12,
        cache_dir=str(tmp_path / "cache"),
    )
    datamodule.setup()
    assert datamodule.class_names == ["cat", "dog", "fox"]
    assert datamodule.datasets["train"].images.shape == (9, 3, 12, 12)


def test_a_csv_outside_the_image_tree_holds_paths_relative_to_the_images_and_says_so(tmp_path, capsys):
    images = class_folders(tmp_path / "photos" / "images", per_class=5)
    csv_path = tmp_path / "elsewhere" / "labels.csv"  # `..` paths would be refused: relative to images
    main([str(images), str(csv_path)])
    rows = list(csv.reader(csv_path.open()))
    assert rows[1] == ["cat/0.png", "cat"]
    assert f"data.csv_path={csv_path} data.image_dir={images}" in capsys.readouterr().err
    datamodule = CSVImageDataModule(
        str(csv_path), image_dir=str(images), val_ratio=0.2, test_ratio=0.2, image_size=8,
        cache_dir=str(tmp_path / "cache"),
    )  # fmt: skip
    datamodule.setup()
    assert datamodule.class_names == ["cat", "dog", "fox"]


def test_a_folder_without_class_folders_is_a_clear_error(tmp_path):
    with pytest.raises(SystemExit, match="expected <image_dir>/<class>/<file>"):
        main([str(tmp_path), str(tmp_path / "labels.csv")])
