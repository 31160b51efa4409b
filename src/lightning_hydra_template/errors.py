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


def find_user_error(error: BaseException | None) -> UserError | None:
    """The `UserError` behind `error`, through wrappers such as Hydra's InstantiationException."""
    seen = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, UserError):
            return error
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
        log.error("%s stopped: %s", task, user_error)
        raise SystemExit(1) from None


class DivergedError(UserError, FloatingPointError):
    """The loss or the weights stopped being finite; the message says where and what to change."""


class StorageError(UserError, OSError):
    """A file could not be written (a full or read-only disk); the message says what stayed intact."""
