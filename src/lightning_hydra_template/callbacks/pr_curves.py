"""TensorBoard's PR Curves tab: one precision-recall curve per class on the test set."""

from typing import Any

import lightning as L
import torch

from .rank_gather import gather_rows
from .tensorboard_writer import has_tensorboard, tensorboard_writer


class PRCurves(L.Callback):
    """After testing: for each class, precision against recall of "is it this class?" as the
    threshold on its softmax probability moves (tags `pr_curve/<class name>`).

    Probabilities come from the logits the classifier's test steps return, kept on the device
    (test images x classes floats) and pooled from every process at the end.
    """

    def __init__(self, num_thresholds: int = 127) -> None:
        self.num_thresholds = num_thresholds
        self._probabilities: list[torch.Tensor] = []
        self._labels: list[torch.Tensor] = []

    def on_test_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._probabilities, self._labels = [], []

    def on_test_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, *args: Any
    ) -> None:
        if isinstance(outputs, torch.Tensor) and has_tensorboard(trainer):
            self._probabilities.append(outputs.float().softmax(dim=-1))
            self._labels.append(batch[1])

    def on_test_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not self._labels:
            return
        probabilities = gather_rows(pl_module, torch.cat(self._probabilities)).cpu()
        labels = gather_rows(pl_module, torch.cat(self._labels)).cpu()
        self._probabilities, self._labels = [], []
        writer = tensorboard_writer(trainer)
        if writer is None:
            return
        for index, name in enumerate(pl_module.class_names):
            writer.add_pr_curve(
                f"pr_curve/{name}",
                labels == index,
                probabilities[:, index],
                trainer.global_step,
                num_thresholds=self.num_thresholds,
            )
