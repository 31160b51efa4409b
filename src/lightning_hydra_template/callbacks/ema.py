"""An exponential moving average of the weights, validated, tested and checkpointed in their place."""

from typing import Any

import lightning as L
from lightning.pytorch.callbacks import EMAWeightAveraging
from lightning.pytorch.trainer.states import TrainerFn


class EMA(EMAWeightAveraging):
    """Lightning's EMA callback: after each optimizer step, avg <- decay * avg + (1 - decay) * weights.

    Validation runs on the averaged weights, and checkpoints hold them as `state_dict` (the trained
    weights go to `current_model_state`, for resuming), so best.ckpt is chosen by, and holds, the
    average that `eval.py`, `export.py`, `predict.py` and `serve.py` then load.

    One change to Lightning's callback: it puts the trained weights back whenever a checkpoint is
    loaded while it still holds an average, which after `trainer.fit` includes testing best.ckpt in
    the same process, so the test would score the trained weights, not the checkpoint's average.
    Here only a resumed fit restores them; testing and predicting keep what the checkpoint saved.
    """

    def on_load_checkpoint(
        self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        if trainer.state.fn == TrainerFn.FITTING:
            super().on_load_checkpoint(trainer, pl_module, checkpoint)
