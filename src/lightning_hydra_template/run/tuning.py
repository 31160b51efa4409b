"""`tune=lr` / `tune=batch_size`: Lightning's Tuner before training, and the run goes on with its answer.

The learning-rate finder (`Tuner.lr_find`) trains a few steps at rising learning rates and suggests
the one where the loss fell fastest; the batch-size finder (`Tuner.scale_batch_size`) doubles the
batch size until memory runs out (or the dataset or `max_val` is reached). Both restore the weights
they started from. What they found is written to `tune.json` (and the finder's plot to
`lr_find.png`) in the run folder, printed, and, unless `tune.apply=false`, used by the run: the
config key is set, so `resolved_config.yaml`, the HParams tab and the checkpoints record the value
the run trained with. A resumed run is not tuned again: it takes the value its first start found.
"""

import json
import logging
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict

from ..errors import ConfigError

log = logging.getLogger(__name__)

TUNE_FILE = "tune.json"
PLOT_FILE = "lr_find.png"
TUNED_KEY = {"lr": "optimizer.lr", "batch_size": "data.loader.batch_size"}  # what each finder sets


def tune_and_record(
    cfg: DictConfig, trainer, model, datamodule, summary: dict, callbacks: list, resuming: bool
) -> None:
    """`tune=lr` / `tune=batch_size`: Lightning's Tuner, its answer applied to the run and recorded
    (in `summary`, the checkpoints' overrides and `resolved_config.yaml`)."""
    from ..checkpoints.record_overrides import RecordRunOverrides
    from ..config.tree import save_resolved_config

    run_dir = Path(summary["run_dir"])
    applied = tune_before_fit(cfg, trainer, model, datamodule, run_dir, trainer.is_global_zero, resuming)
    if applied:
        summary["tuned"] = applied
        for recorder in callbacks:
            if isinstance(recorder, RecordRunOverrides):
                recorder.overrides.append(applied)  # checkpoints replay the value, never the search
        if trainer.is_global_zero:
            save_resolved_config(cfg, run_dir)  # the value the run trains with


def tune_before_fit(
    cfg: DictConfig, trainer, model, datamodule, run_dir: Path, writer: bool, resuming: bool
) -> str | None:
    """Run the finder `cfg.tune` names and apply its answer; return the override applied, if any."""
    options = cfg.get("tune")
    if not options:
        return None
    mode = options.get("mode")
    if mode not in TUNED_KEY:
        raise ConfigError(
            f"tune.mode={mode} is not one of {', '.join(TUNED_KEY)}: use tune=lr or tune=batch_size."
        )
    key = TUNED_KEY[mode]
    if resuming:
        return _as_first_tuned(cfg, key, model, datamodule, run_dir)
    from lightning.pytorch.tuner import Tuner

    finder_options = OmegaConf.to_container(options.get("options") or {}, resolve=True)
    tuner = Tuner(trainer)
    record: dict[str, Any] = {"mode": mode, "key": key, "configured": OmegaConf.select(cfg, key)}
    if mode == "lr":
        finder = tuner.lr_find(model, datamodule=datamodule, update_attr=False, **finder_options)
        suggestion = finder.suggestion() if finder is not None else None
        record["curve"] = (
            {
                "lr": [float(x) for x in finder.results["lr"]],
                "loss": [float(x) for x in finder.results["loss"]],
            }
            if finder
            else None
        )
        if writer and finder is not None:
            _save_plot(finder, run_dir / PLOT_FILE)
    else:
        suggestion = tuner.scale_batch_size(model, datamodule=datamodule, **finder_options)
        datamodule.batch_size = record["configured"]  # the finder leaves its last trial's size set
    record["suggestion"] = suggestion
    record["applied"] = bool(options.get("apply", True)) and suggestion is not None
    if record["applied"]:
        apply_value(cfg, key, suggestion, model, datamodule)
    if writer:
        from ..atomic_files import atomic_write_json

        atomic_write_json(run_dir / TUNE_FILE, record)
    _report(record, run_dir)
    return f"{key}={suggestion}" if record["applied"] else None


def apply_value(cfg: DictConfig, key: str, value: Any, model, datamodule) -> None:
    """Set `key` in the config, and in the objects already built from it."""
    from ..config.builders import build

    with open_dict(cfg):
        OmegaConf.update(cfg, key, value, merge=False)
    if key == "optimizer.lr":
        # The model holds factories built from the config: rebuilt, with the scheduler that may
        # read the learning rate too (OneCycle's max_lr is ${optimizer.lr}).
        model.optimizer_factory = build(cfg.optimizer)
        model.lr_schedule = build(cfg.scheduler) if cfg.get("scheduler") else None
    else:
        datamodule.batch_size = int(value)


def _as_first_tuned(cfg: DictConfig, key: str, model, datamodule, run_dir: Path) -> str | None:
    """A resumed run: the value its first start found (`tune.json`), not a new search."""
    path = run_dir / TUNE_FILE
    if not path.is_file():
        # A checkpoint out of its folder: the overrides it recorded already hold the value.
        log.info(
            "Resuming: not tuning again; %s=%s as the checkpoint recorded it.",
            key,
            OmegaConf.select(cfg, key),
        )
        return None
    record = json.loads(path.read_text())
    if not record.get("applied"):
        return None
    apply_value(cfg, key, record["suggestion"], model, datamodule)
    log.info("Resuming: not tuning again; %s=%s as %s says.", key, record["suggestion"], path)
    return f"{key}={record['suggestion']}"


def _save_plot(finder, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")  # files only, no window
    from matplotlib import pyplot as plt

    from ..atomic_files import atomic_write_with

    figure = finder.plot(suggest=finder.suggestion() is not None)
    atomic_write_with(path, lambda f: figure.savefig(f, format="png", dpi=120))
    plt.close(figure)


def _report(record: dict[str, Any], run_dir: Path) -> None:
    key, suggestion = record["key"], record["suggestion"]
    if suggestion is None:
        log.warning(
            "The %s finder made no suggestion (too few steps: raise tune.options.num_training, or "
            "trainer.limit_train_batches); training with %s=%s.", record["mode"], key, record["configured"],
        )  # fmt: skip
        return
    plot = f", plot in {run_dir / PLOT_FILE}" if record["mode"] == "lr" else ""
    if record["applied"]:
        log.info(
            "Tuner: %s=%s (configured: %s)%s; training with it.", key, suggestion, record["configured"], plot
        )
    else:
        log.info(
            "Tuner suggests %s=%s (configured: %s)%s; tune.apply=false: training with %s.",
            key, suggestion, record["configured"], plot, record["configured"],
        )  # fmt: skip
