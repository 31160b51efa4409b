"""Adds the run's command-line overrides and provenance to every checkpoint (see run/run_overrides.py)."""

from typing import Any

import lightning as L

from ..run.provenance import CHECKPOINT_KEY as PROVENANCE_KEY
from ..run.run_overrides import CHECKPOINT_KEY, replayable


class RecordRunOverrides(L.Callback):
    """Keeps `overrides` and `provenance` (plain values, so `weights_only=True` still loads the file).

    `provenance`: where the run ran and from which code (run/provenance.py `checkpoint_provenance`).
    """

    def __init__(self, overrides: list[str], provenance: dict[str, Any] | None = None) -> None:
        self.overrides = replayable([str(o) for o in overrides])
        self.provenance = provenance

    def on_save_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict) -> None:
        checkpoint[CHECKPOINT_KEY] = list(self.overrides)
        if self.provenance is not None:
            checkpoint[PROVENANCE_KEY] = dict(self.provenance)
