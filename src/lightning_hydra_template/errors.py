"""Errors a user can fix, and how a task reports them: the message alone, not a traceback."""

import logging
from collections.abc import Iterator
from contextlib import contextmanager

log = logging.getLogger(__name__)


class UserError(Exception):
    """Something the user can fix (a config value, a missing file); the message says how."""


class ConfigError(UserError, ValueError):
    """A config value that cannot work; the message names the key and a valid choice."""


class MissingFileError(UserError, FileNotFoundError):
    """An input file is missing; the message says where it should be."""


class DataError(UserError, ValueError):
    """Input data is malformed; the message names the file (and the row)."""


# Lightning's exception for a setting that cannot work here (`accelerator=tpu`, a GPU trainer on a
# machine without one); its message names the argument. Matched by name: this module imports nothing.
LIGHTNING_CONFIG_ERROR = "MisconfigurationException"


def find_user_error(error: BaseException | None) -> UserError | None:
    """The `UserError` behind `error`, through wrappers such as Hydra's InstantiationException."""
    seen = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, UserError):
            return error
        if type(error).__name__ == LIGHTNING_CONFIG_ERROR:
            return ConfigError(" ".join(str(error).split()))
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return None


@contextmanager
def reported_errors(task: str) -> Iterator[None]:
    """Exit with the message of a `UserError`; log any other error's traceback to the run's log."""
    try:
        yield
    except Exception as error:
        from .run_status import is_pruned

        if is_pruned(error):  # Optuna stopped this trial: not a failure
            log.info("%s pruned: %s", task, error)
            raise
        user_error = find_user_error(error)
        if user_error is None:
            log.exception("%s failed; what was saved so far stays in the run folder.", task)
            raise
        log.error("%s%s%s", task, STOPPED, user_error)
        raise ReportedExit(f"{task} stopped: {user_error}") from None


STOPPED = " stopped: "  # how a task's last line names the error it stopped on


class ReportedExit(SystemExit):
    """Exit status 1 after a `UserError` was reported; `message` is the line printed, for whoever ran
    the task in its own process (an Optuna sweep records it as the trial's reason)."""

    def __init__(self, message: str) -> None:
        super().__init__(1)
        self.message = message


class DivergedError(UserError, FloatingPointError):
    """The loss or the weights stopped being finite; the message says where and what to change."""


class StorageError(UserError, OSError):
    """A file could not be written (a full or read-only disk); the message says what stayed intact."""
