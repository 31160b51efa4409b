"""The TensorBoard writer of a run, when it has one: the views skip quietly without it."""

import lightning as L
from lightning.pytorch.loggers import TensorBoardLogger
from torch.utils.tensorboard import SummaryWriter


def has_tensorboard(trainer: L.Trainer) -> bool:
    """Whether the run logs to TensorBoard: the same answer on every process, so collectives agree."""
    return any(isinstance(logger, TensorBoardLogger) for logger in trainer.loggers)


def tensorboard_writer(trainer: L.Trainer) -> SummaryWriter | None:
    """The first TensorBoardLogger's writer on the process that writes (rank zero); None elsewhere."""
    if not trainer.is_global_zero:
        return None
    for logger in trainer.loggers:
        if isinstance(logger, TensorBoardLogger):
            return logger.experiment
    return None
