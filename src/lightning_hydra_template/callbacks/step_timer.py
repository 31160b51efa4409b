"""Record when each training step starts, when each validation ends, and how long testing takes,
for benchmarks."""

import resource
import time
from pathlib import Path

import lightning as L

from ..atomic_files import atomic_write_json


class StepTimer(L.Callback):
    """Writes `step_times.json`: wall-clock start of every training step, test duration, peak RSS,
    and for time-to-accuracy the fit's duration and each validation's accuracy with its time.

    Timing reads the host clock only: no device synchronisation, so it does not slow the steps it
    measures (on a GPU, queued work evens out over the many steps a rate is computed from).
    """

    def __init__(self, path: str | None = None) -> None:
        self.path = Path(path) if path else None  # None: keep the timings in memory only
        self.step_starts: list[float] = []
        self.batch_sizes: list[int] = []
        self.test_seconds: float | None = None
        self._last_step_end: float | None = None
        self.fit_started: float | None = None
        self.fit_seconds: float | None = None
        # [{"epoch", "seconds" (since the fit started), "val_acc"}] per validation, sanity check aside
        self.validations: list[dict] = []

    def on_train_start(self, trainer, pl_module) -> None:
        self.fit_started = time.time()

    def on_validation_end(self, trainer, pl_module) -> None:
        # At validation's end, not its epoch end: callbacks' epoch-end hooks run before the module's,
        # which logs val/acc.
        accuracy = trainer.callback_metrics.get("val/acc")
        if trainer.sanity_checking or self.fit_started is None or accuracy is None:
            return
        self.validations.append(
            {
                "epoch": trainer.current_epoch,
                "seconds": time.time() - self.fit_started,
                "val_acc": float(accuracy),
            }
        )

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx: int) -> None:
        self.step_starts.append(time.time())
        self.batch_sizes.append(len(batch[1]))

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        self._last_step_end = time.time()

    def on_train_end(self, trainer, pl_module) -> None:
        # The end of the last step, not now: the epoch-end hooks in between (checkpoint, plots) take
        # a fixed few hundred ms that would be charged to the last step, and so to the rate.
        if self._last_step_end is not None:  # None: no training step ran
            self.step_starts.append(self._last_step_end)
        if self.fit_started is not None:  # the whole fit: steps, validations, checkpoints
            self.fit_seconds = time.time() - self.fit_started

    def on_test_epoch_start(self, trainer, pl_module) -> None:
        self._test_started = time.perf_counter()

    def on_test_epoch_end(self, trainer, pl_module) -> None:
        self.test_seconds = time.perf_counter() - self._test_started

    def on_test_end(self, trainer, pl_module) -> None:
        self.write()

    def on_fit_end(self, trainer, pl_module) -> None:
        self.write()

    def write(self) -> None:
        if self.path is None:
            return
        if not self.path.parent.is_dir():
            self.path.parent.mkdir(parents=True)
        atomic_write_json(
            self.path,
            {
                "step_starts": self.step_starts,
                "batch_sizes": self.batch_sizes,
                "test_seconds": self.test_seconds,
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "fit_seconds": self.fit_seconds,
                "validations": self.validations,
            },
        )
