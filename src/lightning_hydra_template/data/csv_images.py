"""Your own images: a CSV of `file,label` rows beside an image folder, held in memory or streamed.

`data.storage`: `memory` decodes every image once into a cached uint8 array served from memory
(the fast path for datasets that fit); `stream` writes the encoded images once into LitData chunks
and decodes them in loader workers, at full resolution (for datasets of any size); `auto` picks.
"""

import csv
import io
import logging
import os
from collections.abc import Sequence
from pathlib import Path

import torch
from torch.utils.data import DataLoader
from torchvision.transforms import v2

from ..atomic_files import atomic_write_text
from ..errors import ConfigError, DataError
from .augment_options import AugmentOptions
from .batch_mixing import batch_mixing
from .batch_transforms import BatchPreprocessor
from .channel_stats import channel_stats
from .csv_annotations import LabelEncoder, Problem
from .csv_row_checks import check_split_labels, checked_rows, report_problems
from .csv_splits import SPLITS, CSVSplits
from .image_cache import cache_key, load_or_decode
from .in_memory import InMemoryBatches, InMemoryDataModule, InMemoryImages
from .loader_options import LoaderOptions
from .storage_choice import affordable_processes, choose_storage
from .stream_cache import read_record, record_stats, scan_images, write_stream_cache
from .streamed_images import StreamedImages, release_inherited_heap

log = logging.getLogger(__name__)
# A streaming loader worker's own memory, counted for a training and a validation worker together
# (the training loader's workers are still alive while validation's run; measured with 224-px
# photos: 175 MB and 40 MB, benchmarks/README.md).
LOADER_WORKER_BYTES = 256 << 20


class CSVImageDataModule(InMemoryDataModule):
    """Images listed in a CSV, split one of three ways, served as uint8 batches (memory or stream).

    The concerns live apart: which rows go where (`CSVSplits`), the checks on rows
    (`csv_row_checks`), decoding and caching (`image_cache`), the streamed copy (`stream_cache`,
    `streamed_images`), the choice between them (`storage_choice`); this class puts them together.
    The arguments are the user's config keys (`data.val_ratio`, `data.channels`, ...); `loader` and
    `augment` are the `data.loader` and `data.augment` nodes (`LoaderOptions`, `AugmentOptions`).
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
        on_bad_rows: str = "error",
        cache_dir: str = ".cache/csv_images",
        decode_workers: int | None = None,
        storage: str = "auto",
        memory_fraction: float = 0.5,
        eval_resize: int | None = None,
        folds: int | None = None,
        fold: int = 0,
        loader: LoaderOptions | None = None,
        augment: AugmentOptions | None = None,
    ) -> None:
        loader = loader or LoaderOptions()
        super().__init__(loader)
        _check_choices(channels, on_bad_rows, header)
        self.csv_path = Path(csv_path).expanduser().resolve()
        self.image_dir = Path(image_dir).expanduser().resolve() if image_dir else self.csv_path.parent
        columns = {"file_column": file_column, "label_column": label_column, "header": header}
        self.splits = CSVSplits(
            self.csv_path,
            val_csv,
            test_csv,
            split_column,
            val_ratio,
            test_ratio,
            split_seed,
            columns,
            folds,
            fold,
        )
        self.given_class_names = list(class_names) if class_names is not None else None
        self.expected_num_classes = num_classes
        self.channels, self.image_size = channels, image_size
        self.mean, self.std = mean, std
        self.augment = augment or AugmentOptions()
        self.on_bad_rows = on_bad_rows
        self.cache_dir = Path(cache_dir).expanduser().resolve()
        self.decode_workers = decode_workers
        self.requested_storage, self.memory_fraction = storage, memory_fraction
        self.requested_workers = loader.num_workers
        self.stream_transforms = _stream_transforms(self.augment.stream_transforms, image_size)
        self.eval_resize = _eval_resize(eval_resize, image_size)
        self.storage: str | None = None  # memory or stream, once chosen
        self.streams: dict[str, Path] = {}
        self._stream_stats: tuple[list[float], list[float]] | None = None
        self._train_loader = None  # the streaming training loader, whose state checkpoints keep
        self._stream_state: dict | None = None  # that state, from a checkpoint being resumed
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
        """Check every row, then decode the images into the cache or write them into chunks (once a node)."""
        if self.storage is None:
            self._load()

    def _load(self, storage: str | None = None) -> None:
        """Check the rows, then hold the images in memory or stream them (`storage` given: that one)."""
        kept, problems = checked_rows(self.splits, self.image_dir, self.encoder)
        splits = [s for s in SPLITS if not (s == "test" and kept["test"] is kept["val"])]
        # In split order, so that each split of the decoded array is one slice of it, not a copy.
        files = list(dict.fromkeys(path for s in splits for _, path, _ in kept[s]))
        decoded_bytes = len(files) * self.channels * self.image_size**2
        self.storage = storage or choose_storage(self.requested_storage, decoded_bytes, self.memory_fraction)
        if self.storage == "memory":
            self.datasets = self._load_memory(kept, splits, files, problems)
        else:
            self.loader_options["num_workers"] = self._stream_workers()
            self.loader_options["persistent_workers"] &= self.loader_options["num_workers"] > 0
            self.streams = self._load_stream(kept, splits, files, problems)

    def _stream_workers(self) -> int:
        if self.requested_workers is not None:
            return self.requested_workers
        wanted = min(8, os.cpu_count() or 1)  # decoding photos is the work: one worker per core
        return affordable_processes(wanted, LOADER_WORKER_BYTES, self.memory_fraction, "loader workers")

    def _load_memory(
        self, kept: dict, splits: list[str], files: list[Path], problems: list[Problem]
    ) -> dict[str, InMemoryImages]:
        # version 4: 16-bit, integer and float images scaled to 8 bits, EXIF orientation applied
        settings = {"channels": self.channels, "image_size": self.image_size, "version": 4}
        key = cache_key(self.splits.csv_files(), files, settings)
        images, failures = load_or_decode(
            self.cache_dir, key, files, self.channels, self.image_size, self.decode_workers
        )
        index_of = {path: i for i, path in enumerate(files)}
        failed_files = {files[i]: reason for i, reason in failures.items()}
        samples = self._good_samples(kept, splits, failed_files, problems)
        tensor = torch.from_numpy(images)
        datasets = {}
        for split, (paths, labels) in samples.items():
            indices = [index_of[path] for path in paths]
            contiguous = indices == list(range(indices[0], indices[0] + len(indices))) if indices else False
            # A slice is a view of the array: memory holds each image once (a gather would copy it).
            split_images = tensor[indices[0] : indices[0] + len(indices)] if contiguous else tensor[indices]
            datasets[split] = InMemoryImages(split_images, torch.as_tensor(labels, dtype=torch.long))
        return datasets

    def _good_samples(
        self, kept: dict, splits: list[str], failed_files: dict[Path, str], problems: list[Problem]
    ) -> dict[str, tuple[list[Path], list[int]]]:
        """Per split, the files and labels that decode; the others reported (error or skip) with the rest."""
        samples: dict[str, tuple[list[Path], list[int]]] = {}
        rows = len(problems) + sum(len(kept[split]) for split in splits)
        self.split_rows: list[tuple[str, int, str]] = []  # (file as the CSV names it, class, split)
        for split in splits:
            paths, labels = [], []
            for row, path, label in kept[split]:
                if path in failed_files:
                    problems.append(Problem("undecodable image", row, failed_files[path]))
                    continue
                paths.append(path)
                labels.append(label)
                self.split_rows.append((row.file, label, split))
            samples[split] = (paths, labels)
        if "test" not in samples:
            samples["test"] = samples["val"]  # reported once, as validation rows
        report_problems(problems, self.on_bad_rows, self.image_dir, rows)
        labels_of = {split: split_labels for split, (_, split_labels) in samples.items()}
        check_split_labels(labels_of, self.splits, self.class_names, self.expected_num_classes)
        return samples

    def _load_stream(
        self, kept: dict, splits: list[str], files: list[Path], problems: list[Problem]
    ) -> dict[str, Path]:
        """Every bad row reported before anything is written; then the chunks, written once per key."""
        key = cache_key(self.splits.csv_files(), files, {"storage": "stream", "version": 1})
        folder = self.cache_dir / f"{key}.stream"
        record = read_record(folder)
        stats_key = f"{self.channels}/{self.image_size}/{self.eval_resize}"
        need_stats = (self.mean is None or self.std is None) and stats_key not in (record or {}).get(
            "stats", {}
        )
        if record is None or need_stats:
            stats_files = {path for _, path, _ in kept["train"]} if need_stats else set()
            failures, stats = scan_images(
                files, self.channels, self.image_size, self.eval_resize, stats_files, self.decode_workers
            )
        if record is not None:
            failures = {Path(path): reason for path, reason in record["failures"].items()}
            log.info("Images from the streaming cache %s", folder)
        samples = self._good_samples(kept, splits, failures, problems)
        if record is None:
            chunks = {s: list(zip(*samples[s])) for s in splits}
            failed = {str(p): r for p, r in failures.items()}
            write_stream_cache(folder, chunks, failed, self.decode_workers, self.memory_fraction)
        if need_stats:
            record_stats(folder, stats_key, stats)
        self._stream_stats = tuple(read_record(folder).get("stats", {}).get(stats_key, (None, None)))
        return {s: folder / (s if s in splits else "val") for s in SPLITS}

    def setup(self, stage: str | None = None) -> None:
        chosen = self._first_process_storage()
        if self.storage is None or self.storage != chosen:  # DDP processes that skipped prepare_data
            self._load(chosen)
        if stage in ("fit", None) and self.trainer is not None and self.trainer.is_global_zero:
            self.write_splits(Path(self.trainer.default_root_dir) / "splits.csv")
        if self.preprocess is not None:
            return
        if self.storage == "stream":
            # Stream transforms that give a wrong shape: said here, once. Forked: a sample's seeding
            # must not touch this process's generator.
            with torch.random.fork_rng(devices=[]):
                self.streamed("train")[0]
        self.mixing = batch_mixing(self.num_classes, self.augment.mixup_alpha, self.augment.cutmix_alpha)
        mean, std = self.mean, self.std
        if mean is None or std is None:
            mean, std = (
                self._stream_stats
                if self.storage == "stream"
                else channel_stats(self.datasets["train"].images)
            )
            log.info("Normalising with the training split's mean %s and std %s", mean, std)
        # channels and image_size are those of the cached images already: recorded, not applied.
        self.preprocess = BatchPreprocessor(
            mean,
            std,
            channels=self.channels,
            image_size=self.image_size,
            resize=self.eval_resize if self.storage == "stream" else None,
            crop_padding=self.augment.crop_padding,
            horizontal_flip=self.augment.horizontal_flip,
            transforms=self.augment.transforms,
            random_erasing=self.augment.random_erasing,
        )

    def write_splits(self, path: Path) -> None:
        """`file,label,split` for every row used, as the run split them: which images validated and
        tested this model (the test rows are the validation rows when no test CSV was given)."""
        text = io.StringIO()
        writer = csv.writer(text)
        writer.writerow(["file", "label", "split"])
        writer.writerows((file, self.class_names[label], split) for file, label, split in self.split_rows)
        atomic_write_text(path, text.getvalue())

    def _first_process_storage(self) -> str | None:
        """Under DDP, the storage the first process chose: every process must read the data alike.

        `auto` decides from the memory available, which the first process's own array has already
        taken by the time the others look: alone, they could choose otherwise, and a process
        streaming beside one in memory would see other batches, and another number of them.
        """
        trainer = self.trainer
        if trainer is None or trainer.world_size == 1:
            return self.storage
        return trainer.strategy.broadcast(self.storage, src=0)

    def _loader(self, split: str, batch_size: int, shuffle: bool) -> DataLoader | InMemoryBatches:
        if self.storage != "stream":
            return super()._loader(split, batch_size, shuffle)
        from litdata import StreamingDataLoader

        options = self.loader_options
        loader = StreamingDataLoader(
            self.streamed(split, shuffle),
            batch_size=batch_size,
            worker_init_fn=release_inherited_heap,
            **options,
        )
        if split == "train":
            self._train_loader = loader
            if self._train_position is not None:
                self._resume_stream(loader, *self._train_position)
        return loader

    def _resume_stream(self, loader, epoch: int, batches_done: int) -> None:
        """Put a new training loader where the checkpoint's left off, before its first pass.

        Here rather than through Lightning's own restore of loader states: Lightning builds and
        iterates the loader before it restores its loops when a scheduler asks how many steps the
        run has (`estimated_stepping_batches`), and then never applies the saved state.
        """
        self._train_position = None
        if batches_done == 0:
            # LitData counts passes from 1 and starts one at each iter(): epoch e is its pass e + 1.
            loader.current_epoch = epoch
        elif self._stream_state is not None:
            loader.load_state_dict(self._stream_state)

    def streamed(self, split: str, shuffle: bool = False) -> StreamedImages:
        """The split as a LitData dataset: augmented (training) or resized and centre-cropped."""
        return StreamedImages(
            str(self.streams[split]),
            self.channels,
            self.image_size,
            self.eval_resize,
            transforms=self.stream_transforms if split == "train" else None,
            shuffle=shuffle,
            seed=self.seed,
        )

    def example_images(self) -> torch.Tensor | None:
        if self.storage == "stream":
            return self.streamed("val")[0][0][None]
        return super().example_images()

    def state_dict(self) -> dict:
        """Saved in checkpoints: the class list the model's outputs refer to (and the data position).

        Streaming mid-epoch, also the loader's own state (LitData's: the samples each worker has
        given), from which a resumed run goes on at the next sample.
        """
        state = {**super().state_dict(), "class_names": self.class_names}
        position = state.get("train_position")
        if self.storage == "stream" and position and position[1] > 0 and self._train_loader is not None:
            state["stream_loader"] = self._train_loader.state_dict()
        return state

    def load_state_dict(self, state: dict) -> None:
        if state.get("class_names") and state["class_names"] != self.class_names:
            raise DataError(
                f"The checkpoint was trained on classes {state['class_names'][:10]}, but the CSV now gives "
                f"{self.class_names[:10]}; evaluate with the CSV it was trained on."
            )
        self._stream_state = state.get("stream_loader")
        super().load_state_dict(state)


def _check_choices(channels: int, on_bad_rows: str, header: bool | str) -> None:
    """A value outside a key's few choices is one line naming the key, before anything is read."""
    if channels not in (1, 3):
        raise ConfigError(f"data.channels must be 1 (grey) or 3 (RGB), got {channels}.")
    if on_bad_rows not in ("error", "skip"):
        raise ConfigError(f"data.on_bad_rows must be 'error' or 'skip', got {on_bad_rows!r}.")
    if header not in ("auto", True, False):
        raise ConfigError(f"data.header must be auto, true or false, got {header!r}.")


def _stream_transforms(transforms: Sequence | None, image_size: int) -> list | None:
    """The streamed training transforms: None, the standard photo recipe; [], none (training images
    are then prepared as for evaluation)."""
    if transforms is None:
        transforms = [v2.RandomResizedCrop(image_size), v2.RandomHorizontalFlip()]
    return list(transforms) or None


def _eval_resize(eval_resize: int | None, image_size: int) -> int:
    """The shorter side streamed evaluation images are resized to before the centre crop.

    torchvision's ImageNet recipes evaluate at 224 from a 256 resize: null keeps that 0.875 ratio.
    """
    size = eval_resize if eval_resize is not None else round(image_size / 0.875)
    if size < image_size:
        raise ConfigError(
            f"data.eval_resize={eval_resize} is below data.image_size={image_size}: the centre crop "
            "would not fit; give at least the image size, or null for image_size / 0.875."
        )
    return size
