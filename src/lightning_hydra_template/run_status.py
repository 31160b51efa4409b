"""How a run ended and what it reports, in one vocabulary: the run record writes `metrics.json`, the
trial contract and the sweeper read it, the console and the log show the same headline figures.

Small and dependency-free on purpose: the domain (callbacks), the run plumbing and the sweeper plugin
all import it.
"""

from collections.abc import Mapping
from enum import StrEnum
from typing import Any

METRICS_FILE = "metrics.json"  # a run's figures and how it ended; sweepers read it (sweeps/trial.py)


class RunStatus(StrEnum):
    """A run's `status` in metrics.json; also how a trial of a sweep ended (a StrEnum: JSON as text)."""

    RUNNING = "running"
    COMPLETED = "completed"
    INTERRUPTED = "interrupted"  # a signal stopped it; last.ckpt holds the state to resume from
    PRUNED = "pruned"  # an Optuna pruner stopped it early: not a failure
    FAILED = "failed"


def is_pruned(error: BaseException) -> bool:
    """Optuna's pruning exception (raised by sweeps/pruning.py): the trial stopped early, on purpose."""
    import optuna  # only when an error is being classified: start-up stays light

    return isinstance(error, optuna.TrialPruned)


def scalar_metrics(metrics: Mapping[str, Any]) -> dict[str, float]:
    """Logged metrics (tensors or numbers) as plain floats, sorted by name."""
    return {name: float(value) for name, value in sorted(metrics.items()) if _is_scalar(value)}


def _is_scalar(value: Any) -> bool:
    return isinstance(value, int | float) or (hasattr(value, "numel") and value.numel() == 1)


def headline(metrics: Mapping[str, float]) -> dict[str, float]:
    """The figures a reader compares: without per-class accuracies (`test/acc/<class>`), per-step
    values and learning rates, which the loggers keep in full."""
    return {
        name: value
        for name, value in metrics.items()
        if "/acc/" not in name and not name.endswith("_step") and not name.startswith("lr-")
    }
