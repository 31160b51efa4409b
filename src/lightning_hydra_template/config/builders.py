"""Every object of a run is built here from its config's `_target_`: the config tree is the registry."""

from typing import Any

from omegaconf import DictConfig

from ..errors import ConfigError


def build(cfg: DictConfig, **kwargs: Any) -> Any:
    """`hydra.utils.instantiate`, the one place objects are made from config."""
    from hydra.utils import instantiate

    return instantiate(cfg, **kwargs)


def build_each(group: DictConfig | None) -> list[Any]:
    """Build every entry of a named collection (`callbacks`, `logger`); `null` entries are off.

    A collection that is itself one object (`callbacks=early_stopping`) builds that object alone.
    """
    return [build(entry) for entry in _entries(group)]


def _entries(group: DictConfig | None) -> list[DictConfig]:
    if not group:
        return []
    return [group] if "_target_" in group else [entry for entry in group.values() if entry is not None]


def build_datamodule(cfg: DictConfig) -> Any:
    """Build `cfg.data`; `num_classes` and `class_names` left null are filled from the data (a CSV's
    labels, say), once, here.

    The model and its network read `${data.num_classes}` and `${data.class_names}`: filling them here
    sizes every model to the dataset and names its classes, with no other route for either.
    """
    from omegaconf import open_dict

    datamodule = build(cfg.data)
    with open_dict(cfg):
        for key in ("num_classes", "class_names"):
            if cfg.data.get(key) is None:
                cfg.data[key] = getattr(datamodule, key)
    return datamodule


def build_loss(cfg: DictConfig, datamodule: Any = None) -> Any:
    """Build `cfg.loss` (None without one: the classifier's default cross-entropy).

    `class_weights: auto` becomes the list derived from the training split's class counts, here,
    once: written into `cfg.loss`, it is what the model records and every later process rebuilds.
    """
    from omegaconf import open_dict

    from ..loss.class_weights import balanced_class_weights, check_class_weights

    if cfg.get("loss") is None:
        return None
    weights = cfg.loss.get("class_weights")
    if weights == "auto":
        if datamodule is None or not hasattr(datamodule, "train_class_counts"):
            raise ConfigError(
                "loss.class_weights=auto needs a datamodule that counts its training split's classes; "
                "give loss.class_weights as a list of one weight per class."
            )
        counts = datamodule.train_class_counts(cfg.data.num_classes)
        with open_dict(cfg):
            cfg.loss.class_weights = balanced_class_weights(counts, cfg.data.class_names)
    elif weights is not None and not isinstance(weights, str):
        check_class_weights(weights, cfg.data.num_classes)
    return build(cfg.loss)


def build_model(cfg: DictConfig, datamodule: Any = None, **kwargs: Any) -> Any:
    """Build `cfg.model` with `cfg.loss`, recording the network's and the loss's resolved configs so
    checkpoints can rebuild them."""
    from omegaconf import OmegaConf

    loss = build_loss(cfg, datamodule)
    model = build(cfg.model, **({"loss": loss} if loss is not None else {}), **kwargs)
    net_config = OmegaConf.to_container(cfg.model.net, resolve=True)
    if "weights" in net_config:  # rebuilt from a checkpoint, the trained tensors replace any download
        net_config["weights"] = None
    model.record_net_config(net_config)
    if loss is not None:
        model.record_loss_config(OmegaConf.to_container(cfg.loss, resolve=True))
    return model


def build_callbacks(
    cfg: DictConfig, with_logger: bool, provenance: dict[str, Any] | None = None, resuming: bool = False
) -> list[Any]:
    """`cfg.callbacks`, plus what every training run carries: its overrides and `provenance` in each
    checkpoint (resume and eval.py need no folder); in an Optuna sweep, the trial's pruning callback;
    with `time_budget`, the callback that stops in time; on a resume, the one that applies the
    configured learning rate rather than the checkpoint's."""
    from hydra.core.hydra_config import HydraConfig

    from ..checkpoints.record_overrides import RecordRunOverrides
    from ..sweeps.trial import trial_identity

    callbacks = build_each(cfg.get("callbacks"))
    callbacks.append(RecordRunOverrides(list(HydraConfig.get().overrides.task), provenance))
    trial = trial_identity(cfg)
    if trial:  # this run is a trial of an Optuna sweep (hydra/sweeper=optuna_study)
        from ..sweeps.pruning import OptunaPruning

        pruner = build(trial.pop("pruner")) if trial.get("pruner") else None
        callbacks.append(OptunaPruning(**trial, monitor=cfg.get("pruning_monitor", "val/acc"), pruner=pruner))
    if cfg.get("time_budget"):
        from ..callbacks.time_budget import TimeBudget

        callbacks.append(TimeBudget(cfg.time_budget))
    if resuming:
        from ..callbacks.configured_learning_rate import ConfiguredLearningRate

        callbacks.append(ConfiguredLearningRate())  # optimizer.lr given now applies, not the checkpoint's
    if not with_logger:
        callbacks = _without_logger_only_callbacks(callbacks)
    return callbacks


def _without_logger_only_callbacks(callbacks: list) -> list:
    """`logger=none`: Lightning refuses a LearningRateMonitor without a logger; it has nothing to do."""
    import logging

    from lightning.pytorch.callbacks import LearningRateMonitor

    kept = [c for c in callbacks if not isinstance(c, LearningRateMonitor)]
    if len(kept) < len(callbacks):
        logging.getLogger(__name__).info("No logger (logger=none): the learning-rate monitor is off.")
    return kept


def build_loggers(cfg: DictConfig, purge_step: int | None = None) -> list[Any]:
    """`cfg.logger`; a resumed run's TensorBoard writer hides what the killed run logged after its
    checkpoint (`purge_step`), so the resumed curves have no duplicates."""
    if purge_step is None:
        return build_each(cfg.get("logger"))
    from hydra.utils import get_class
    from lightning.pytorch.loggers import TensorBoardLogger

    # TensorBoardLogger hands extra keyword arguments to its SummaryWriter.
    return [
        build(e, purge_step=purge_step) if issubclass(get_class(e._target_), TensorBoardLogger) else build(e)
        for e in _entries(cfg.get("logger"))
    ]


def _on_slurm() -> list:
    """Under SLURM, Lightning's own requeue on SIGUSR1 off: run/interruption.py is the one stop path."""
    from lightning.pytorch.plugins.environments import SLURMEnvironment

    return [SLURMEnvironment(auto_requeue=False)] if SLURMEnvironment.detect() else []


def build_trainer(
    cfg: DictConfig,
    callbacks: list,
    loggers: list,
    sweeping: bool = False,
    already_read: dict[str, dict] | None = None,
) -> Any:
    """`cfg.trainer` with the run's callbacks and loggers, writing checkpoints atomically and taking
    the checkpoints the task `already_read` without reading them again; refused where it would run
    the wrong experiments (`ddp_guard`)."""
    import os

    from lightning.pytorch.accelerators import CUDAAccelerator

    from ..checkpoints.atomic_io import AtomicCheckpointIO
    from .ddp_guard import refuse_script_relaunch_in_sweep

    plugins = [AtomicCheckpointIO(already_read), *_on_slurm()]
    trainer = build_lightning_trainer(cfg, callbacks=callbacks, logger=loggers or False, plugins=plugins)
    refuse_script_relaunch_in_sweep(trainer, sweeping)
    if not isinstance(trainer.accelerator, CUDAAccelerator):
        # Lightning asks torch to probe CUDA through NVML; without a GPU nothing caches the
        # answer and every optimizer step loads NVML again. Off CUDA, the cheap probe is safe.
        os.environ["PYTORCH_NVML_BASED_CUDA_CHECK"] = "0"
    return trainer


def build_lightning_trainer(cfg: DictConfig, **kwargs: Any) -> Any:
    """Build `cfg.trainer`; a package its accelerator or strategy needs and lacks (`accelerator=tpu`
    without torch_xla) is a `ConfigError` naming the keys, not a traceback from Lightning's registry."""
    from ..errors import ConfigError

    try:
        return build(cfg.trainer, **kwargs)
    except Exception as error:
        missing = _module_not_found(error)
        if missing is None:
            raise
        chosen = ", ".join(f"trainer.{key}={cfg.trainer.get(key)}" for key in ("accelerator", "strategy"))
        raise ConfigError(f"{chosen} needs a package that is not installed: {missing}") from error


def _module_not_found(error: BaseException | None) -> ModuleNotFoundError | None:
    while error is not None:
        if isinstance(error, ModuleNotFoundError):
            return error
        error = error.__cause__ or error.__context__
    return None
