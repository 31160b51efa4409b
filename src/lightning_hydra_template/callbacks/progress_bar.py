"""Lightning's rich progress bar, redrawn every `refresh_rate` training batches only."""

from typing import Any

from lightning.pytorch.callbacks import RichProgressBar


class ThrottledRichProgressBar(RichProgressBar):
    """Lightning's `RichProgressBar` reads every logged metric and redraws after *every* batch.

    Reading a metric is a `.item()` (a device sync on a GPU) and a redraw costs about as much as
    a small network's step, so this bar does both every `refresh_rate` batches and at the end.
    """

    def on_train_batch_end(self, trainer, pl_module, outputs: Any, batch: Any, batch_idx: int) -> None:
        done = batch_idx + 1
        if done % max(self.refresh_rate, 1) == 0 or done == self.total_train_batches:
            super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)
