"""The test images the model got wrong with the most confidence, with their true and predicted class."""

from pathlib import Path
from typing import Any

import lightning as L
import torch

from ..atomic_files import atomic_write_bytes
from .display_images import display_images
from .drawing import png_bytes
from .image_grid import image_grid
from .rank_gather import gather_rows
from .tensorboard_writer import tensorboard_writer


class Misclassified(L.Callback):
    """After testing: the `count` most confidently wrong test images, `misclassified.png` in `dirpath`
    (default: the run folder) and `misclassified/test` in TensorBoard (when the run logs there).

    Read from the logits the classifier's test steps return; only the `count` worst so far are
    kept (on the device, no per-batch sync), and every process's worst are pooled at the end.
    """

    def __init__(self, count: int = 25, columns: int = 5, dirpath: str | None = None) -> None:
        self.count, self.columns, self.dirpath = count, columns, dirpath
        self._worst: dict[str, torch.Tensor] | None = None

    def on_test_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._worst = None

    def on_test_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, *args: Any
    ) -> None:
        if not isinstance(outputs, torch.Tensor):
            return
        confidence, predicted = outputs.float().softmax(dim=-1).max(dim=-1)
        labels = batch[1]
        candidates = {
            # Right answers rank below every wrong one: a fixed-size top-k needs no data-dependent shape.
            "confidence": confidence.masked_fill(predicted == labels, -1.0),
            "predicted": predicted,
            "label": labels,
            "image": batch[0].float(),
        }
        candidates = _top(candidates, self.count)  # images copied: `count` of them, not the batch
        if self._worst is not None:
            candidates = _top({k: torch.cat([self._worst[k], v]) for k, v in candidates.items()}, self.count)
        self._worst = candidates

    def on_test_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._worst is None:
            return
        pooled = _top({k: gather_rows(pl_module, v) for k, v in self._worst.items()}, self.count)
        self._worst = None
        if not trainer.is_global_zero:
            return
        wrong = pooled["confidence"] >= 0
        names = pl_module.class_names
        titles = [
            f"true: {names[label]}\npred: {names[predicted]} ({confidence:.0%})"
            for label, predicted, confidence in zip(
                pooled["label"][wrong].tolist(),
                pooled["predicted"][wrong].tolist(),
                pooled["confidence"][wrong].tolist(),
            )
        ]
        image = image_grid(display_images(pooled["image"][wrong], trainer), titles, self.columns)
        writer = tensorboard_writer(trainer)
        if writer is not None:
            writer.add_image("misclassified/test", image, trainer.global_step, dataformats="HWC")
        folder = Path(self.dirpath or trainer.default_root_dir)
        atomic_write_bytes(folder / "misclassified.png", png_bytes(image))


def _top(rows: dict[str, torch.Tensor], count: int) -> dict[str, torch.Tensor]:
    """The `count` rows of highest confidence, most confident first."""
    order = rows["confidence"].topk(min(count, len(rows["confidence"]))).indices
    return {k: v[order] for k, v in rows.items()}
