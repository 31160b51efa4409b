"""What an Optuna trial (a `train.py` run) and the sweeper that launched it agree on.

Both sides import this module, so the agreement lives in one place:
- the sweeper names the trial with `trial_overrides` (`+pruning.*`); the run reads them back with
  `trial_identity` and reports each validation to that trial (sweeps/pruning.py);
- the run ends, however it ends, with `metrics.json` holding its status (run/run_record.py);
  the sweeper reads how the trial went from that file alone, with `trial_outcome`;
- both open the study from the same storage URL with `study_storage`, so a trial in another process
  or on another node reports to the study the sweeper asks and tells.
"""

import json
import logging
import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from omegaconf import DictConfig, OmegaConf

from ..run_status import METRICS_FILE, RunStatus

if TYPE_CHECKING:
    import optuna

log = logging.getLogger(__name__)

IDENTITY_KEY = "pruning"
JOURNAL = "journal://"  # journal:///abs/path/study.log: Optuna's journal file, no database server


def study_storage(url: str | None, heartbeat_s: int | None = None) -> "optuna.storages.BaseStorage | None":
    """The Optuna storage `url` names: None (in memory), `journal:///abs/path`, or an SQLAlchemy URL.

    `heartbeat_s` (database storage only): the sweeper beats for every trial it has in flight, so a
    trial left RUNNING by a sweep that died is failed once it has missed two beats
    (`optuna.storages.fail_stale_trials`). A trial process passes none: it only reports values.
    """
    if not url:
        return None
    import optuna

    if url.startswith(JOURNAL):
        path = Path(url.removeprefix(JOURNAL))
        if not path.is_absolute():
            # Trials may run on other nodes, in other folders: a relative path would name other files.
            raise ValueError(
                f"{url}: a journal storage needs an absolute path, journal:///abs/path/study.log"
            )
        path.parent.mkdir(parents=True, exist_ok=True)
        repair_torn_journal(path)
        return optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(path)))
    if url.startswith("postgresql://"):
        # The driver the `postgres` extra installs: SQLAlchemy 2.0 would otherwise pick psycopg2.
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    if heartbeat_s:
        with warnings.catch_warnings():  # Optuna still marks the argument experimental
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.storages.RDBStorage(url, heartbeat_interval=heartbeat_s)
    return optuna.storages.RDBStorage(url)


def repair_torn_journal(path: Path) -> None:
    """Drop a journal's torn last record (a writer killed mid-append), with a warning, before use.

    Optuna appends one JSON record per line; a record cut short has no newline, and the next
    record appended onto it makes a line no reader can parse: every later sweep would stop. Done
    under Optuna's own journal lock, so a record another process is appending is never cut.
    """
    import optuna

    if not path.is_file() or path.stat().st_size == 0:
        return
    lock = optuna.storages.journal.JournalFileSymlinkLock(str(path))
    lock.acquire()
    try:
        with open(path, "rb+") as journal:
            data = journal.read()
            if data.endswith(b"\n"):
                return
            kept = data.rfind(b"\n") + 1  # 0 when the only record is torn
            journal.truncate(kept)
        log.warning(
            "%s: its last record was cut short (%d bytes, a writer killed mid-append); dropped it.",
            path,
            len(data) - kept,
        )
    finally:
        lock.release()


def trial_overrides(
    study_name: str, trial_number: int, storage: str | None, pruner: Mapping[str, Any] | None = None
) -> list[str]:
    """The overrides that tell a run which trial of which study it is, and how to prune it.

    The pruner's config travels with them: a trial run as its own process does not see the sweep's
    `hydra.sweeper.*` overrides, and Optuna's storage does not keep the pruner.
    """
    key = IDENTITY_KEY
    overrides = [f"+{key}.study_name={study_name}", f"+{key}.trial_number={trial_number}"]
    if storage:
        overrides.append(f"+{key}.storage='{storage}'")
    if pruner:
        overrides.append(f"+{key}.pruner={_override_value(pruner)}")
    return overrides


def replayable_trial_overrides(overrides: list[str]) -> list[str]:
    """A trial's overrides without those naming it a trial: the same run, as a single run."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed = OverridesParser.create().parse_overrides(list(overrides))
    return [o.input_line for o in parsed if not o.key_or_group.startswith(f"{IDENTITY_KEY}.")]


def _override_value(value: Any) -> str:
    """`value` in Hydra's override grammar: dicts, lists, quoted strings, numbers, booleans, null."""
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k}: {_override_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_override_value(v) for v in value) + "]"
    return json.dumps(value)  # strings double-quoted (escaped), numbers, true/false, null


def trial_identity(cfg: DictConfig) -> dict[str, Any] | None:
    """`study_name`, `trial_number`, `storage` and `pruner` (a config) when this run is a trial; else None."""
    identity = cfg.get(IDENTITY_KEY)
    return OmegaConf.to_container(identity) if identity else None


@dataclass(frozen=True)
class TrialOutcome:
    """How a trial ended, as the study is told: its value when complete, else why not; and where
    its run folder and best checkpoint are (kept in the study: folder numbers and trial numbers part
    once a study is continued by another sweep)."""

    state: RunStatus  # COMPLETED, PRUNED, INTERRUPTED (by a signal: not a failure) or FAILED
    value: float | None = None
    reason: str = ""
    run_dir: str | None = None
    best_checkpoint: str | None = None


def trial_outcome(run_dir: Path, metric: str | None) -> TrialOutcome:
    """Read the trial's `metrics.json`: completed with a finite `metric`, pruned, or failed (why)."""
    metrics_file = run_dir / METRICS_FILE
    where = {"run_dir": str(run_dir)}
    if not metrics_file.exists():
        return TrialOutcome(RunStatus.FAILED, reason=f"it wrote no {METRICS_FILE}", **where)
    try:
        summary = json.loads(metrics_file.read_text())
    except ValueError as error:
        return TrialOutcome(RunStatus.FAILED, reason=f"its {METRICS_FILE} is not JSON ({error})", **where)
    where["best_checkpoint"] = summary.get("best_checkpoint")
    # Runs that record no status (older ones) write metrics.json only once they have finished.
    status = summary.get("status", RunStatus.COMPLETED)
    if status == RunStatus.PRUNED:
        return TrialOutcome(RunStatus.PRUNED, **where)
    if status == RunStatus.INTERRUPTED:  # stopped by a signal: last.ckpt holds its state, not a failure
        return TrialOutcome(
            RunStatus.INTERRUPTED, reason=f"interrupted by {summary.get('signal', 'a signal')}", **where
        )
    if status != RunStatus.COMPLETED:
        why = f"its run {status}: {summary.get('error') or 'no error recorded'}"
        return TrialOutcome(RunStatus.FAILED, reason=why, **where)
    metrics = summary.get("metrics") or {}
    if metric not in metrics:
        return TrialOutcome(RunStatus.FAILED, reason=f"it logged no {metric!r}", **where)
    if not is_number(metrics[metric]):  # null: the run wrote NaN as null
        why = f"its {metric!r} is {metrics[metric]!r}, not a number"
        return TrialOutcome(RunStatus.FAILED, reason=why, **where)
    return TrialOutcome(RunStatus.COMPLETED, float(metrics[metric]), **where)


def is_number(value: Any) -> bool:
    """A finite number: what a study can rank (Optuna itself would fail a NaN)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
