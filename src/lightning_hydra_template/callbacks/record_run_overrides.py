"""Adds the run's command-line overrides to every checkpoint (see checkpoints/run_overrides.py for why)."""

import lightning as L

from ..checkpoints.run_overrides import CHECKPOINT_KEY, replayable


class RecordRunOverrides(L.Callback):
    """Keeps `overrides` (plain strings, so `weights_only=True` still loads the file) in checkpoints."""

    def __init__(self, overrides: list[str]) -> None:
        self.overrides = replayable([str(o) for o in overrides])

    def on_save_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict) -> None:
        checkpoint[CHECKPOINT_KEY] = list(self.overrides)
