"""A stop signal during a fit's validation waits for the validation's end (a second one does not)."""

import os
import signal
from types import SimpleNamespace

import pytest

from lightning_hydra_template.run.validation_first import ValidationFinishesFirst


@pytest.fixture
def lightning_handler():
    """Lightning's SIGTERM handler as installed during a fit: it records what reached it."""
    seen: list[int] = []
    before = signal.signal(signal.SIGTERM, lambda signum, frame: seen.append(signum))
    yield seen
    signal.signal(signal.SIGTERM, before)


def validating(sanity_checking: bool = False) -> SimpleNamespace:
    return SimpleNamespace(sanity_checking=sanity_checking)


def test_a_signal_in_validation_reaches_lightning_when_the_validation_ends(lightning_handler):
    callback, installed = ValidationFinishesFirst(), signal.getsignal(signal.SIGTERM)
    callback.on_validation_start(validating(), None)
    os.kill(os.getpid(), signal.SIGTERM)
    assert lightning_handler == []  # held: the validation goes on to its end
    callback.on_validation_end(validating(), None)
    assert lightning_handler == [signal.SIGTERM]
    assert signal.getsignal(signal.SIGTERM) is installed  # Lightning's handler is back


def test_a_second_signal_stops_at_once(lightning_handler):
    callback = ValidationFinishesFirst()
    callback.on_validation_start(validating(), None)
    os.kill(os.getpid(), signal.SIGTERM)
    os.kill(os.getpid(), signal.SIGTERM)  # asked twice: the user means now
    assert lightning_handler == [signal.SIGTERM]
    callback.on_validation_end(validating(), None)
    assert lightning_handler == [signal.SIGTERM]  # the held one is not sent again


def test_the_sanity_check_and_a_quiet_validation_are_left_alone(lightning_handler):
    callback, installed = ValidationFinishesFirst(), signal.getsignal(signal.SIGTERM)
    callback.on_validation_start(validating(sanity_checking=True), None)
    assert signal.getsignal(signal.SIGTERM) is installed
    callback.on_validation_start(validating(), None)
    callback.on_validation_end(validating(), None)
    assert lightning_handler == [] and signal.getsignal(signal.SIGTERM) is installed


def test_an_error_in_validation_gives_lightning_its_handler_back(lightning_handler):
    callback, installed = ValidationFinishesFirst(), signal.getsignal(signal.SIGTERM)
    callback.on_validation_start(validating(), None)
    callback.on_exception(validating(), None, RuntimeError("in validation_step"))
    assert signal.getsignal(signal.SIGTERM) is installed
