"""How a run ended, in `metrics.json`, whatever happened: completed, interrupted, pruned or failed."""

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from ..config.tree import save_resolved_config
from ..errors import find_user_error
from ..run_status import RunStatus, is_pruned
from .interruption import RunInterrupted, handled_signals

log = logging.getLogger(__name__)


@contextmanager
def recorded_run(
    cfg: DictConfig, summary: dict[str, Any], run_dir: Path, writer: bool, resumed_at_step: int | None = None
) -> Iterator[None]:
    """The run's record: `resolved_config.yaml` as it starts; the block run with SIGTERM, SIGINT,
    SIGUSR1 and SIGUSR2 handled (`interruption`: SLURM's warning signal also requeues the job);
    `summary["status"]` (and `error`) filled as it ends, and `metrics.json` written. Files are
    written by the `writer` process only.

    A resumed run that fails or stops before its first new step leaves the run's metrics.json as
    it was: the record of what the run did stays true.

    An interrupted run exits with 128 + the signal's number, as a shell reports a killed process:
    Lightning's own SIGTERM exception is a SystemExit with code 0, which read as success. A signal
    that Lightning let the block finish after (in the test's or a validation's last batch) stops it
    all the same: the signal said stop, and `ckpt_path=auto` finishes what is left (the test).
    """
    from lightning.pytorch.utilities.exceptions import SIGTERMException

    def write() -> None:
        nothing_new = resumed_at_step is not None and summary.get("global_step", 0) <= resumed_at_step
        if writer and not (summary["status"] != RunStatus.COMPLETED and nothing_new):
            from .run_summary import write_metrics

            write_metrics(run_dir, summary)

    if writer:
        save_resolved_config(cfg, run_dir)
    with handled_signals() as signals:
        try:
            yield
            if signals.signum is not None:  # caught where Lightning does not stop (a test's last batch)
                raise RunInterrupted(signals.signum)
        except BaseException as error:
            interrupted = isinstance(error, SIGTERMException | RunInterrupted | KeyboardInterrupt)
            if signals.signum is not None or interrupted:
                summary["status"] = RunStatus.INTERRUPTED
                summary["signal"] = signals.name if signals.signum else type(error).__name__
                write()
                log.error("%s", _resume_hint(run_dir, summary["signal"]))
                if signals.wants_requeue and writer:  # last: SLURM stops this job as it requeues it
                    from .slurm_job import requeue_this_job

                    requeue_this_job(cfg.get("max_requeues"))
                raise SystemExit(signals.exit_code) from None
            if is_pruned(error):  # Optuna stopped this trial early: not a failure
                summary["status"] = RunStatus.PRUNED
            else:
                summary["status"] = RunStatus.FAILED
                summary["error"] = str(find_user_error(error) or f"{type(error).__name__}: {error}")
            write()
            raise
    summary["status"] = RunStatus.COMPLETED
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
