"""The sweeper's config: `hydra/sweeper=optuna_study`."""

from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore


@dataclass
class OptunaStudySweeperConf:
    _target_: str = "hydra_plugins.optuna_study_sweeper.optuna_study_sweeper.OptunaStudySweeper"
    study_name: str = "study"
    # An SQLAlchemy URL (sqlite:///logs/optuna/study.db, postgresql://user@host/db), or Optuna's journal
    # file, journal:///abs/path/study.log; None: in memory (trials in this process only).
    storage: str | None = None
    direction: str = "maximize"
    n_trials: int = 20  # trials to add in this invocation
    # Built with hydra.utils.instantiate: any optuna.samplers / optuna.pruners class fits.
    sampler: Any = field(
        default_factory=lambda: {
            "_target_": "optuna.samplers.TPESampler",
            "seed": None,
            "n_startup_trials": 5,
        }
    )
    pruner: Any = field(  # fed each epoch's validation by the trials; stops the unpromising ones
        default_factory=lambda: {
            "_target_": "optuna.pruners.MedianPruner",
            "n_startup_trials": 5,
            "n_warmup_steps": 1,
        }
    )
    # Run one trial per device at once, each in its own process that sees only that device
    # (CUDA_VISIBLE_DEVICES); the next trial starts as soon as a device is free. None: one at a time.
    devices: list[str] | None = None
    # Trials in flight at once through the configured launcher (hydra/launcher=submitit_local, slurm):
    # each a job of its own; the next is asked for as soon as any ends. 1: one after another.
    n_jobs: int = 1
    # Seconds between the sweep's heartbeats for its running trials (database storage): a trial left
    # RUNNING by a sweep that died is failed by the next sweep after two missed beats. null: none.
    heartbeat_s: int | None = 60
    # key: Hydra sweep syntax, e.g. optimizer.lr: tag(log, interval(1e-4, 1e-2)); choice(adam, sgd)
    params: dict[str, str] = field(default_factory=dict)


ConfigStore.instance().store(group="hydra/sweeper", name="optuna_study", node=OptunaStudySweeperConf)
