"""data=image_folder: a tree of class folders trains like a CSV, in memory or streamed."""

import pytest
import torch

from lightning_hydra_template.config.builders import build_datamodule
from lightning_hydra_template.data.image_folder import ImageFolderDataModule
from lightning_hydra_template.data.loader_options import LoaderOptions
from lightning_hydra_template.errors import DataError, MissingFileError

from ..helpers import class_folders


@pytest.mark.parametrize("storage", ["memory", "stream"])
def test_class_folders_become_classes_and_splits_in_either_storage(tmp_path, storage):
    root = class_folders(tmp_path / "pets", per_class=8)
    datamodule = ImageFolderDataModule(
        str(root), val_ratio=0.25, test_ratio=0.25, image_size=16, loader=LoaderOptions(num_workers=0),
        storage=storage, cache_dir=str(tmp_path / "cache"),
    )  # fmt: skip
    datamodule.prepare_data()
    datamodule.setup()
    assert datamodule.class_names == ["cat", "dog", "fox"] and datamodule.storage == storage
    labels = torch.cat([y for _, y in datamodule.train_dataloader()])
    assert torch.bincount(labels).tolist() == [4, 4, 4]  # stratified: half of each class trains


def test_the_config_group_option_builds_from_a_root_folder(compose_config, tmp_path):
    root = class_folders(tmp_path / "pets", per_class=8)
    cfg = compose_config(
        ["data=image_folder", f"data.root={root}", "data.image_size=16", "data.val_ratio=0.25"]
    )
    datamodule = build_datamodule(cfg)
    datamodule.prepare_data()
    assert datamodule.num_classes == 3 and datamodule.storage == "memory"  # auto: a few KB fit


def test_a_missing_or_empty_root_is_one_line_naming_the_key(tmp_path):
    with pytest.raises(MissingFileError, match="data.root=.* is not a folder"):
        ImageFolderDataModule(str(tmp_path / "nowhere")).prepare_data()
    (tmp_path / "empty" / "cat").mkdir(parents=True)
    with pytest.raises(DataError, match=r"No images .* in class folders under data.root="):
        ImageFolderDataModule(str(tmp_path / "empty")).prepare_data()


def test_fine_tuning_on_a_folder_of_photos_streams_them_with_the_photo_transforms(compose_config, tmp_path):
    root = class_folders(tmp_path / "pets")
    cfg = compose_config(["experiment=csv_finetune", "data=image_folder", f"data.root={root}"])
    assert cfg.data._target_.endswith("ImageFolderDataModule") and cfg.data.storage == "stream"
    assert [t._target_.rsplit(".", 1)[1] for t in cfg.data.augment.stream_transforms] == [
        "RandomResizedCrop",
        "RandomHorizontalFlip",
    ]
    assert cfg.data.augment.stream_transforms[0].size == cfg.data.image_size == 224
