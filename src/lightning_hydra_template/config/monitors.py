"""Check every `monitor` key of a run against the metrics its model logs, before training starts.

Lightning finds a misspelled monitor only when it first looks the metric up, at the end of the
first validation epoch: after a whole epoch of training, with a long traceback and no checkpoint.
"""

import difflib
from typing import Any

from omegaconf import DictConfig

from ..errors import ConfigError


def monitor_keys(cfg: DictConfig) -> dict[str, Any]:
    """Every config key that names a metric to monitor, with its value (null ones left out)."""
    keys = {}
    for name, callback in (cfg.get("callbacks") or {}).items():
        if isinstance(callback, DictConfig) and callback.get("monitor"):
            keys[f"callbacks.{name}.monitor"] = callback.monitor
    if isinstance(cfg.get("scheduler"), DictConfig) and cfg.scheduler.get("monitor"):
        keys["scheduler.monitor"] = cfg.scheduler.monitor
    if cfg.get("pruning") and cfg.get("pruning_monitor"):  # only a sweep's trials report it
        keys["pruning_monitor"] = cfg.pruning_monitor
    return keys


def check_monitors(cfg: DictConfig, logged: list[str]) -> None:
    """A `ConfigError` naming each monitor key whose metric is not among `logged`, with the closest."""
    problems = []
    for key, metric in monitor_keys(cfg).items():
        if metric in logged:
            continue
        close = difflib.get_close_matches(str(metric), logged, n=1)
        suggestion = f"{key}={close[0]}" if close else f"{key}={logged[0]}"
        problems.append(
            f"{key}={metric} is not a metric this model logs each epoch ({', '.join(logged)}); "
            f"e.g. {suggestion}"
        )
    if problems:
        raise ConfigError("; ".join(problems))
