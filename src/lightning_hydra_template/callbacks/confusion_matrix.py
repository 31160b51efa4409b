"""Which classes the model confuses: TensorBoard after every validation, files after testing."""

from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from torchmetrics.classification import MulticlassConfusionMatrix

from ..atomic_files import atomic_write_bytes, atomic_write_text
from .class_scores import per_class_csv, per_class_scores
from .confusion_image import confusion_image
from .drawing import png_bytes
from .tensorboard_writer import has_tensorboard, tensorboard_writer


class ConfusionMatrix(L.Callback):
    """Confusion matrices, rows the true classes, columns the predicted ones.

    - after each validation epoch, `confusion_matrix/val` in TensorBoard (when the run logs there);
    - after testing, `confusion_matrix/test` in TensorBoard, and in `dirpath` (default: the run
      folder) `confusion_matrix.png` and `per_class.csv` (precision, recall, F1, support per class).

    Counts come from the logits the classifier's steps return: no second pass over the data. The
    torchmetrics matrix sums every process's counts when computed, so under DDP it covers all data.
    """

    def __init__(self, dirpath: str | None = None) -> None:
        self.dirpath = dirpath
        self._matrix: MulticlassConfusionMatrix | None = None

    def on_validation_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._matrix = None

    on_test_epoch_start = on_validation_epoch_start

    def on_validation_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, *args: Any
    ) -> None:
        # Per validation epoch only for TensorBoard: without it, nothing to draw and nothing to pay.
        if not trainer.sanity_checking and has_tensorboard(trainer):
            self._update(outputs, batch[1])

    def on_test_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, *args: Any
    ) -> None:
        self._update(outputs, batch[1])

    def _update(self, logits: Any, labels: torch.Tensor) -> None:
        if not isinstance(logits, torch.Tensor):
            return  # a module whose steps return no logits
        if self._matrix is None:
            self._matrix = MulticlassConfusionMatrix(logits.shape[-1], validate_args=False).to(logits.device)
        self._matrix.update(logits.argmax(dim=-1), labels)

    def _counts(self) -> np.ndarray | None:
        """The epoch's matrix, summed over processes (every rank must call: it is a collective)."""
        if self._matrix is None:
            return None
        counts = self._matrix.compute().cpu().numpy()
        self._matrix = None
        return counts

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        counts = self._counts()
        writer = tensorboard_writer(trainer)
        if counts is None or writer is None:
            return
        title = f"validation, epoch {trainer.current_epoch}"
        image = confusion_image(counts, pl_module.class_names, title)
        writer.add_image("confusion_matrix/val", image, trainer.global_step, dataformats="HWC")

    def on_test_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        counts = self._counts()
        if counts is None or not trainer.is_global_zero:
            return
        image = confusion_image(counts, pl_module.class_names, "test")
        writer = tensorboard_writer(trainer)
        if writer is not None:
            writer.add_image("confusion_matrix/test", image, trainer.global_step, dataformats="HWC")
        folder = Path(self.dirpath or trainer.default_root_dir)
        atomic_write_bytes(folder / "confusion_matrix.png", png_bytes(image))
        scores = per_class_scores(counts, pl_module.class_names)
        atomic_write_text(folder / "per_class.csv", per_class_csv(scores))
