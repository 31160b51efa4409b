"""One graceful-stop path: SIGTERM, SIGINT, SIGUSR1 and SIGUSR2 finish the step, save last.ckpt,
record the status, and exit non-zero (requeued first when SLURM warned of the end: run/slurm_job.py).

SLURM, Kubernetes and `timeout` send SIGTERM; Ctrl+C sends SIGINT; SLURM's warning before a time
limit or a preemption (`--signal`) is SIGUSR1 for Lightning's convention and SIGUSR2 for
submitit's. During `trainer.fit`/`test` Lightning has its own SIGTERM handler: it lets the batch in
flight finish and raises `SIGTERMException` (then `RunCheckpoint.on_exception` saves last.ckpt).
Every other signal is routed the same way. Outside Lightning's loops (data preparation, start-up)
a signal stops the run at once.

These handlers are installed before Lightning's: Lightning then leaves SIGUSR1 alone (it adds its
SLURM handler only where none is installed) and composes its SIGTERM handler with this one, so
exactly one path saves and requeues, never two racing.
"""

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

ROUTED = (signal.SIGINT, signal.SIGUSR1, signal.SIGUSR2)  # through Lightning's SIGTERM path
WARNINGS = (signal.SIGUSR1, signal.SIGUSR2)  # SLURM's "your time is up soon": save and requeue


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

    @property
    def wants_requeue(self) -> bool:
        """SLURM's warning signal: the job is about to be stopped and should come back.

        SIGTERM is not: SLURM requeues a preempted or `scontrol requeue`d job itself, and a job
        that `scancel` stopped must stay stopped.
        """
        return self.signum in WARNINGS

    def _on_sigterm(self, signum: int, frame: FrameType | None) -> None:
        self.signum = self.signum or signum
        if signal.getsignal(signal.SIGTERM) == self._on_sigterm:  # a bound method: equal, not identical
            raise RunInterrupted(signum)  # not inside Lightning's loops: nothing to finish
        # Else Lightning's handler, which calls this one too, has flagged the trainer already.

    def _on_other(self, signum: int, frame: FrameType | None) -> None:
        self.signum = self.signum or signum
        current = signal.getsignal(signal.SIGTERM)
        if current == self._on_sigterm or not callable(current):
            raise RunInterrupted(signum)
        current(signal.SIGTERM, frame)  # Lightning's SIGTERM path: finish the batch, then stop


@contextmanager
def handled_signals() -> Iterator[SignalRecord]:
    """Route the signals as above for the duration of a task; restore the old handlers after."""
    record = SignalRecord()
    previous = {s: signal.getsignal(s) for s in (signal.SIGTERM, *ROUTED)}
    try:
        signal.signal(signal.SIGTERM, record._on_sigterm)
        for signum in ROUTED:
            signal.signal(signum, record._on_other)
    except ValueError:  # not the main thread (a sweep's worker thread): leave signals alone
        yield record
        return
    try:
        yield record
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
