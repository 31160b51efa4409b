"""TensorBoard: the training images as the network receives them, augmented, under their labels."""

import lightning as L
import torch

from .display_images import display_images
from .image_grid import image_grid
from .tensorboard_writer import tensorboard_writer


class SampleImages(L.Callback):
    """Once, at the first training batch of a run: `count` of its images (tag `samples/train`).

    The batch is taken after the datamodule's `on_after_batch_transfer`, so crops, flips and any
    `data.augment.transforms` show as the network sees them; normalisation is undone for display.
    """

    def __init__(self, count: int = 32, columns: int = 8) -> None:
        self.count, self.columns = count, columns
        self._done = False

    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch: tuple, batch_idx: int
    ) -> None:
        if self._done:
            return
        self._done = True
        writer = tensorboard_writer(trainer)
        if writer is None:
            return
        images, labels = batch[0][: self.count], batch[1][: self.count]
        if labels.ndim == 2:  # mixup / cutmix: class probabilities, titled by their largest share
            labels = labels.argmax(dim=-1)
        titles = [pl_module.class_names[i] for i in labels.tolist()]
        with torch.no_grad():
            grid = image_grid(display_images(images, trainer), titles, self.columns)
        writer.add_image("samples/train", grid, trainer.global_step, dataformats="HWC")
