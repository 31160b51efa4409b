"""Report validation to the Optuna trial this run belongs to, and stop it when Optuna prunes it."""

import lightning as L


class OptunaPruning(L.Callback):
    """Added by `train.py` when the sweeper passes `pruning.*` (study, trial number, storage).

    The trial is looked up in the study's storage, so this works whether the trial runs in the
    sweeper's process or elsewhere. Raises `optuna.TrialPruned`: the run's status becomes `pruned`
    (sweeps/trial.py).
    """

    def __init__(
        self, study_name: str, trial_number: int, storage: str | None, monitor: str, pruner=None
    ) -> None:
        import optuna

        from .trial import study_storage

        # The pruner is not kept in the storage: the sweep's own (hydra.sweeper.pruner) is passed in.
        backend = study_storage(storage)
        study = optuna.load_study(study_name=study_name, storage=backend, pruner=pruner)
        # The trial by its number, through the storage's public API (the study keeps its ids private).
        study_id = backend.get_study_id_from_name(study_name)
        trial_id = backend.get_trial_id_from_study_id_trial_number(study_id, trial_number)
        self.trial = optuna.trial.Trial(study, trial_id)
        self.monitor = monitor

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        import optuna

        value = trainer.callback_metrics.get(self.monitor)
        if trainer.sanity_checking or value is None or not trainer.is_global_zero:
            return
        self.trial.report(float(value), step=trainer.current_epoch)
        if self.trial.should_prune():
            # The run records "pruned" as its status in metrics.json, which the sweeper reads.
            epoch = trainer.current_epoch
            raise optuna.TrialPruned(f"pruned after epoch {epoch} ({self.monitor}={float(value):.4f})")
