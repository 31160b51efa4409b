"""Training task: compose the config, fit, test the best checkpoint, report.

python train.py experiment=cnn
python train.py experiment=mlp optimizer=sgd optimizer.lr=0.05 scheduler=cosine trainer.max_epochs=3
python train.py ckpt_path=logs/train/runs/<run>/checkpoints/last.ckpt     # resume that run, in place
python train.py ckpt_path=auto hydra.run.dir=logs/train/runs/<name>        # the same command continues it
"""

import logging
import os
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from ..config.entry import task_main
from ..errors import ConfigError

log = logging.getLogger(__name__)


def train(cfg: DictConfig, sweeping: bool = False, resumed_run: DictConfig | None = None) -> dict[str, Any]:
    """Fit and test the model `cfg` describes; return the run's summary (also `metrics.json`).

    `resumed_run`: the config of the run `cfg.ckpt_path` continues, to refuse what cannot change.

    `metrics.json` is written however the run ends: `status` is completed, interrupted (SIGTERM or
    SIGINT: last.ckpt holds the state to resume from), pruned or failed (with the error).
    """
    # Heavy imports live here so that --help and --cfg never load torch.
    from hydra.core.hydra_config import HydraConfig
    from lightning.pytorch.utilities import rank_zero_only

    from ..config.startup import begin
    from ..run.provenance import checkpoint_provenance, versions_line, write_provenance
    from ..run.resume import ResumePoint, check_resume_changes
    from ..run.run_record import recorded_run
    from ..run.run_summary import print_summary
    from ..run_status import RunStatus

    run_dir = Path(HydraConfig.get().runtime.output_dir)
    is_writer = rank_zero_only.rank == 0
    begin(cfg, is_writer)
    # Checks before the run folder is touched: a refused resume leaves the run as it was.
    resume = ResumePoint.of(cfg)
    untested = resume.untested_run(cfg, run_dir) if resume is not None and cfg.get("train") else None
    if resume is not None and cfg.get("train") and untested is None:
        resume.check_there_is_more_to_train(cfg)
    if resume is not None and resumed_run is not None:
        check_resume_changes(resumed_run, cfg, resume.progress)
    summary: dict[str, Any] = {"status": RunStatus.RUNNING, "run_dir": str(run_dir), "metrics": {}}
    if untested is not None:  # its training is done: only the test runs
        log.info("ckpt_path=%s has trained the whole run; its test is left: testing it now.", resume.path)
        summary["metrics"] = dict(untested.get("metrics") or {})  # what it measured stays on record
    if resume is not None:
        summary["resumed_from"] = {"checkpoint": resume.path, "global_step": resume.global_step}
    provenance = None
    if is_writer:  # the code, command and versions this start ran with (a resume adds its own)
        record = write_provenance(run_dir)
        log.info("Provenance in %s: %s", run_dir / "provenance.json", versions_line(record))
        provenance = checkpoint_provenance(record)
    # resolved_config.yaml now, metrics.json however the run ends
    with recorded_run(cfg, summary, run_dir, is_writer, resume.global_step if resume else None):
        _fit_and_test(cfg, sweeping, summary, resume, provenance, untested)
    if is_writer:  # once the status is known
        print_summary(summary)
    return summary


def _fit_and_test(
    cfg: DictConfig,
    sweeping: bool,
    summary: dict[str, Any],
    resume,
    provenance: dict[str, Any] | None,
    untested: dict[str, Any] | None = None,
) -> None:
    """Fit (unless `untested`: the record of a run whose training is done, which only owes its
    test), then test the best checkpoint; the figures go into `summary` however it ends."""
    import lightning as L

    from ..run_status import scalar_metrics

    started = time.perf_counter()
    if cfg.get("seed") is not None:
        L.seed_everything(cfg.seed, workers=True)
    trainer, model, datamodule, callbacks = _build_run(cfg, sweeping, resume, provenance)
    summary.update(
        world_size=trainer.world_size,
        visible_devices=os.environ.get("CUDA_VISIBLE_DEVICES"),
        class_names=list(cfg.data.class_names),
    )

    if cfg.get("train") and cfg.get("tune"):
        from ..run.tuning import tune_and_record

        tune_and_record(cfg, trainer, model, datamodule, summary, callbacks, resume is not None)
    metrics = summary["metrics"]
    if untested is not None:
        _test_only(trainer, model, datamodule, summary, untested, resume)
        return
    try:
        if cfg.get("train"):
            trainer.fit(model, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"))
            metrics.update(scalar_metrics(trainer.callback_metrics))
        best = best_checkpoint(trainer)
        if cfg.get("test"):
            if not best:
                log.warning(
                    "No best checkpoint (no checkpoint callback, or no validation): testing current weights."
                )
            trainer.test(model, datamodule=datamodule, ckpt_path=best)
    finally:
        # However the run ended (interrupted, diverged, failed in testing): what it measured last
        # (epoch 0's validation, say) and a best.ckpt that was saved stay facts of metrics.json.
        metrics.update(scalar_metrics(trainer.callback_metrics))
        summary.update(
            best_checkpoint=best_checkpoint(trainer),
            epochs=trainer.current_epoch,
            global_step=trainer.global_step,
            wall_time_s=round(time.perf_counter() - started, 1),
        )
    if trainer.is_global_zero:
        _log_hparams_table(cfg, trainer, metrics, sweeping)


def _test_only(trainer, model, datamodule, summary: dict[str, Any], untested: dict[str, Any], resume) -> None:
    """The test a run whose training is done still owes: of its best checkpoint (or the checkpoint
    resumed, when it has none), with its epochs and steps as that checkpoint counts them (the
    interrupted record may count one epoch short: a stop in the last batch ends before the epoch does).

    A fit would only restore the finished state (and log an empty epoch), so none is run.
    """
    from ..run_status import scalar_metrics

    started = time.perf_counter()
    last = Path(resume.path)
    recorded = untested.get("best_checkpoint")
    # Beside the resumed checkpoint, by name: the record's path is stale in a moved run folder.
    best = last.parent / Path(recorded).name if recorded else None
    best = str(best) if best is not None and best.is_file() else None
    try:
        trainer.test(model, datamodule=datamodule, ckpt_path=best or str(last))
    finally:
        summary["metrics"].update(scalar_metrics(trainer.callback_metrics))
        summary.update(
            best_checkpoint=best,
            epochs=resume.progress["completed_epochs"],
            global_step=resume.global_step,
            wall_time_s=round(time.perf_counter() - started, 1),
        )


def _build_run(cfg: DictConfig, sweeping: bool, resume, provenance: dict[str, Any] | None) -> tuple:
    """The run's trainer, model, datamodule and callbacks, from the config and the resume point."""
    from ..config.builders import (
        build,
        build_callbacks,
        build_datamodule,
        build_loggers,
        build_model,
        build_trainer,
    )
    from ..config.monitors import check_monitors
    from ..run.resume import starting_weights
    from ..run.validation_first import ValidationFinishesFirst

    datamodule = build_datamodule(cfg)
    scheduler = build(cfg.scheduler) if cfg.get("scheduler") else None
    model = build_model(cfg, datamodule, optimizer=build(cfg.optimizer), scheduler=scheduler)
    starting_weights(model, cfg, resume)
    if hasattr(model, "epoch_metrics"):
        check_monitors(cfg, model.epoch_metrics())
    loggers = build_loggers(cfg, purge_step=resume.tensorboard_purge_step if resume else None)
    callbacks = build_callbacks(cfg, bool(loggers), provenance, resuming=resume is not None)
    callbacks.append(ValidationFinishesFirst())  # a stop signal waits for the validation's end
    # Lightning restores the trainer from the checkpoint this task read already: one read per run.
    already_read = {resume.path: resume.checkpoint} if resume else None
    trainer = build_trainer(cfg, callbacks, loggers, sweeping, already_read)
    return trainer, model, datamodule, callbacks


def _log_hparams_table(cfg: DictConfig, trainer, metrics: dict[str, float], sweeping: bool) -> None:
    """The HParams table: a sweep's job shows its swept keys, a single run the keys people compare
    first and those it was given; the objective is the first metric."""
    from hydra.core.hydra_config import HydraConfig

    from ..run.run_summary import compared_values, log_hparams, swept_values

    hydra_cfg = HydraConfig.get()
    columns = swept_values if sweeping else compared_values
    shown = columns(cfg, list(hydra_cfg.overrides.task), hydra_cfg.runtime.choices)
    log_hparams(trainer.loggers, cfg, metrics, shown, cfg.get("optimized_metric"), trainer.global_step)


def best_checkpoint(trainer) -> str | None:
    """The best checkpoint's path, restored from the checkpoint on a resume; None when none is on disk."""
    best = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
    return best if best and Path(best).is_file() else None


def objective(summary: dict[str, Any], name: str | None, sweeping: bool = True) -> float | None:
    """The metric a sweep optimises; an error in a sweep when the run never logged it."""
    if not name:
        return None
    if name not in summary["metrics"]:
        message = (
            f"optimized_metric={name!r} was not logged by this run; "
            f"choose one of: {', '.join(summary['metrics'])}."
        )
        if sweeping:
            raise ConfigError(message)
        log.warning(message)  # a single run has trained and saved everything: no reason to fail it
        return None
    return summary["metrics"][name]


def train_and_report(cfg: DictConfig) -> float | None:
    """One run of `train.py` (or one job of a multirun); returns `optimized_metric` for Hydra sweepers."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode
    from lightning.pytorch.utilities import rank_zero_only

    from ..run.run_lock import run_folder_lock

    sweeping = HydraConfig.get().mode == RunMode.MULTIRUN
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    # The first rank holds the lock for all: the others share its folder by design.
    with run_folder_lock(run_dir) if rank_zero_only.rank == 0 else nullcontext():
        cfg, resumed_run = _with_checkpoint_to_resume(cfg, sweeping)
        summary = train(cfg, sweeping, resumed_run)
    return objective(summary, cfg.get("optimized_metric"), sweeping)


def _with_checkpoint_to_resume(cfg: DictConfig, sweeping: bool) -> tuple[DictConfig, DictConfig | None]:
    """`ckpt_path` as the file to resume (`auto`: the run folder's newest), with the resumed run's
    own overrides replayed (not in a sweep, whose jobs are given theirs); and the resumed run's
    own config, when known."""
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import open_dict

    from ..run.resume import checkpoint_to_resume, replayed_config

    hydra_cfg = HydraConfig.get()
    run_dir = Path(hydra_cfg.runtime.output_dir)
    checkpoint = checkpoint_to_resume(cfg.get("ckpt_path"), run_dir)
    with open_dict(cfg):
        cfg.ckpt_path = checkpoint
    if checkpoint is None or sweeping:
        return cfg, None
    return replayed_config(cfg, run_dir, list(hydra_cfg.overrides.task), hydra_cfg.job.config_name)


_main = task_main(train_and_report, config_name="train", what="Training")


def main() -> None:
    """`python train.py ...`: Hydra composes the config (a resume's run folder chosen by
    `${run_folder:...}`, configs/hydra/train.yaml), then the run."""
    _main()


if __name__ == "__main__":  # python -m lightning_hydra_template.tasks.train, as from a wheel
    main()
