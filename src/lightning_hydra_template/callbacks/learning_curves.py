"""`curves.png`: loss and accuracy per epoch, train and validation, from the metrics the run logged."""

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning as L

from ..atomic_files import atomic_write_bytes
from .curves_figure import epoch_curves
from .drawing import png_bytes


class LearningCurves(L.Callback):
    """At the end of training, `curves.png` in `dirpath` (default: the run folder): one panel per
    name in `panels`, each with `train/<name>` and `val/<name>` per epoch.

    Values are read from `trainer.callback_metrics` once per epoch: validation's when it ends,
    training's when the next epoch starts or training ends (the classifier logs them in its own
    `on_train_epoch_end`, which runs after the callbacks'). The history is kept in checkpoints, so
    a resumed run draws the epochs before the resume too.
    """

    def __init__(self, dirpath: str | None = None, panels: Sequence[str] = ("loss", "acc")) -> None:
        self.dirpath = dirpath
        self.panels = list(panels)
        self.history: dict[int, dict[str, float]] = {}
        self._epoch_ended: int | None = None  # a training epoch whose metrics are still to be read

    def _record(self, trainer: L.Trainer, stage: str, epoch: int) -> None:
        metrics = trainer.callback_metrics
        keys = [f"{stage}/{name}" for name in self.panels]
        values = {key: float(metrics[key]) for key in keys if key in metrics}
        if values:
            self.history.setdefault(epoch, {}).update(values)

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.sanity_checking and trainer.state.fn == "fit":
            self._record(trainer, "val", trainer.current_epoch)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._epoch_ended = trainer.current_epoch

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._record_ended_epoch(trainer)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._record_ended_epoch(trainer)
        if trainer.is_global_zero and self.history:
            # Epochs from 0, as Lightning counts them in train.log, the progress bar and checkpoints.
            folder = Path(self.dirpath or trainer.default_root_dir)
            atomic_write_bytes(folder / "curves.png", png_bytes(epoch_curves(self.history, self.panels)))

    def _record_ended_epoch(self, trainer: L.Trainer) -> None:
        if self._epoch_ended is not None:
            self._record(trainer, "train", self._epoch_ended)
            self._epoch_ended = None

    def state_dict(self) -> dict[str, Any]:
        return {"history": {epoch: dict(values) for epoch, values in self.history.items()}}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.history = {int(epoch): dict(values) for epoch, values in state_dict.get("history", {}).items()}
