"""A dataset of uint8 images held in memory, batched by indexing instead of per-sample collation."""

import logging
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset

from .batch_mixing import BatchMixing
from .batch_transforms import BatchPreprocessor
from .loader_options import LoaderOptions

log = logging.getLogger(__name__)


class InMemoryImages(Dataset):
    """uint8 images `[N, C, H, W]` and int64 labels `[N]`; a batch is one indexing op.

    The DataLoader calls `__getitems__` with a batch of indices, so a batch costs one gather
    rather than `batch_size` Python calls and a collate. Workers (if any) share these tensors.
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor) -> None:
        if images.dtype != torch.uint8 or images.ndim != 4:
            raise ValueError(f"images must be uint8 [N, C, H, W], got {images.dtype} {tuple(images.shape)}")
        if len(images) != len(labels):
            raise ValueError(f"{len(images)} images but {len(labels)} labels")
        self.images = images
        self.labels = labels.long()

    def __len__(self) -> int:
        return len(self.labels)

    def to(self, device: torch.device) -> "InMemoryImages":
        """The same images on `device` (moved once; a no-op when they are there already)."""
        return InMemoryImages(self.images.to(device), self.labels.to(device))

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.images[index], self.labels[index]

    def __getitems__(self, indices: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
        index = torch.as_tensor(indices)
        return self.images[index], self.labels[index]


class InMemoryBatches:
    """Batches of `InMemoryImages` cut from a permutation: no sampler, collate or worker per batch.

    The loader for `num_workers=0`, which is the fast choice when the data is in memory already.
    The order of an epoch comes from (seed, epoch) alone, so a resumed run repeats it exactly.
    Under DDP each process takes every `world_size`-th index of one shared permutation (padded to
    equal length, as `DistributedSampler` does), so all processes see the same number of batches.
    """

    def __init__(
        self,
        dataset: InMemoryImages,
        batch_size: int,
        shuffle: bool,
        rank: int = 0,
        world_size: int = 1,
        seed: int | None = None,
        current_epoch: Callable[[], int] | None = None,
    ) -> None:
        self.dataset = dataset
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.rank, self.world_size = rank, world_size
        self.seed = torch.initial_seed() if seed is None else seed  # identical in every DDP process
        # Under Lightning, the trainer's epoch counter. Not Lightning's `set_epoch` on a sampler:
        # a run resumed at an epoch's end was handed the epoch after the right one.
        self.current_epoch = current_epoch
        self.epoch = 0  # without a trainer: set_epoch(epoch) before each pass
        self._resume_at: tuple[int, int] | None = None

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def resume(self, epoch: int, batches_done: int) -> None:
        """Start the next pass at batch `batches_done` of `epoch`: a resumed run goes on from there.

        Lightning draws the first batch while it sets up, before it restores its epoch counter,
        so the position must be known before that first pass.
        """
        self._resume_at = (epoch, batches_done)

    def _indices(self, epoch: int) -> torch.Tensor:
        n = len(self.dataset)
        if self.shuffle:
            order = torch.randperm(n, generator=torch.Generator().manual_seed(self.seed + epoch))
        else:
            order = torch.arange(n)
        if self.world_size > 1:
            per_rank = -(-n // self.world_size)
            order = torch.cat([order, order[: per_rank * self.world_size - n]])[self.rank :: self.world_size]
        return order

    def __len__(self) -> int:
        per_rank = -(-len(self.dataset) // self.world_size)
        return -(-per_rank // self.batch_size)

    def __iter__(self):
        if self._resume_at is not None:
            (epoch, done), self._resume_at = self._resume_at, None
        else:
            epoch, done = (self.current_epoch() if self.current_epoch else self.epoch), 0
        images, labels = self.dataset.images, self.dataset.labels
        for index in self._indices(epoch).to(images.device).split(self.batch_size)[done:]:
            yield images[index], labels[index]


def keep_batch(batch: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Collate for `InMemoryImages`: `__getitems__` already returns a whole batch."""
    return batch


class InMemoryDataModule(L.LightningDataModule):
    """Serves `self.datasets` (`train`, `val`, `test`: `InMemoryImages`) as uint8 batches.

    Subclasses fill `datasets`, `preprocess` (and `mixing`, when on) in `setup`; `preprocess` then
    finishes each batch on its device (augmentation in training, normalisation, resizing).
    """

    def __init__(self, loader: LoaderOptions | None = None) -> None:
        super().__init__()
        loader = loader or LoaderOptions()
        self.on_device = loader.on_device
        # Lightning's batch-size finder reads and writes this attribute (tune=batch_size).
        self.batch_size = loader.batch_size
        self.eval_batch_size = loader.eval_batch_size or loader.batch_size
        workers = loader.num_workers or 0  # None: no workers for data in memory (batches are slices)
        self.loader_options = {
            "num_workers": workers,
            "pin_memory": loader.pin_memory,
            "persistent_workers": loader.persistent_workers and workers > 0,
        }
        self.datasets: dict[str, InMemoryImages] = {}
        # Built after seed_everything: the run's seed, fixed before anything reseeds torch.
        self.seed = torch.initial_seed()
        self._train_position: tuple[int, int] | None = None  # from a checkpoint being resumed
        self.preprocess: BatchPreprocessor | None = None
        self.mixing: BatchMixing | None = None  # mixup / cutmix of training batches, when on

    def _loader(self, split: str, batch_size: int, shuffle: bool) -> DataLoader | InMemoryBatches:
        if self.loader_options["num_workers"] == 0:
            trainer = self.trainer
            if self.on_device and trainer is not None and trainer.strategy.root_device.type == "cuda":
                self.datasets[split] = self.datasets[split].to(trainer.strategy.root_device)
            distributed = trainer is not None and trainer.world_size > 1
            rank, world_size = (trainer.global_rank, trainer.world_size) if distributed else (0, 1)
            batches = InMemoryBatches(
                self.datasets[split],
                batch_size,
                shuffle,
                rank,
                world_size,
                self.seed,
                (lambda: trainer.current_epoch) if trainer is not None else None,
            )
            if split == "train" and self._train_position is not None:
                batches.resume(*self._train_position)
                self._train_position = None
            return batches
        return DataLoader(
            self.datasets[split],
            batch_size=batch_size,
            shuffle=shuffle,
            collate_fn=keep_batch,
            **self.loader_options,
        )

    def train_dataloader(self) -> DataLoader | InMemoryBatches:
        # trainer.overfit_batches (debug=overfit) needs the same few batches every epoch.
        overfitting = self.trainer is not None and self.trainer.overfit_batches > 0
        return self._loader("train", self.batch_size, shuffle=not overfitting)

    def val_dataloader(self) -> DataLoader | InMemoryBatches:
        return self._loader("val", self.eval_batch_size, shuffle=False)

    def test_dataloader(self) -> DataLoader | InMemoryBatches:
        return self._loader("test", self.eval_batch_size, shuffle=False)

    def predict_dataloader(self) -> DataLoader | InMemoryBatches:
        return self.test_dataloader()

    def state_dict(self) -> dict:
        """Saved in checkpoints: the next training batch (epoch, index), for an exact resume."""
        trainer = self.trainer
        if trainer is None or trainer.state.fn != "fit":
            return {}
        epoch = trainer.current_epoch
        done = trainer.fit_loop.epoch_loop.batch_progress.current.completed
        if done >= trainer.num_training_batches:  # saved at the end of the epoch
            epoch, done = epoch + 1, 0
        return {"train_position": [epoch, done]}

    def load_state_dict(self, state: dict) -> None:
        if state.get("train_position"):
            self._train_position = tuple(state["train_position"])
            epoch, done = self._train_position
            if done:
                self._say_what_a_mid_epoch_resume_keeps(epoch, done)

    def _say_what_a_mid_epoch_resume_keeps(self, epoch: int, done: int) -> None:
        """Once, what holds for the rest of the epoch, in place of Lightning's warning.

        Lightning warns of "unreliable results" on every mid-epoch resume whose loader is not its
        own kind of resumable; with num_workers=0 the template's loader replays the epoch's order
        exactly, so the warning is wrong there, and with workers it does not say what goes wrong.
        """
        warnings.filterwarnings(
            "ignore", message="You're resuming from a checkpoint that ended before the epoch"
        )
        workers = self.loader_options["num_workers"]
        if workers == 0:
            log.info(
                "Resuming at batch %d of epoch %d: the epoch's order is replayed exactly (num_workers=0).",
                done,
                epoch,
            )
        else:
            log.warning(
                "Resuming at batch %d of epoch %d with data.loader.num_workers=%d: torch's DataLoader does "
                "not save its position, so the rest of this epoch is drawn from a new shuffle (some images "
                "twice, some not at all); later epochs are as usual. data.loader.num_workers=0 resumes "
                "exactly.",
                done, epoch, workers,
            )  # fmt: skip

    def train_class_counts(self, num_classes: int) -> torch.Tensor:
        """Images per class in the training split (set up here if it is not yet): `[num_classes]`."""
        if "train" not in self.datasets:
            self.setup("fit")
        return torch.bincount(self.datasets["train"].labels, minlength=num_classes)

    def example_images(self) -> torch.Tensor | None:
        """One raw training image `[1, C, H, W]` (uint8), once set up: the model summary's input."""
        train = self.datasets.get("train")
        return train.images[:1] if train is not None else None

    def on_before_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        """Seed each training batch's randomness (augmentation, dropout) from (seed, epoch, batch).

        It runs before the batch is augmented and stepped on, so a run resumed from any
        checkpoint draws exactly what the uninterrupted run drew.
        """
        trainer = self.trainer
        if trainer is not None and trainer.training:
            index = trainer.fit_loop.epoch_loop.batch_progress.current.ready
            seed = hash((self.seed, trainer.global_rank, trainer.current_epoch, index)) % 2**63
            # The generators this process draws from, not torch.manual_seed: that also visits every
            # other backend and cost 65 µs a batch here, against 1 µs for the CPU generator.
            torch.default_generator.manual_seed(seed)
            if trainer.strategy.root_device.type == "cuda":
                torch.cuda.manual_seed(seed)
        return batch

    def on_after_batch_transfer(
        self, batch: tuple[torch.Tensor, torch.Tensor] | torch.Tensor, dataloader_idx: int
    ) -> tuple[torch.Tensor, torch.Tensor] | torch.Tensor:
        """uint8 in, float32 out, on the batch's device (the GPU, when training on one).

        Training batches are also mixed when mixup or cutmix is on: their labels are then `[B, K]`
        class probabilities. A bare image tensor (the model summary's example input) is prepared
        as for evaluation.
        """
        if isinstance(batch, torch.Tensor):
            return self.preprocess(batch, training=False)
        images, labels = batch
        training = self.trainer is not None and self.trainer.training
        images = self.preprocess(images, training)
        if training and self.mixing is not None:
            return self.mixing(images, labels)
        return images, labels
