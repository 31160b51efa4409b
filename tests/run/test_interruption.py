"""SIGTERM and SIGINT outside Lightning's loops (start-up, data preparation) stop the task at once."""

import os
import signal

import pytest

from lightning_hydra_template.run.interruption import RunInterrupted, handled_signals


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_before_training_stops_the_task_and_names_itself(signum):
    with pytest.raises(RunInterrupted), handled_signals() as record:
        os.kill(os.getpid(), signum)
    assert record.signum == signum and record.exit_code == 128 + signum
    assert record.name == signal.Signals(signum).name


def test_during_lightnings_loops_the_signal_is_left_to_lightning(monkeypatch):
    seen = []
    with handled_signals() as record:
        ours = signal.getsignal(signal.SIGTERM)

        def lightning_handler(signum, frame):  # Lightning composes its handler with the one it found
            seen.append(signum)
            ours(signum, frame)

        signal.signal(signal.SIGTERM, lightning_handler)
        os.kill(os.getpid(), signal.SIGINT)  # Ctrl+C takes Lightning's finish-the-batch path
    assert seen == [signal.SIGTERM] and record.signum == signal.SIGINT


def test_the_previous_handlers_come_back_afterwards():
    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    with handled_signals():
        pass
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before
