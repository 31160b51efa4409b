"""The run's progress, as log lines: the log file keeps what the progress bar and tables showed."""

import logging

import lightning as L

from ..run_status import headline, scalar_metrics

log = logging.getLogger(__name__)


class RunLog(L.Callback):
    """The model summary when fitting starts, a line of metrics per epoch, and one after testing."""

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.is_global_zero:
            from lightning.pytorch.utilities.model_summary import ModelSummary

            log.info("model\n%s", ModelSummary(pl_module, max_depth=2))

    # An epoch's line is written once all its metrics exist: callbacks' epoch-end hooks run before
    # the LightningModule's, which logs the training metrics.
    def __init__(self) -> None:
        self._finished_epoch: int | None = None

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._finished_epoch = trainer.current_epoch

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._log_finished_epoch(trainer)

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._log_finished_epoch(trainer)

    def _log_finished_epoch(self, trainer: L.Trainer) -> None:
        if self._finished_epoch is not None:
            self._log(trainer, f"epoch {self._finished_epoch}")
            self._finished_epoch = None

    def on_test_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._log(trainer, "test")

    @staticmethod
    def _log(trainer: L.Trainer, what: str) -> None:
        if not trainer.is_global_zero:
            return
        # Per-class accuracies and the learning rate (now, not the epoch's) are in the loggers.
        shown = headline(scalar_metrics(trainer.callback_metrics))
        log.info("%s: %s", what, ", ".join(f"{k} {v:.4g}" for k, v in shown.items()))
