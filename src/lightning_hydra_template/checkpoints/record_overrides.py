"""The callback that adds a run's command-line overrides to every checkpoint (run_overrides.py says why).

Apart from run_overrides.py, which the entry scripts import before Hydra: this one imports Lightning.
"""

import lightning as L

from .run_overrides import CHECKPOINT_KEY, replayable


class RecordRunOverrides(L.Callback):
    """Keeps the run's `overrides` (plain strings, so `weights_only=True` still loads the file) in
    every checkpoint it saves."""

    def __init__(self, overrides: list[str]) -> None:
        self.overrides = replayable([str(o) for o in overrides])

    def on_save_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict) -> None:
        checkpoint[CHECKPOINT_KEY] = list(self.overrides)
