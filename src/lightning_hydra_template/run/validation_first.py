"""A signal during a fit's validation stops the run once the validation ends, not in the middle of it.

Stopped mid-validation, a run saved a last.ckpt that Lightning resumes after the epoch's last
training batch, skipping that validation: the epoch's `val/*` metrics and its best.ckpt were lost
(with what follows from them: early stopping, a plateau schedule), and after the last epoch the
test used an older best. Letting the validation finish saves last.ckpt at its end, as an
uninterrupted run does, so the resume goes on exactly (run/interruption.py stops the run after it).
A second signal stops the run at once, in the validation.
"""

import logging
import signal
from types import FrameType
from typing import Any

import lightning as L

log = logging.getLogger(__name__)


class ValidationFinishesFirst(L.Callback):
    """Holds back the stop signal while a fit validates; hands it on when the validation ends.

    Lightning's SIGTERM handler (which every routed signal goes through) is wrapped for the length
    of each validation: it is called, with the signal held back, at `on_validation_end`.
    """

    def __init__(self) -> None:
        self.wrapped: Any = None  # the SIGTERM handler the signal goes to once validation is over
        self.held: tuple[int, FrameType | None] | None = None

    def on_validation_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        current = signal.getsignal(signal.SIGTERM)
        if trainer.sanity_checking or not callable(current):
            return
        try:
            signal.signal(signal.SIGTERM, self._hold)
        except ValueError:  # not the main thread (a sweep's worker): signals are not ours to route
            return
        self.wrapped = current

    def _hold(self, signum: int, frame: FrameType | None) -> None:
        if self.held is not None:  # asked twice: stop now, in the validation
            wrapped = self._restore()
            wrapped(signum, frame)
            return
        self.held = (signum, frame)
        log.warning("Signal %s during validation: stopping once it ends.", signal.Signals(signum).name)

    def _restore(self) -> Any:
        wrapped = self.wrapped
        if wrapped is not None:
            signal.signal(signal.SIGTERM, wrapped)
        self.wrapped = None
        return wrapped

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        wrapped, held = self._restore(), self.held
        self.held = None
        if wrapped is not None and held is not None:
            wrapped(*held)  # Lightning's SIGTERM path: it stops before the next batch or epoch

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, error: BaseException) -> None:
        self._restore()
        self.held = None
