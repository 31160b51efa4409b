"""The end of a run: its metrics in `metrics.json`, the HParams tab, and a table on the console."""

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from ..run_status import METRICS_FILE, headline

# The config keys that describe an experiment, shown in TensorBoard's HParams tab.
HPARAM_KEYS = ("data", "model", "optimizer", "scheduler", "trainer", "seed")


def log_hparams(
    loggers: list,
    cfg: DictConfig,
    metrics: Mapping[str, float],
    swept: Mapping[str, Any] | None = None,
    objective: str | None = None,
    step: int = 0,
) -> None:
    """Record the experiment's config with its final metrics (TensorBoard's HParams tab).

    `swept` are the HParams table's columns rather than hundreds of constant config values: a sweep's
    job passes the keys its sweep set (`swept_values`), a single run the keys people compare first
    and those its command line set (`compared_values`). `objective`, the metric the run is judged
    by, is the first metric. `step` is the run's last (global) step. `hparams.yaml` keeps the whole
    config.
    """
    params = {
        k: OmegaConf.to_container(cfg[k], resolve=True) if OmegaConf.is_config(cfg[k]) else cfg[k]
        for k in HPARAM_KEYS
        if k in cfg
    }
    # Under the curves' own tags, at the run's last step, where each curve ends with that value:
    # HParams reads them from there, and the Scalars page gets no single-point card per metric.
    final = {k: v for k, v in headline(metrics).items() if math.isfinite(v)}
    if objective in final:
        final = {objective: final[objective], **{k: v for k, v in final.items() if k != objective}}
    from lightning.pytorch.loggers import TensorBoardLogger

    for logger in loggers:
        if isinstance(logger, TensorBoardLogger):  # pairs params with metrics in HParams
            logger.log_hyperparams(dict(swept) if swept else params, metrics=final, step=step)
            # Lightning closed the writer after the test; this last write reopens it, and its events
            # wait in a background queue (flushed every 2 min): on disk now, before the process ends.
            logger.experiment.flush()
        else:
            logger.log_hyperparams(params)
        logger.save()
        _write_hparams_yaml(logger, params)


# What a user compares between single runs first: the HParams columns of a run not in a sweep,
# with the keys its command line set (a config group by its chosen option).
COMPARED_FIRST = (
    "experiment", "data", "model", "optimizer", "optimizer.lr", "scheduler", "data.loader.batch_size",
    "trainer.max_epochs", "trainer.precision", "seed",
)  # fmt: skip


def swept_values(cfg: DictConfig, overrides: list[str], choices: Mapping[str, Any]) -> dict[str, Any]:
    """`key: value` of each key a sweep's job was given (`overrides`), resolved from the job's config:
    a config group by its chosen option (`choices`), a value as the run used it. The keys that made
    the job an Optuna trial (`pruning.*`) are left out: they are not hyperparameters."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from ..sweeps.trial import IDENTITY_KEY

    values = {}
    for override in OverridesParser.create().parse_overrides(list(overrides)):
        key = override.key_or_group
        if key.startswith(f"{IDENTITY_KEY}.") or override.is_delete():
            continue
        values[key] = _value(cfg, key, choices)
    return values


def compared_values(cfg: DictConfig, overrides: list[str], choices: Mapping[str, Any]) -> dict[str, Any]:
    """A single run's HParams columns: the `COMPARED_FIRST` keys it has, then those it was given."""
    first = {key: _value(cfg, key, choices) for key in COMPARED_FIRST}
    return {k: v for k, v in first.items() if v is not None} | swept_values(cfg, overrides, choices)


def _value(cfg: DictConfig, key: str, choices: Mapping[str, Any]) -> Any:
    value = choices[key] if key in choices else OmegaConf.select(cfg, key)
    return OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else value


def _write_hparams_yaml(logger, params: Mapping[str, Any]) -> None:
    """The logger's `hparams.yaml`, with the hyperparameters: Lightning writes it once, at the start,
    before they are logged, and never again (the file stayed `{}`)."""
    log_dir = getattr(logger, "log_dir", None)
    if log_dir and Path(log_dir).is_dir():
        from ..atomic_files import atomic_write_text

        atomic_write_text(Path(log_dir) / "hparams.yaml", OmegaConf.to_yaml(OmegaConf.create(dict(params))))


def write_metrics(run_dir: Path, summary: Mapping[str, Any]) -> Path:
    """Write `metrics.json` atomically and as strict JSON (NaN becomes null)."""
    from ..atomic_files import atomic_write_json

    path = run_dir / METRICS_FILE
    atomic_write_json(path, summary)
    return path


def print_summary(summary: Mapping[str, Any]) -> None:
    """A table of the run's figures and where its files are."""
    import rich
    from rich.table import Table

    table = Table(title="run summary", show_header=False)
    for key, value in summary.items():
        if key == "metrics":
            for name, figure in headline(value).items():
                table.add_row(name, f"{figure:.4f}")
        else:
            table.add_row(key, str(value))
    rich.print(table)
    from ..console import copy_into_log_file

    copy_into_log_file(table, "run summary")
