"""Your own images: a CSV of `file,label` rows beside an image folder, decoded once into a cache."""

import logging
from collections.abc import Sequence
from pathlib import Path

import torch

from ..errors import ConfigError, DataError
from .batch_mixing import batch_mixing
from .batch_transforms import BatchPreprocessor
from .csv_annotations import LabelEncoder, Problem
from .csv_row_checks import check_split_labels, checked_rows, report_problems
from .csv_splits import SPLITS, CSVSplits
from .image_cache import cache_key, load_or_decode
from .in_memory import InMemoryDataModule, InMemoryImages

log = logging.getLogger(__name__)


class CSVImageDataModule(InMemoryDataModule):
    """Images listed in a CSV, split one of three ways, served as uint8 batches from memory.

    The concerns live apart: which rows go where (`CSVSplits`), the checks on rows
    (`csv_row_checks`), decoding and caching (`image_cache`); this class puts them together.
    The flat arguments are the user's config keys (`data.val_ratio`, `data.channels`, ...).
    """

    def __init__(
        self,
        csv_path: str,
        image_dir: str | None = None,
        val_csv: str | None = None,
        test_csv: str | None = None,
        split_column: int | str | None = None,
        val_ratio: float = 0.1,
        test_ratio: float = 0.1,
        split_seed: int = 42,
        file_column: int | str = 0,
        label_column: int | str = 1,
        header: bool | str = "auto",
        class_names: Sequence[str] | None = None,
        num_classes: int | None = None,
        channels: int = 3,
        image_size: int = 32,
        mean: Sequence[float] | float | None = None,
        std: Sequence[float] | float | None = None,
        crop_padding: int = 0,
        horizontal_flip: bool = False,
        transforms: Sequence | None = None,
        random_erasing: float = 0.0,
        mixup_alpha: float = 0.0,
        cutmix_alpha: float = 0.0,
        on_bad_rows: str = "error",
        cache_dir: str = ".cache/csv_images",
        decode_workers: int | None = None,
        batch_size: int = 64,
        eval_batch_size: int | None = None,
        num_workers: int = 0,
        pin_memory: bool = False,
        persistent_workers: bool = False,
        on_device: bool = False,
    ) -> None:
        super().__init__(batch_size, eval_batch_size, num_workers, pin_memory, persistent_workers, on_device)
        if channels not in (1, 3):
            raise ConfigError(f"data.channels must be 1 (grey) or 3 (RGB), got {channels}.")
        if on_bad_rows not in ("error", "skip"):
            raise ConfigError(f"data.on_bad_rows must be 'error' or 'skip', got {on_bad_rows!r}.")
        if header not in ("auto", True, False):
            raise ConfigError(f"data.header must be auto, true or false, got {header!r}.")
        self.csv_path = Path(csv_path).expanduser().resolve()
        self.image_dir = Path(image_dir).expanduser().resolve() if image_dir else self.csv_path.parent
        columns = {"file_column": file_column, "label_column": label_column, "header": header}
        self.splits = CSVSplits(
            self.csv_path, val_csv, test_csv, split_column, val_ratio, test_ratio, split_seed, columns
        )
        self.given_class_names = list(class_names) if class_names is not None else None
        self.expected_num_classes = num_classes
        self.channels, self.image_size = channels, image_size
        self.mean, self.std = mean, std
        self.augment = {
            "crop_padding": crop_padding,
            "horizontal_flip": horizontal_flip,
            "transforms": transforms,
            "random_erasing": random_erasing,
        }
        self.mix_alphas = (mixup_alpha, cutmix_alpha)
        self.on_bad_rows = on_bad_rows
        self.cache_dir = Path(cache_dir).expanduser().resolve()
        self.decode_workers = decode_workers
        self._encoder: LabelEncoder | None = None

    @property
    def encoder(self) -> LabelEncoder:
        if self._encoder is None:
            labels = [r.label for s in SPLITS for r in self.splits.rows().get(s, [])]
            self._encoder = LabelEncoder(labels, self.given_class_names)
        return self._encoder

    @property
    def class_names(self) -> list[str]:
        return self.encoder.class_names

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def prepare_data(self) -> None:
        """Check every row and decode every image into the cache (once per node)."""
        if not self.datasets:
            self.datasets = self._load()

    def _load(self) -> dict[str, InMemoryImages]:
        kept, problems = checked_rows(self.splits, self.image_dir, self.encoder)
        files = sorted({path for s in SPLITS for _, path, _ in kept[s]})
        settings = {"channels": self.channels, "image_size": self.image_size, "version": 2}
        key = cache_key(self.splits.csv_files(), files, settings)
        images, failures = load_or_decode(
            self.cache_dir, key, files, self.channels, self.image_size, self.decode_workers
        )
        index_of = {path: i for i, path in enumerate(files)}
        failed_files = {files[i]: reason for i, reason in failures.items()}
        samples: dict[str, tuple[list[int], list[int]]] = {}
        for split in SPLITS:
            if split == "test" and kept["test"] is kept["val"]:
                samples["test"] = samples["val"]  # reported once, as validation rows
                continue
            indices, labels = [], []
            for row, path, label in kept[split]:
                if path in failed_files:
                    problems.append(Problem("undecodable image", row, failed_files[path]))
                    continue
                indices.append(index_of[path])
                labels.append(label)
            samples[split] = (indices, labels)
        report_problems(problems, self.on_bad_rows, self.image_dir)
        labels = {split: split_labels for split, (_, split_labels) in samples.items()}
        check_split_labels(labels, self.splits, self.class_names, self.expected_num_classes)
        tensor = torch.from_numpy(images)
        return {
            s: InMemoryImages(
                tensor[torch.as_tensor(i, dtype=torch.long)], torch.as_tensor(y, dtype=torch.long)
            )
            for s, (i, y) in samples.items()
        }

    def setup(self, stage: str | None = None) -> None:
        if not self.datasets:  # other processes of a DDP run, which skip prepare_data
            self.datasets = self._load()
        if self.preprocess is not None:
            return
        self.mixing = batch_mixing(self.num_classes, *self.mix_alphas)
        mean, std = self.mean, self.std
        if mean is None or std is None:
            mean, std = channel_stats(self.datasets["train"].images)
            log.info("Normalising with the training split's mean %s and std %s", mean, std)
        # channels and image_size are those of the cached images already: recorded, not applied.
        self.preprocess = BatchPreprocessor(
            mean, std, channels=self.channels, image_size=self.image_size, **self.augment
        )

    def state_dict(self) -> dict:
        """Saved in checkpoints: the class list the model's outputs refer to (and the data position)."""
        return {**super().state_dict(), "class_names": self.class_names}

    def load_state_dict(self, state: dict) -> None:
        if state.get("class_names") and state["class_names"] != self.class_names:
            raise DataError(
                f"The checkpoint was trained on classes {state['class_names'][:10]}, but the CSV now gives "
                f"{self.class_names[:10]}; evaluate with the CSV it was trained on."
            )
        super().load_state_dict(state)


def channel_stats(images: torch.Tensor) -> tuple[list[float], list[float]]:
    """Per-channel mean and std of uint8 `[N, C, H, W]` images on the [0, 1] scale."""
    pixels = images.transpose(0, 1).reshape(images.shape[1], -1)
    total = pixels.sum(dim=1, dtype=torch.float64)
    squares = torch.zeros_like(total)
    for chunk in pixels.split(1 << 24, dim=1):  # bounded float64 temporaries
        squares += chunk.double().square().sum(dim=1)
    n = pixels.shape[1]
    mean = total / n
    std = (squares / n - mean.square()).clamp_min(1e-12).sqrt()
    return (mean / 255).tolist(), (std / 255).tolist()
