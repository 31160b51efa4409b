"""`time_budget=<seconds>`: this invocation stops cleanly before it, with last.ckpt to continue from.

A job whose wall-clock limit is known (a SLURM `--time`, a CI slot) sets its budget a little below
it. Unlike Lightning's `trainer.max_time`, which counts the whole run across resumes (so a resumed
run with the same limit stops at once), the budget is per start: running the same command again
with `ckpt_path=auto` (a requeued job does) continues from where the last start stopped.

Stopping goes through run/interruption.py's one path, as SLURM's warning signal does (the process
sends itself SIGUSR1): the batch finishes, last.ckpt is saved, the status is recorded, and under
SLURM the job is requeued.
"""

import logging
import signal
import time

import lightning as L

log = logging.getLogger(__name__)


class TimeBudget(L.Callback):
    """Stop training once `seconds` have passed since this callback was built (the run's start)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = float(seconds)
        self.started = time.monotonic()
        self.spent = False

    def on_train_batch_end(self, trainer: L.Trainer, *args: object) -> None:
        over = time.monotonic() - self.started >= self.seconds
        over = trainer.strategy.broadcast(over)  # every rank stops after the same batch
        if over and not self.spent:
            self.spent = True
            log.warning(
                "Time budget of %gs reached at step %d: saving last.ckpt and stopping; "
                "ckpt_path=auto continues.", self.seconds, trainer.global_step,
            )  # fmt: skip
            signal.raise_signal(signal.SIGUSR1)
