import gzip
import shutil
from urllib.error import URLError

import pytest
import torch
from torchvision.transforms import v2

from lightning_hydra_template.data.augment_options import AugmentOptions
from lightning_hydra_template.data.loader_options import LoaderOptions

from ..helpers import fashion_mnist_datamodule


def make(data_dir, **kwargs):
    datamodule = fashion_mnist_datamodule(data_dir, val_size=100, **kwargs)
    datamodule.prepare_data()
    datamodule.setup()
    return datamodule


def test_reads_a_read_only_folder_of_gz_files_without_writing_to_it(fake_data_dir):
    before = sorted(p.name for p in fake_data_dir.rglob("*"))
    datamodule = make(fake_data_dir)
    assert [len(datamodule.datasets[s]) for s in ("train", "val", "test")] == [300, 100, 100]
    assert sorted(p.name for p in fake_data_dir.rglob("*")) == before


def test_same_samples_and_labels_as_torchvision(fake_data_dir, tmp_path):
    from torchvision.datasets import FashionMNIST

    raw = tmp_path / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    for gz in (fake_data_dir / "FashionMNIST" / "raw").glob("*.gz"):
        with gzip.open(gz) as src, open(raw / gz.stem, "wb") as dst:
            shutil.copyfileobj(src, dst)
    reference = {split: FashionMNIST(str(tmp_path), train=split == "train") for split in ("train", "test")}
    datamodule = make(fake_data_dir)

    test = datamodule.datasets["test"]
    assert torch.equal(test.images[:, 0], reference["test"].data)
    assert torch.equal(test.labels, reference["test"].targets)
    # train + val is a split of the 60k-style training set: every sample once, with its label.
    label_of = {
        bytes(img.numpy()): int(y) for img, y in zip(reference["train"].data, reference["train"].targets)
    }
    ours = [
        (bytes(img[0].numpy()), int(y))
        for s in ("train", "val")
        for img, y in zip(datamodule.datasets[s].images, datamodule.datasets[s].labels)
    ]
    assert len(ours) == len(label_of) and all(label_of[img] == y for img, y in ours)


def test_split_is_seeded_and_disjoint(fake_data_dir):
    a, b, c = make(fake_data_dir), make(fake_data_dir), make(fake_data_dir, split_seed=1)
    assert torch.equal(a.datasets["val"].images, b.datasets["val"].images)
    assert not torch.equal(a.datasets["val"].images, c.datasets["val"].images)
    train_rows = {bytes(x.numpy()) for x in a.datasets["train"].images}
    assert not any(bytes(x.numpy()) in train_rows for x in a.datasets["val"].images)


def test_batches_are_normalised_float_images(fake_data_dir):
    datamodule = make(fake_data_dir, loader=LoaderOptions(batch_size=32))
    images, labels = next(iter(datamodule.train_dataloader()))
    assert images.dtype == torch.uint8 and images.shape == (32, 1, 28, 28)
    images, labels = datamodule.on_after_batch_transfer((images, labels), 0)
    assert images.dtype == torch.float32 and labels.dtype == torch.int64
    mean, std = datamodule.preprocess.mean, datamodule.preprocess.std
    assert images.min() >= -mean / std - 1e-5


def test_three_channels_and_resizing_for_other_networks(fake_data_dir):
    datamodule = make(fake_data_dir, channels=3, image_size=32)
    batch = next(iter(datamodule.test_dataloader()))
    images, _ = datamodule.on_after_batch_transfer(batch, 0)
    assert images.shape == (100, 3, 32, 32)


def test_class_names_are_fashion_mnists():
    datamodule = fashion_mnist_datamodule("unused")
    assert datamodule.class_names[0] == "T-shirt/top" and datamodule.class_names[9] == "Ankle boot"


def test_offline_download_failure_says_where_to_put_which_files(tmp_path, monkeypatch, caplog):
    def offline(url, **kwargs):
        raise URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr("torchvision.datasets.utils.download_url", offline)
    datamodule = fashion_mnist_datamodule(tmp_path / "empty")
    with pytest.raises(FileNotFoundError) as error:
        datamodule.prepare_data()
    message = str(error.value)
    assert str(tmp_path / "empty" / "FashionMNIST" / "raw") in message
    for name in (
        "train-images-idx3-ubyte.gz",
        "train-labels-idx1-ubyte.gz",
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
    ):
        assert name in message
    assert "DATA_DIR" in message
    assert "name resolution" in caplog.text


def test_augment_transforms_change_training_batches_only(fake_data_dir):
    erase = AugmentOptions(transforms=[v2.RandomErasing(p=1.0, value=0)], horizontal_flip=False)
    datamodule = make(fake_data_dir, augment=erase, mean=0.0, std=1.0)
    images = torch.full((4, 1, 28, 28), 200, dtype=torch.uint8)
    assert datamodule.preprocess(images, training=False).min() > 0  # no erasing at evaluation
    assert (datamodule.preprocess(images, training=True) == 0).any()


def test_download_off_and_files_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"download is off \(data.download=false\)"):
        fashion_mnist_datamodule(tmp_path, download=False).prepare_data()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"num_classes": 5}, "data.class_names lists 10 names for 5 classes"),
        ({"dataset": "EMNIST"}, "data.dataset=EMNIST is not one of MNIST, FashionMNIST, KMNIST"),
        ({"channels": 2}, "data.channels must be 1 or 3"),
        ({"val_size": 0}, "data.val_size"),
        (
            {"augment": AugmentOptions(stream_transforms=[v2.RandomHorizontalFlip()])},
            "data.augment.stream_transforms is for streamed photos; FashionMNIST is held in memory",
        ),
    ],
)
def test_bad_settings_name_the_config_key(kwargs, message):
    with pytest.raises(ValueError, match=message):
        fashion_mnist_datamodule("unused", **kwargs)


@pytest.mark.real_data
def test_real_files_decode_to_the_official_sizes(real_data_dir):
    datamodule = fashion_mnist_datamodule(real_data_dir)
    datamodule.setup()
    assert [len(datamodule.datasets[s]) for s in ("train", "val", "test")] == [55_000, 5_000, 10_000]
    assert torch.bincount(datamodule.datasets["test"].labels).tolist() == [1000] * 10


def test_validation_split_larger_than_the_data_is_a_clear_error(fake_data_dir):
    datamodule = fashion_mnist_datamodule(fake_data_dir, val_size=400)
    with pytest.raises(ValueError, match=r"data.val_size=400 leaves no training images out of 400"):
        datamodule.setup("fit")


@pytest.mark.parametrize(
    ("option", "dataset", "first_class"), [("mnist", "MNIST", "0"), ("kmnist", "KMNIST", "o")]
)
def test_digits_and_characters_are_configs_without_mirror_images(
    compose_config, option, dataset, first_class
):
    from lightning_hydra_template.config.builders import build_datamodule

    cfg = compose_config([f"data={option}", "experiment=cnn"])
    datamodule = build_datamodule(cfg)
    assert datamodule.dataset == dataset and datamodule.class_names[0] == first_class
    assert cfg.data.augment.horizontal_flip is False  # a mirrored digit or character is another one
    assert datamodule.raw_dir == datamodule.data_dir / dataset / "raw"


def test_kmnist_offline_names_its_own_folder(tmp_path, monkeypatch):
    def offline(url, **kwargs):
        raise URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr("torchvision.datasets.utils.download_url", offline)
    datamodule = fashion_mnist_datamodule(tmp_path, dataset="KMNIST")
    with pytest.raises(FileNotFoundError, match=r"KMNIST files missing from .*KMNIST/raw"):
        datamodule.prepare_data()


@pytest.mark.real_data
def test_real_mnist_trains_from_its_config(compose_config, real_data_dir):
    from lightning_hydra_template.config.builders import build_datamodule

    if not (real_data_dir / "MNIST" / "raw" / "train-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"real MNIST not found under {real_data_dir}")
    cfg = compose_config(["data=mnist", f"data.data_dir={real_data_dir}"])
    cfg.data.val_size = 5000  # the config's own, which the fixture shrinks for the small fake data
    datamodule = build_datamodule(cfg)
    datamodule.setup()
    assert [len(datamodule.datasets[s]) for s in ("train", "val", "test")] == [55_000, 5_000, 10_000]
    pixels = datamodule.datasets["train"].images.float() / 255
    assert pixels.mean().item() == pytest.approx(0.1307, abs=2e-3)  # the config's statistics fit
