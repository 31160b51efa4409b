"""MNIST, FashionMNIST and KMNIST as uint8 tensors in memory: decoded once, batched by indexing,
normalised per batch. The three share torchvision's IDX layout and download code; what differs
between them (class names, mean and std, whether flips make sense) is in their data configs.
"""

import logging
from collections.abc import Sequence
from pathlib import Path

import torch

from ..errors import ConfigError, DataError, MissingFileError
from .augment_options import AugmentOptions
from .batch_mixing import batch_mixing
from .batch_transforms import BatchPreprocessor
from .folds import check_fold, split_fold
from .idx import broken_file, read_idx
from .in_memory import InMemoryDataModule, InMemoryImages
from .loader_options import LoaderOptions

log = logging.getLogger(__name__)

DATASETS = ("MNIST", "FashionMNIST", "KMNIST")  # torchvision's classes, mirrors and folder names
FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


class IDXDataModule(InMemoryDataModule):
    """A 60k/10k IDX dataset: a seeded train/val split of the official 60k, and the official 10k test.

    With `folds`, validation is fold `fold` of a stratified k-fold of the 60k (`val_size` unused).

    `data_dir` holds torchvision's layout, `<dataset>/raw/*-ubyte[.gz]`; it may be read-only,
    since the `.gz` files are decoded in memory rather than extracted beside themselves.
    `loader` and `augment` are the `data.loader` and `data.augment` nodes (`LoaderOptions`,
    `AugmentOptions`; streamed-photo transforms do not apply to data held in memory).
    """

    def __init__(
        self,
        data_dir: str,
        dataset: str,
        class_names: Sequence[str],
        mean: float | Sequence[float],
        std: float | Sequence[float],
        val_size: int = 5000,
        split_seed: int = 42,
        download: bool = True,
        channels: int = 1,
        image_size: int = 28,
        num_classes: int = 10,
        folds: int | None = None,
        fold: int = 0,
        loader: LoaderOptions | None = None,
        augment: AugmentOptions | None = None,
    ) -> None:
        super().__init__(loader)
        augment = augment or AugmentOptions()
        if dataset not in DATASETS:
            raise ConfigError(f"data.dataset={dataset} is not one of {', '.join(DATASETS)}.")
        if len(class_names) != num_classes:
            raise ConfigError(f"data.class_names lists {len(class_names)} names for {num_classes} classes.")
        if channels not in (1, 3):
            raise ConfigError(f"data.channels must be 1 or 3, got {channels}.")
        if not 0 < val_size < 60_000:
            raise ConfigError(f"data.val_size must be between 1 and 59999, got {val_size}.")
        if augment.stream_transforms:
            raise ConfigError(
                f"data.augment.stream_transforms is for streamed photos; {dataset} is held in memory: "
                "use data.augment.transforms (or leave stream_transforms out)."
            )
        check_fold(folds, fold)
        self.folds, self.fold = folds, fold
        self.data_dir = Path(data_dir).expanduser().resolve()
        self.dataset = dataset
        self.val_size = val_size
        self.split_seed = split_seed
        self.download = download
        self.preprocess = BatchPreprocessor(
            mean,
            std,
            augment.crop_padding,
            augment.horizontal_flip,
            augment.transforms,
            channels=channels,
            image_size=image_size,
            random_erasing=augment.random_erasing,
        )
        self.mixing = batch_mixing(num_classes, augment.mixup_alpha, augment.cutmix_alpha)
        self.class_names = [str(name) for name in class_names]

    @property
    def raw_dir(self) -> Path:
        return self.data_dir / self.dataset / "raw"

    def _find(self, name: str) -> Path | None:
        for candidate in (self.raw_dir / name, self.raw_dir / f"{name}.gz"):
            if candidate.is_file():
                return candidate
        return None

    def _missing(self) -> list[str]:
        return [name for pair in FILES.values() for name in pair if self._find(name) is None]

    def prepare_data(self) -> None:
        """Download with torchvision when files are missing; say where to put them when offline."""
        if not self._missing():
            return
        if self.download:
            _download(self.dataset, self.raw_dir)
        missing = self._missing()
        if missing:
            raise MissingFileError(
                f"{self.dataset} files missing from {self.raw_dir}: {', '.join(missing)}.\n"
                f"The download {'failed' if self.download else 'is off (data.download=false)'}. "
                "Put these four files there (gzipped or not):\n  "
                + "\n  ".join(f"{name}.gz" for pair in FILES.values() for name in pair)
                + "\nor point the data folder elsewhere: DATA_DIR=/path/to/data or data.data_dir=/path"
                f" (the folder that contains {self.dataset}/raw/)."
            )

    def _load(self, split: str) -> InMemoryImages:
        image_file, label_file = (self._find(name) for name in FILES[split])
        if image_file is None or label_file is None:
            self.prepare_data()  # raises with the message saying where the files go
        images, labels = read_idx(image_file), read_idx(label_file)
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise DataError(
                f"{image_file} holds {tuple(images.shape)} and {label_file} holds {tuple(labels.shape)}, "
                "not N images [N, H, W] with N labels; delete both and re-download them "
                "(or put good copies there)."
            )
        if len(labels) and int(labels.max()) >= len(self.class_names):
            raise broken_file(
                label_file, f"has label {int(labels.max())}, outside 0-{len(self.class_names) - 1}"
            )
        return InMemoryImages(images.unsqueeze(1), labels)  # [N, 28, 28] -> [N, 1, 28, 28]

    def setup(self, stage: str | None = None) -> None:
        if stage in (None, "fit", "validate") and "train" not in self.datasets:
            full = self._load("train")
            if not self.folds and self.val_size >= len(full):
                raise ConfigError(
                    f"data.val_size={self.val_size} leaves no training images out of {len(full)}; lower it."
                )
            if self.folds:
                train_idx, val_idx = (
                    torch.from_numpy(i)
                    for i in split_fold(full.labels.tolist(), self.folds, self.fold, self.split_seed)
                )
            else:
                order = torch.randperm(len(full), generator=torch.Generator().manual_seed(self.split_seed))
                train_idx, val_idx = order[: -self.val_size], order[-self.val_size :]
            self.datasets["train"] = InMemoryImages(full.images[train_idx], full.labels[train_idx])
            self.datasets["val"] = InMemoryImages(full.images[val_idx], full.labels[val_idx])
        # Every stage reads the test files (10k images, cheap): a broken one stops the run before
        # training rather than after it, and testing later reuses them.
        if "test" not in self.datasets:
            self.datasets["test"] = self._load("test")


def _download(dataset: str, raw_dir: Path) -> None:
    """Fetch the missing `.gz` files from torchvision's mirrors (md5-checked); log failures."""
    import torchvision.datasets
    from torchvision.datasets.utils import download_url

    source = getattr(torchvision.datasets, dataset)
    for filename, md5 in source.resources:
        if (raw_dir / filename).is_file():
            continue
        for mirror in source.mirrors:
            try:
                download_url(f"{mirror}{filename}", root=str(raw_dir), filename=filename, md5=md5)
                break
            except Exception as error:  # URLError, RuntimeError (bad md5), OSError (read-only)
                log.warning("Downloading %s from %s failed: %s", filename, mirror, error)
