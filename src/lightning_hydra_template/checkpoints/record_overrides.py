"""The callback that adds a run's command-line overrides to every checkpoint (run_overrides.py says why).

Apart from run_overrides.py, which the entry scripts import before Hydra: this one imports Lightning.
"""

from typing import Any

import lightning as L

from .run_overrides import CHECKPOINT_KEY, PROVENANCE_KEY, replayable


class RecordRunOverrides(L.Callback):
    """Keeps the run's `overrides` and `provenance` (plain values, so `weights_only=True` still loads
    the file) in every checkpoint it saves.

    `provenance`: where the run ran and from which code (run/provenance.py `checkpoint_provenance`).
    """

    def __init__(self, overrides: list[str], provenance: dict[str, Any] | None = None) -> None:
        self.overrides = replayable([str(o) for o in overrides])
        self.provenance = provenance

    def on_save_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict) -> None:
        checkpoint[CHECKPOINT_KEY] = list(self.overrides)
        if self.provenance is not None:
            checkpoint[PROVENANCE_KEY] = dict(self.provenance)
