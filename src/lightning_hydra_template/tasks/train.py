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

import hydra
from omegaconf import DictConfig

from ..config.project import CONFIG_DIR
from ..errors import ConfigError, reported_errors

log = logging.getLogger(__name__)


def train(cfg: DictConfig, sweeping: bool = False) -> dict[str, Any]:
    """Fit and test the model `cfg` describes; return the run's summary (also `metrics.json`).

    `metrics.json` is written however the run ends: `status` is completed, interrupted (SIGTERM or
    SIGINT: last.ckpt holds the state to resume from) or failed (with the error).
    """
    # Heavy imports live here so that --help and --cfg never load torch.
    import lightning as L
    from hydra.core.hydra_config import HydraConfig
    from lightning.pytorch.utilities import rank_zero_only

    from ..checkpoints.file import checkpoint_summary, load_checkpoint
    from ..config.checks import check_config
    from ..config.lightning_logging import hide_upstream_deprecation_noise, route_lightning_logs_to_hydra
    from ..config.tree import print_config_tree, save_resolved_config
    from ..run.interruption import handled_signals
    from ..run.resume import check_there_is_more_to_train
    from ..run.run_record import recorded_run
    from ..run.run_summary import print_summary

    route_lightning_logs_to_hydra()
    hide_upstream_deprecation_noise()
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    is_writer = rank_zero_only.rank == 0
    if is_writer:  # before building anything, so a bad config is on screen too
        print_config_tree(cfg)
    # Checks before the run folder is touched: a refused resume leaves the run as it was.
    check_config(cfg)
    resume_from = load_checkpoint(cfg.ckpt_path) if cfg.get("ckpt_path") else None
    resumed_at_step = None
    if resume_from is not None:
        resumed = checkpoint_summary(resume_from)
        resumed_at_step = resumed["global_step"]
        if cfg.get("train"):
            check_there_is_more_to_train(cfg, resumed)
    if is_writer:
        save_resolved_config(cfg, run_dir)
    summary: dict[str, Any] = {"status": "running", "run_dir": str(run_dir), "metrics": {}}
    if resume_from is not None:
        summary["resumed_from"] = {"checkpoint": str(cfg.ckpt_path), "global_step": resumed_at_step}
    with handled_signals() as signals, recorded_run(summary, run_dir, signals, is_writer, resumed_at_step):
        _fit_and_test(cfg, sweeping, summary, L, resume_from)
    if is_writer:  # once the status is known
        print_summary(summary)
    return summary


def _fit_and_test(
    cfg: DictConfig, sweeping: bool, summary: dict[str, Any], L, resume_from: dict | None
) -> None:
    from hydra.core.hydra_config import HydraConfig

    from ..callbacks.record_run_overrides import RecordRunOverrides
    from ..checkpoints.atomic_io import AtomicCheckpointIO
    from ..config.builders import build, build_datamodule, build_each, build_model
    from ..run.ddp_guard import refuse_script_relaunch_in_sweep
    from ..run.host_memory import keep_freed_memory
    from ..run.resume import check_weights_fit_model, tensorboard_purge_step
    from ..run.run_summary import log_hparams, scalar_metrics
    from ..sweeps.trial import trial_identity

    started = time.perf_counter()
    keep_freed_memory(cfg.get("malloc_trim_threshold_mb"))
    if cfg.get("seed") is not None:
        L.seed_everything(cfg.seed, workers=True)

    datamodule = build_datamodule(cfg)
    scheduler = build(cfg.scheduler) if cfg.get("scheduler") else None
    model = build_model(cfg, optimizer=build(cfg.optimizer), scheduler=scheduler)
    if resume_from is not None:
        check_weights_fit_model(model, resume_from, cfg.ckpt_path)
    elif cfg.get("init_from"):  # a resume has its weights already: init_from started the run it continues
        from ..run.init_from import initialise_from

        initialise_from(model, cfg.init_from)
    callbacks = build_each(cfg.get("callbacks"))
    # Every checkpoint carries the overrides that made this run: resume and eval.py need no folder.
    callbacks.append(RecordRunOverrides(list(HydraConfig.get().overrides.task)))
    trial = trial_identity(cfg)
    if trial:  # this run is a trial of an Optuna sweep (hydra/sweeper=optuna_study)
        from ..sweeps.pruning import OptunaPruning

        pruner = build(trial.pop("pruner")) if trial.get("pruner") else None
        monitor = cfg.get("pruning_monitor", "val/acc")
        callbacks.append(OptunaPruning(**trial, monitor=monitor, pruner=pruner))
    loggers = build_each(cfg.get("logger"))
    if not loggers:
        callbacks = _without_logger_only_callbacks(callbacks)
    if resume_from is not None:
        _continue_tensorboard(loggers, tensorboard_purge_step(resume_from))
    if resume_from is not None:
        resume_from.clear()  # Lightning loads the file again itself: no second copy held in memory
    trainer: L.Trainer = build(
        cfg.trainer, callbacks=callbacks, logger=loggers or False, plugins=[AtomicCheckpointIO()]
    )
    refuse_script_relaunch_in_sweep(trainer, sweeping)
    if not isinstance(trainer.accelerator, L.pytorch.accelerators.CUDAAccelerator):
        # Lightning asks torch to probe CUDA through NVML; without a GPU nothing caches the
        # answer and every optimizer step loads NVML again. Off CUDA, the cheap probe is safe.
        os.environ["PYTORCH_NVML_BASED_CUDA_CHECK"] = "0"
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


def _without_logger_only_callbacks(callbacks: list) -> list:
    """`logger=null`: Lightning refuses a LearningRateMonitor without a logger; it has nothing to do."""
    from lightning.pytorch.callbacks import LearningRateMonitor

    kept = [c for c in callbacks if not isinstance(c, LearningRateMonitor)]
    if len(kept) < len(callbacks):
        log.info("No logger (logger=null): the learning-rate monitor is off.")
    return kept


def _continue_tensorboard(loggers: list, step: int) -> None:
    """Hide what a killed run logged after its checkpoint, so the resumed curves have no duplicates."""
    from lightning.pytorch.loggers import TensorBoardLogger

    for logger in loggers:
        if isinstance(logger, TensorBoardLogger):
            logger._kwargs["purge_step"] = step  # passed on to SummaryWriter when it is created


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


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="train")
def _hydra_main(cfg: DictConfig) -> float | None:
    """Returns `optimized_metric` for Hydra sweepers."""
    with reported_errors("Training"):
        from hydra.core.hydra_config import HydraConfig
        from hydra.types import RunMode

        sweeping = HydraConfig.get().mode == RunMode.MULTIRUN
        summary = train(cfg, sweeping)
        return objective(summary, cfg.get("optimized_metric"), sweeping)


def main() -> None:
    """`python train.py ...`: run folders claimed, a checkpoint's run resumed in place, then Hydra."""
    from ..config.entry import start
    from ..run.resume import resume_arguments

    sys.argv = resume_arguments(sys.argv)
    start(_hydra_main)


if __name__ == "__main__":  # python -m lightning_hydra_template.tasks.train, as from a wheel
    main()
