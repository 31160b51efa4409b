"""The table a multirun ends with: `summary.csv` in its sweep folder, and mean +- std per setting.

`python train.py -m experiment=mlp seed=1,2,3` leaves three run folders; this reads each run's
`.hydra/overrides.yaml` and `metrics.json` and writes one row per run (its overrides, folder, status,
best checkpoint and metrics), then groups the runs by their overrides other than the seed and the
fold and prints the mean and spread of each test metric, also kept as `summary_by_group.csv`.
A Hydra callback (configs/hydra/default.yaml), so every sweeper and launcher gets it.
"""

import csv
import io
import logging
import math
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from ..run_status import METRICS_FILE, headline
from ..sweeps.trial import IDENTITY_KEY

log = logging.getLogger(__name__)

SUMMARY_FILE = "summary.csv"
GROUPS_FILE = "summary_by_group.csv"
REPLICATE_KEYS = ("seed", "data.fold")  # what repeats a setting rather than changes it


def run_folders(sweep_dir: Path) -> list[Path]:
    """The sweep's run folders (those Hydra saved overrides in), in job order."""
    found = [p.parent.parent for p in sweep_dir.glob("*/.hydra/overrides.yaml")]
    return sorted(found, key=lambda p: (not p.name.isdigit(), int(p.name) if p.name.isdigit() else 0, p.name))


def parsed_overrides(lines: Sequence[str]) -> dict[str, str]:
    """`key: value` of each override, through Hydra's own parser; the trial identity left out."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed = OverridesParser.create().parse_overrides(list(lines))
    return {
        o.key_or_group: o.get_value_element_as_str() if o.value() is not None else "null"
        for o in parsed
        if not o.key_or_group.startswith(f"{IDENTITY_KEY}.")
    }


def read_run(run_dir: Path) -> dict[str, Any]:
    """One row: the run's overrides, folder, status, best checkpoint and scalar metrics."""
    import json

    overrides = parsed_overrides(OmegaConf.load(run_dir / ".hydra" / "overrides.yaml"))
    try:
        summary = json.loads((run_dir / METRICS_FILE).read_text())
    except (OSError, ValueError):
        summary = {"status": f"no readable {METRICS_FILE}"}
    metrics = headline(summary.get("metrics") or {})  # per-class figures stay in metrics.json
    return {
        "overrides": overrides,
        "run_dir": str(run_dir),
        "status": summary.get("status", "completed"),
        "best_checkpoint": summary.get("best_checkpoint") or "",
        "metrics": metrics,
    }


def write_table(path: Path, header: list[str], rows: list[list[Any]]) -> None:
    from ..atomic_files import atomic_write_text

    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(header)
    writer.writerows(rows)
    atomic_write_text(path, text.getvalue())


def write_runs(sweep_dir: Path, runs: list[dict[str, Any]]) -> Path:
    """`summary.csv`: a column per override key and per metric, one row per run."""
    keys = sorted({k for r in runs for k in r["overrides"]})
    metrics = sorted({m for r in runs for m in r["metrics"]})
    header = ["job", *keys, "status", "run_dir", "best_checkpoint", *metrics]
    rows = [
        [Path(r["run_dir"]).name, *(r["overrides"].get(k, "") for k in keys), r["status"], r["run_dir"]]
        + [r["best_checkpoint"], *(_cell(r["metrics"].get(m)) for m in metrics)]
        for r in runs
    ]
    path = sweep_dir / SUMMARY_FILE
    write_table(path, header, rows)
    return path


def _cell(value: Any) -> Any:
    return "" if value is None else value


def grouped(
    runs: list[dict[str, Any]], replicate_keys: Sequence[str] = REPLICATE_KEYS
) -> list[dict[str, Any]]:
    """The completed runs grouped by their overrides other than `replicate_keys`, with the mean,
    sample standard deviation and count of each test metric. A group's `setting` shows the keys
    that differ between groups."""
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for run in runs:
        if run["status"] != "completed":
            continue
        setting = tuple((k, v) for k, v in run["overrides"].items() if k not in replicate_keys)
        groups.setdefault(setting, []).append(run)
    # Keys every run set alike (the experiment, debug=...) say nothing about a group: left out.
    values = {}
    for setting in groups:
        for key, value in setting:
            values.setdefault(key, set()).add(value)
    constant = {key for key, seen in values.items() if len(seen) == 1 and len(groups) > 1}
    result = []
    for setting, members in groups.items():
        names = sorted({m for r in members for m in r["metrics"] if m.startswith("test/")})
        stats = {}
        for name in names:
            values = [r["metrics"][name] for r in members if _finite(r["metrics"].get(name))]
            if values:
                spread = statistics.stdev(values) if len(values) > 1 else None
                stats[name] = {"mean": statistics.fmean(values), "std": spread, "n": len(values)}
        shown = {k: v for k, v in setting if k not in constant}
        result.append({"setting": shown, "runs": len(members), "metrics": stats})
    return result


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


def setting_label(setting: dict[str, str]) -> str:
    return " ".join(f"{k}={v}" for k, v in setting.items()) or "(no other override)"


def write_groups(sweep_dir: Path, groups: list[dict[str, Any]]) -> Path:
    """`summary_by_group.csv`: per setting and test metric, the runs' mean, std and count."""
    rows = [
        [setting_label(g["setting"]), name, s["mean"], _cell(s["std"]), s["n"]]
        for g in groups
        for name, s in g["metrics"].items()
    ]
    path = sweep_dir / GROUPS_FILE
    write_table(path, ["setting", "metric", "mean", "std", "n"], rows)
    return path


def print_groups(groups: list[dict[str, Any]], title: str) -> None:
    """One row per setting, a `mean +- std (n)` column per test metric."""
    import rich
    from rich.table import Table

    from ..console import copy_into_log_file

    names = sorted({name for g in groups for name in g["metrics"]})
    table = Table(title=title)
    table.add_column("setting")
    for name in names:
        table.add_column(name, justify="right")
    for g in groups:
        cells = []
        for name in names:
            s = g["metrics"].get(name)
            std = "" if s is None or s["std"] is None else f" +- {s['std']:.4f}"
            cells.append("" if s is None else f"{s['mean']:.4f}{std} ({s['n']})")
        table.add_row(setting_label(g["setting"]), *cells)
    rich.print(table)
    copy_into_log_file(table, title)


def summarise_multirun(
    sweep_dir: Path, replicate_keys: Sequence[str] = REPLICATE_KEYS
) -> list[dict[str, Any]]:
    """Write `summary.csv` and `summary_by_group.csv` for the runs in `sweep_dir`; print the groups."""
    runs = [read_run(folder) for folder in run_folders(sweep_dir)]
    if not runs:
        return []
    path = write_runs(sweep_dir, runs)
    groups = grouped(runs, replicate_keys)
    write_groups(sweep_dir, groups)
    if any(g["metrics"] for g in groups):
        print_groups(groups, f"test metrics, mean +- std over {', '.join(replicate_keys)} ({len(runs)} runs)")
    log.info("Multirun summary: %s (one row per run), %s", path, sweep_dir / GROUPS_FILE)
    return groups


class MultirunSummary(Callback):
    """Hydra callback: `summarise_multirun` on the sweep folder once every job of a multirun ended."""

    def __init__(self, replicate_keys: Sequence[str] = REPLICATE_KEYS) -> None:
        self.replicate_keys = list(replicate_keys)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        summarise_multirun(Path(config.hydra.sweep.dir), self.replicate_keys)
