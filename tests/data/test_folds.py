"""k-fold cross-validation (data.folds=K data.fold=i): disjoint folds over the train+val pool, stratified,
seeded, the test split untouched; for both datamodules."""

from collections import Counter

import pytest
import torch

from lightning_hydra_template.data.csv_images import CSVImageDataModule
from lightning_hydra_template.data.csv_splits import CSVSplits
from lightning_hydra_template.data.folds import check_fold, fold_of_each, split_fold
from lightning_hydra_template.errors import ConfigError

from ..helpers import fashion_mnist_datamodule, rgb_jpegs_with_names, write_csv


def test_each_fold_gets_each_label_alike_give_or_take_one():
    labels = ["a"] * 23 + ["b"] * 11 + ["c"] * 7
    assigned = fold_of_each(labels, folds=5, seed=0)
    per_fold = Counter(assigned.tolist())
    assert max(per_fold.values()) - min(per_fold.values()) <= 1
    for label in "abc":
        counts = Counter(f for f, y in zip(assigned.tolist(), labels) if y == label)
        assert max(counts.values()) - min(counts.values()) <= 1, label


def test_folds_are_disjoint_cover_the_pool_and_the_seed_fixes_them():
    labels = [i % 3 for i in range(30)]
    vals = [set(split_fold(labels, 4, fold, seed=1)[1].tolist()) for fold in range(4)]
    assert set().union(*vals) == set(range(30)) and sum(map(len, vals)) == 30
    train, val = split_fold(labels, 4, 2, seed=1)
    assert set(train.tolist()) == set(range(30)) - vals[2]
    assert (split_fold(labels, 4, 2, seed=1)[1] == val).all()
    assert (split_fold(labels, 4, 2, seed=2)[1] != val).any()


@pytest.mark.parametrize(
    ("folds", "fold", "message"),
    [
        (1, 0, "data.folds=1 must be an integer of 2 or more"),
        (5, 5, "data.fold=5 must be one of 0..4 (data.folds=5)"),
        (5, -1, "data.fold=-1 must be one of 0..4"),
    ],
)
def test_impossible_folds_name_the_key(folds, fold, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        check_fold(folds, fold)


def images_of(dataset) -> list[bytes]:
    return [bytes(image.numpy()) for image in dataset.images]


def test_fashion_mnist_folds_split_the_60k_pool_and_leave_the_test_set_alone(fake_data_dir):
    def setup(**kwargs):
        datamodule = fashion_mnist_datamodule(fake_data_dir, val_size=100, **kwargs)
        datamodule.setup()
        return datamodule

    plain = setup()
    pool = Counter(images_of(plain.datasets["train"]) + images_of(plain.datasets["val"]))
    per_class = torch.bincount(torch.cat([plain.datasets[s].labels for s in ("train", "val")]))
    folds = [setup(folds=4, fold=i) for i in range(4)]
    vals = [Counter(images_of(f.datasets["val"])) for f in folds]
    assert sum(vals, Counter()) == pool  # every image of the pool validates exactly once
    for datamodule, val in zip(folds, vals):
        assert Counter(images_of(datamodule.datasets["train"])) + val == pool
        # Stratified: each class gives each fold a quarter of its images, give or take one.
        in_fold = torch.bincount(datamodule.datasets["val"].labels, minlength=10)
        assert ((in_fold - per_class / 4).abs() < 1).all()
        assert torch.equal(datamodule.datasets["test"].images, plain.datasets["test"].images)


def test_csv_folds_pool_train_and_val_rows_and_keep_the_ratio_test_rows(tmp_path):
    csv_path = rgb_jpegs_with_names(tmp_path, per_class=10)

    def setup(**kwargs):
        datamodule = CSVImageDataModule(
            str(csv_path), cache_dir=str(tmp_path / "cache"), image_size=8, **kwargs
        )
        datamodule.prepare_data()
        datamodule.setup()
        return datamodule

    plain = setup()
    rows = plain.splits.rows()
    pool = {r.file for r in rows["train"] + rows["val"]}
    folds = [setup(folds=3, fold=i) for i in range(3)]
    vals = [{r.file for r in f.splits.rows()["val"]} for f in folds]
    assert set().union(*vals) == pool and sum(map(len, vals)) == len(pool)
    for datamodule, val in zip(folds, vals):
        assert {r.file for r in datamodule.splits.rows()["train"]} == pool - val
        assert [r.file for r in datamodule.splits.rows()["test"]] == [r.file for r in rows["test"]]
        assert torch.bincount(datamodule.datasets["val"].labels).tolist() == [3, 3, 3]  # 9 of each class / 3
        assert torch.equal(datamodule.datasets["test"].images, plain.datasets["test"].images)


def test_csv_folds_need_test_rows_of_their_own(tmp_path):
    val = write_csv(tmp_path / "val.csv", None, ["a.png,cat", "b.png,dog"])
    columns = {"file_column": 0, "label_column": 1, "header": "auto"}
    with pytest.raises(ConfigError, match="give the test rows their own file, data.test_csv"):
        CSVSplits(tmp_path / "train.csv", str(val), None, None, 0.1, 0.1, 42, columns, folds=5, fold=0)
