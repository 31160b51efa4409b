"""SIGTERM and SIGINT stop a run cleanly: batch finished, last.ckpt saved, status recorded, exit non-zero.

SLURM, Kubernetes and `timeout` send SIGTERM; Ctrl+C sends SIGINT. During `trainer.fit`/`test`
Lightning has its own SIGTERM handler: it lets the batch in flight finish and raises
`SIGTERMException` (then `RunCheckpoint.on_exception` saves last.ckpt). SIGINT is routed the same
way. Outside Lightning's loops (data preparation, start-up) a signal stops the run at once.
"""

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType


class RunInterrupted(BaseException):
    """A signal stopped the run outside Lightning's loops (a BaseException, like KeyboardInterrupt)."""


class SignalRecord:
    """Which signal stopped the run (the first one), and the handlers that route it."""

    def __init__(self) -> None:
        self.signum: int | None = None

    @property
    def exit_code(self) -> int:
        """The shell's convention for death by a signal: 128 + its number (SIGTERM 143, SIGINT 130)."""
        return 128 + (self.signum or signal.SIGTERM)

    @property
    def name(self) -> str:
        return signal.Signals(self.signum or signal.SIGTERM).name

    def _on_sigterm(self, signum: int, frame: FrameType | None) -> None:
        self.signum = self.signum or signum
        if signal.getsignal(signal.SIGTERM) == self._on_sigterm:  # a bound method: equal, not identical
            raise RunInterrupted(signum)  # not inside Lightning's loops: nothing to finish
        # Else Lightning's handler, which calls this one too, has flagged the trainer already.

    def _on_sigint(self, signum: int, frame: FrameType | None) -> None:
        self.signum = self.signum or signum
        current = signal.getsignal(signal.SIGTERM)
        if current == self._on_sigterm or not callable(current):
            raise RunInterrupted(signum)
        current(signal.SIGTERM, frame)  # Lightning's SIGTERM path: finish the batch, then stop


@contextmanager
def handled_signals() -> Iterator[SignalRecord]:
    """Route SIGTERM and SIGINT as above for the duration of a task; restore the old handlers after."""
    record = SignalRecord()
    previous = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        signal.signal(signal.SIGTERM, record._on_sigterm)
        signal.signal(signal.SIGINT, record._on_sigint)
    except ValueError:  # not the main thread (a sweep's worker thread): leave signals alone
        yield record
        return
    try:
        yield record
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
