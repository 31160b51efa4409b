"""One stop path for SIGTERM, SIGINT, SIGUSR1 and SIGUSR2: outside Lightning's loops (start-up, data
preparation) they stop the task at once; inside, they take Lightning's finish-the-batch path."""

import os
import signal

import pytest

from lightning_hydra_template.run.interruption import RunInterrupted, handled_signals
from lightning_hydra_template.run.slurm_job import requeue_this_job


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGUSR1, signal.SIGUSR2])
def test_a_signal_before_training_stops_the_task_and_names_itself(signum):
    with pytest.raises(RunInterrupted), handled_signals() as record:
        os.kill(os.getpid(), signum)
    assert record.signum == signum and record.exit_code == 128 + signum
    assert record.name == signal.Signals(signum).name


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGUSR1, signal.SIGUSR2])
def test_during_lightnings_loops_the_signal_is_left_to_lightning(signum):
    seen = []
    with handled_signals() as record:
        ours = signal.getsignal(signal.SIGTERM)

        def lightning_handler(signum, frame):  # Lightning composes its handler with the one it found
            seen.append(signum)
            ours(signum, frame)

        signal.signal(signal.SIGTERM, lightning_handler)
        os.kill(os.getpid(), signum)  # Ctrl+C, SLURM's warning: Lightning's finish-the-batch path
    assert seen == [signal.SIGTERM] and record.signum == signum


def test_the_previous_handlers_come_back_afterwards():
    signals = (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1, signal.SIGUSR2)
    before = [signal.getsignal(s) for s in signals]
    with handled_signals():
        pass
    assert [signal.getsignal(s) for s in signals] == before


@pytest.mark.parametrize(
    ("signum", "requeue"),
    [(signal.SIGUSR1, True), (signal.SIGUSR2, True), (signal.SIGTERM, False), (signal.SIGINT, False)],
)
def test_only_slurms_warning_signal_asks_for_a_requeue(signum, requeue):
    # SIGTERM: SLURM requeues a preempted job itself, and a job scancel stopped must stay stopped.
    with pytest.raises(RunInterrupted), handled_signals() as record:
        os.kill(os.getpid(), signum)
    assert record.wants_requeue is requeue


def test_outside_slurm_nothing_is_requeued(monkeypatch):
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    assert requeue_this_job() is False
