"""Training task: compose the config, fit, test the best checkpoint, report.

python train.py experiment=cnn
python train.py experiment=mlp optimizer=sgd optimizer.lr=0.05 scheduler=cosine trainer.max_epochs=3
python train.py ckpt_path=logs/train/runs/<run>/checkpoints/last.ckpt     # resume that run, in place
"""

import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from ..config.entry import task_main
from ..errors import ConfigError

log = logging.getLogger(__name__)


def train(cfg: DictConfig, sweeping: bool = False) -> dict[str, Any]:
    """Fit and test the model `cfg` describes; return the run's summary (also `metrics.json`).

    `metrics.json` is written however the run ends: `status` is completed, interrupted (SIGTERM or
    SIGINT: last.ckpt holds the state to resume from), pruned or failed (with the error).
    """
    # Heavy imports live here so that --help and --cfg never load torch.
    from hydra.core.hydra_config import HydraConfig
    from lightning.pytorch.utilities import rank_zero_only

    from ..config.startup import begin
    from ..run.resume import ResumePoint
    from ..run.run_record import recorded_run
    from ..run.run_summary import print_summary
    from ..run_status import RunStatus

    run_dir = Path(HydraConfig.get().runtime.output_dir)
    is_writer = rank_zero_only.rank == 0
    begin(cfg, is_writer)
    # Checks before the run folder is touched: a refused resume leaves the run as it was.
    resume = ResumePoint.of(cfg)
    if resume is not None and cfg.get("train"):
        resume.check_there_is_more_to_train(cfg)
    summary: dict[str, Any] = {"status": RunStatus.RUNNING, "run_dir": str(run_dir), "metrics": {}}
    if resume is not None:
        summary["resumed_from"] = {"checkpoint": resume.path, "global_step": resume.global_step}
    # resolved_config.yaml now, metrics.json however the run ends
    with recorded_run(cfg, summary, run_dir, is_writer, resume.global_step if resume else None):
        _fit_and_test(cfg, sweeping, summary, resume)
    if is_writer:  # once the status is known
        print_summary(summary)
    return summary


def _fit_and_test(cfg: DictConfig, sweeping: bool, summary: dict[str, Any], resume) -> None:
    import lightning as L

    from ..config.builders import (
        build,
        build_callbacks,
        build_datamodule,
        build_loggers,
        build_model,
        build_trainer,
    )
    from ..run.resume import starting_weights
    from ..run.run_summary import log_hparams
    from ..run_status import scalar_metrics

    started = time.perf_counter()
    if cfg.get("seed") is not None:
        L.seed_everything(cfg.seed, workers=True)

    datamodule = build_datamodule(cfg)
    scheduler = build(cfg.scheduler) if cfg.get("scheduler") else None
    model = build_model(cfg, datamodule, optimizer=build(cfg.optimizer), scheduler=scheduler)
    starting_weights(model, cfg, resume)
    loggers = build_loggers(cfg, purge_step=resume.tensorboard_purge_step if resume else None)
    callbacks = build_callbacks(cfg, with_logger=bool(loggers))
    # Lightning restores the trainer from the checkpoint this task read already: one read per run.
    already_read = {resume.path: resume.checkpoint} if resume else None
    trainer: L.Trainer = build_trainer(cfg, callbacks, loggers, sweeping, already_read)
    summary.update(
        world_size=trainer.world_size,
        visible_devices=os.environ.get("CUDA_VISIBLE_DEVICES"),
        class_names=list(cfg.data.class_names),
    )

    metrics = summary["metrics"]
    try:
        if cfg.get("train"):
            trainer.fit(model, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"))
            metrics.update(scalar_metrics(trainer.callback_metrics))
        best = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
        summary["best_checkpoint"] = best or None
        if cfg.get("test"):
            if not best:
                log.warning(
                    "No best checkpoint (no checkpoint callback, or no validation): testing current weights."
                )
            trainer.test(model, datamodule=datamodule, ckpt_path=best or None)
            metrics.update(scalar_metrics(trainer.callback_metrics))
    finally:
        summary.update(
            epochs=trainer.current_epoch,
            global_step=trainer.global_step,
            wall_time_s=round(time.perf_counter() - started, 1),
        )
    if trainer.is_global_zero:
        log_hparams(trainer.loggers, cfg, metrics)


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

    sweeping = HydraConfig.get().mode == RunMode.MULTIRUN
    return objective(train(cfg, sweeping), cfg.get("optimized_metric"), sweeping)


_main = task_main(train_and_report, config_name="train", what="Training")


def main() -> None:
    """`python train.py ...`: a checkpoint's run resumed in place, then Hydra."""
    from ..run.resume import resume_arguments

    sys.argv = resume_arguments(sys.argv)
    _main()


if __name__ == "__main__":  # python -m lightning_hydra_template.tasks.train, as from a wheel
    main()
