"""How a run ended, in `metrics.json`, whatever happened: completed, interrupted, pruned or failed."""

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..errors import find_user_error
from .interruption import RunInterrupted, SignalRecord

log = logging.getLogger(__name__)


@contextmanager
def recorded_run(
    summary: dict[str, Any],
    run_dir: Path,
    signals: SignalRecord,
    writer: bool,
    resumed_at_step: int | None = None,
) -> Iterator[None]:
    """Fill `summary["status"]` (and `error`) as the block ends, and write `metrics.json` (if `writer`).

    A resumed run that fails or stops before its first new step leaves the run's metrics.json as
    it was: the record of what the run did stays true.

    An interrupted run exits with 128 + the signal's number, as a shell reports a killed process:
    Lightning's own SIGTERM exception is a SystemExit with code 0, which read as success.
    """
    from lightning.pytorch.utilities.exceptions import SIGTERMException

    def write() -> None:
        nothing_new = resumed_at_step is not None and summary.get("global_step", 0) <= resumed_at_step
        if writer and not (summary["status"] != "completed" and nothing_new):
            from .run_summary import write_metrics

            write_metrics(run_dir, summary)

    try:
        yield
    except BaseException as error:
        if signals.signum is not None or isinstance(
            error, SIGTERMException | RunInterrupted | KeyboardInterrupt
        ):
            summary["status"] = "interrupted"
            summary["signal"] = signals.name if signals.signum else type(error).__name__
            write()
            log.error("%s", _resume_hint(run_dir, summary["signal"]))
            if signals.wants_requeue and writer:  # last: SLURM stops this job as it requeues it
                from .slurm_job import requeue_this_job

                requeue_this_job()
            raise SystemExit(signals.exit_code) from None
        if type(error).__name__ == "TrialPruned":  # Optuna stopped this trial early: not a failure
            summary["status"] = "pruned"
        else:
            summary["status"] = "failed"
            summary["error"] = str(find_user_error(error) or f"{type(error).__name__}: {error}")
        write()
        raise
    summary["status"] = "completed"
    write()


def _resume_hint(run_dir: Path, cause: str) -> str:
    """The command that continues the run, naming the file with its newest state (quoted for the
    shell and for Hydra when its path needs it)."""
    import shlex

    from .resume import newest_checkpoint, quoted

    newest = newest_checkpoint(run_dir)
    if newest is not None:
        command = shlex.quote(f"ckpt_path={quoted(str(newest))}")
        return f"Training interrupted by {cause}; resume with: python train.py {command}"
    return f"Training interrupted by {cause} before any checkpoint was saved; start it again."
