"""reported_errors: a UserError ends the task with its message alone and exit status 1."""

import logging

import pytest

from lightning_hydra_template.errors import ConfigError, ReportedExit, reported_errors


def test_a_user_error_exits_1_with_the_line_it_printed(caplog):
    with (
        caplog.at_level(logging.ERROR),
        pytest.raises(ReportedExit) as stopped,
        reported_errors("Training"),
    ):
        try:
            raise ConfigError("seed='abc' must be an integer")
        except ConfigError as error:
            raise RuntimeError("a wrapper such as Hydra's InstantiationException") from error
    assert stopped.value.code == 1
    assert stopped.value.message == "Training stopped: seed='abc' must be an integer"
    assert caplog.records[-1].getMessage() == stopped.value.message


def test_any_other_error_keeps_its_traceback():
    with pytest.raises(ZeroDivisionError), reported_errors("Training"):
        1 / 0  # noqa: B018
