"""Your own images: a CSV of `file,label` rows beside an image folder, decoded once into a cache."""

import logging
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from ..errors import ConfigError, DataError
from .batch_transforms import BatchPreprocessor
from .csv_annotations import (
    SPLIT_NAMES,
    LabelEncoder,
    Problem,
    Row,
    check_split,
    describe_problems,
    read_rows,
    require_two_classes,
    resolve_image,
)
from .image_cache import cache_key, load_or_decode
from .in_memory import InMemoryDataModule, InMemoryImages

log = logging.getLogger(__name__)
SPLITS = ("train", "val", "test")


class CSVImageDataModule(InMemoryDataModule):
    """Images listed in a CSV, split one of three ways, served as uint8 batches from memory.

    Splits: `val_csv`/`test_csv` files beside `csv_path` (the training rows); or a `split_column`
    holding train/val/test; or else a seeded split of `csv_path`, stratified by label, by ratios.
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
        if (
            val_csv is None
            and split_column is None
            and not (val_ratio > 0 and test_ratio >= 0 and val_ratio + test_ratio < 1)
        ):
            raise ConfigError(
                f"data.val_ratio={val_ratio} and data.test_ratio={test_ratio} must leave training rows: "
                "0 < val_ratio, 0 <= test_ratio, and their sum below 1."
            )
        self.csv_path = Path(csv_path).expanduser().resolve()
        self.image_dir = Path(image_dir).expanduser().resolve() if image_dir else self.csv_path.parent
        self.split_csvs = {"val": val_csv, "test": test_csv}
        self.split_column = split_column
        self.val_ratio, self.test_ratio, self.split_seed = val_ratio, test_ratio, split_seed
        self.columns = {"file_column": file_column, "label_column": label_column, "header": header}
        self.given_class_names = list(class_names) if class_names is not None else None
        self.expected_num_classes = num_classes
        self.channels, self.image_size = channels, image_size
        self.mean, self.std = mean, std
        self.augment = {
            "crop_padding": crop_padding,
            "horizontal_flip": horizontal_flip,
            "transforms": transforms,
        }
        self.on_bad_rows = on_bad_rows
        self.cache_dir = Path(cache_dir).expanduser().resolve()
        self.decode_workers = decode_workers
        self._rows: dict[str, list[Row]] | None = None
        self._encoder: LabelEncoder | None = None

    # --- annotations: cheap, no image is opened -------------------------------------------
    def _csv_files(self) -> list[Path]:
        extra = [Path(p).expanduser().resolve() for p in self.split_csvs.values() if p]
        return [self.csv_path, *extra]

    def _read(self, path: Path | str, split_column: int | str | None = None) -> list[Row]:
        return read_rows(Path(path).expanduser().resolve(), split_column=split_column, **self.columns)

    def _read_main(self, split_column: int | str | None = None) -> list[Row]:
        rows = self._read(self.csv_path, split_column)
        require_two_classes(rows, self.csv_path)
        return rows

    def rows(self) -> dict[str, list[Row]]:
        """Rows per split as the CSVs say, split by ratio where no CSV says (rows unchecked yet).

        Fails at once, before any image is opened, when there are too few classes or rows.
        """
        if self._rows is None:
            if self.split_csvs["val"]:
                self._rows = {"train": self._read_main(), "val": self._read(Path(self.split_csvs["val"]))}
                if self.split_csvs["test"]:
                    self._rows["test"] = self._read(Path(self.split_csvs["test"]))
                else:
                    log.warning("No data.test_csv: testing on the validation rows.")
                    self._rows["test"] = self._rows["val"]
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
        return self._rows

    def _require_every_split(self, n_rows: int) -> None:
        """Say so now, before any image is decoded, when the CSV cannot fill all three splits."""
        for split in SPLITS:
            if not self._rows[split]:
                raise DataError(
                    f"{self.csv_path} has {n_rows} row{'s' if n_rows != 1 else ''}, and the {split} split "
                    f"gets none of them; {self._how_to_fill(split)}."
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

    @property
    def encoder(self) -> LabelEncoder:
        if self._encoder is None:
            labels = [r.label for s in SPLITS for r in self.rows().get(s, [])]
            self._encoder = LabelEncoder(labels, self.given_class_names)
        return self._encoder

    @property
    def class_names(self) -> list[str]:
        return self.encoder.class_names

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    # --- images: checked, decoded once, cached ---------------------------------------------
    def _checked(self) -> tuple[dict[str, list[tuple[Row, Path, int]]], list[Problem], list[Path]]:
        """Rows that pass the path, duplicate, split and label checks, with image and class index.

        An image file is used once: a later row naming it again (in any split, after resolving
        links) is a bad row, so no image is in two splits.
        """
        rows = self.rows()
        problems = [p for r in rows.get("unsplit", []) if (p := check_split(r))]
        reused = rows["test"] is rows["val"]  # no data.test_csv: testing reuses validation, by design
        csv_order = {str(path): i for i, path in enumerate(self._csv_files())}
        listed = sorted(
            ((split, row) for split in SPLITS if not (split == "test" and reused) for row in rows[split]),
            key=lambda listing: (csv_order.get(listing[1].csv, 0), listing[1].line),
        )
        kept: dict[str, list[tuple[Row, Path, int]]] = {s: [] for s in SPLITS}
        first_rows: dict[Path, Row] = {}
        for split, row in listed:
            checked = self._check_row(row, first_rows)
            if isinstance(checked, Problem):
                problems.append(checked)
            else:
                kept[split].append((row, *checked))
        if reused:
            kept["test"] = kept["val"]
        files = sorted({path for s in SPLITS for _, path, _ in kept[s]})
        return kept, problems, files

    def _check_row(self, row: Row, first_rows: dict[Path, Row]) -> tuple[Path, int] | Problem:
        path = resolve_image(row, self.image_dir)
        if isinstance(path, Problem):
            return path
        label = self.encoder.encode(row)
        if isinstance(label, Problem):
            return label
        first = first_rows.setdefault(path, row)
        if first is not row:
            return Problem("duplicate file", row, f"also on {Path(first.csv).name} line {first.line}")
        return path, label

    def _key(self, files: list[Path]) -> str:
        settings = {"channels": self.channels, "image_size": self.image_size, "version": 2}
        return cache_key(self._csv_files(), files, settings)

    def prepare_data(self) -> None:
        """Check every row and decode every image into the cache (once per node)."""
        if not self.datasets:
            self.datasets = self._load()

    def _load(self) -> dict[str, InMemoryImages]:
        kept, problems, files = self._checked()
        images, failures = load_or_decode(
            self.cache_dir, self._key(files), files, self.channels, self.image_size, self.decode_workers
        )
        index_of = {path: i for i, path in enumerate(files)}
        failed_files = {files[i]: reason for i, reason in failures.items()}
        datasets: dict[str, tuple[list[int], list[int]]] = {}
        for split in SPLITS:
            if split == "test" and kept["test"] is kept["val"]:
                datasets["test"] = datasets["val"]  # reported once, as validation rows
                continue
            indices, labels = [], []
            for row, path, label in kept[split]:
                if path in failed_files:
                    problems.append(Problem("undecodable image", row, failed_files[path]))
                    continue
                indices.append(index_of[path])
                labels.append(label)
            datasets[split] = (indices, labels)
        self._report(problems)
        self._check_splits(datasets)
        tensor = torch.from_numpy(images)
        return {
            s: InMemoryImages(
                tensor[torch.as_tensor(i, dtype=torch.long)], torch.as_tensor(y, dtype=torch.long)
            )
            for s, (i, y) in datasets.items()
        }

    def _report(self, problems: list[Problem]) -> None:
        if not problems:
            return
        problems.sort(key=lambda p: (p.row.csv, p.row.line))
        summary = describe_problems(problems)
        if self.on_bad_rows == "skip":
            log.warning("Skipping %s", summary)
            return
        raise DataError(
            f"{summary}\nFix these rows in the CSV, or skip them with data.on_bad_rows=skip "
            f"(images are looked up under data.image_dir={self.image_dir})."
        )

    def _check_splits(self, datasets: dict[str, tuple[list[int], list[int]]]) -> None:
        for split, (indices, _) in datasets.items():
            if not indices:
                raise DataError(f"The {split} split has no samples; {self._how_to_fill(split)}.")
        train_classes = set(datasets["train"][1])
        for split in ("val", "test"):
            unseen = sorted(set(datasets[split][1]) - train_classes)
            if unseen:
                names = [self.class_names[i] for i in unseen]
                raise DataError(
                    f"Classes {names} appear in the {split} split but never in training; "
                    "add training rows for them or remove them."
                )
        if self.expected_num_classes is not None and self.expected_num_classes != self.num_classes:
            raise ConfigError(
                f"data.num_classes={self.expected_num_classes}, but the CSV has {self.num_classes} classes "
                f"({self.class_names[:10]}...); set data.num_classes=null to count them."
            )

    def _how_to_fill(self, split: str) -> str:
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

    def setup(self, stage: str | None = None) -> None:
        if not self.datasets:  # other processes of a DDP run, which skip prepare_data
            self.datasets = self._load()
        if self.preprocess is not None:
            return
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
