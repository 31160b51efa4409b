"""A Hydra sweeper over current Optuna: persistent studies, pruning, and a summary per sweep.

hydra-optuna-sweeper 1.3 pins optuna<3 and has no pruning; this one asks Optuna for each trial's
parameters, launches the trial as a Hydra job, and tells Optuna its result (or that it was pruned).
"""

import csv
import json
import logging
from pathlib import Path
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override, Transformer
from hydra.core.plugins import Plugins
from hydra.core.utils import JobStatus
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf

from .config import OptunaStudySweeperConf  # noqa: F401  (registers hydra/sweeper=optuna_study)

log = logging.getLogger(__name__)


def distribution(override: Override) -> Any:
    """An Optuna distribution from a Hydra sweep: choice(...), range(...), interval(...), tag(log, ...)."""
    import optuna.distributions as d

    if override.is_choice_sweep():
        return d.CategoricalDistribution(list(override.sweep_iterator(transformer=Transformer.encode)))
    sweep = override.value()
    log_scale = "log" in getattr(sweep, "tags", set())
    if override.is_range_sweep():
        return d.IntDistribution(int(sweep.start), int(sweep.stop) - 1, step=int(sweep.step or 1))
    if override.is_interval_sweep():
        if isinstance(sweep.start, int) and isinstance(sweep.end, int):
            return d.IntDistribution(sweep.start, sweep.end, log=log_scale)
        return d.FloatDistribution(float(sweep.start), float(sweep.end), log=log_scale)
    raise ValueError(f"{override.input_line}: use choice(...), range(...) or interval(...) in sweeper params")


class OptunaStudySweeper(Sweeper):
    def __init__(
        self,
        study_name: str,
        storage: str | None,
        direction: str,
        n_trials: int,
        sampler: Any,
        pruner: Any,
        params: dict[str, str],
    ) -> None:
        self.study_name, self.storage, self.direction = study_name, storage, direction
        self.n_trials = n_trials
        self.sampler, self.pruner = sampler, pruner  # built by Hydra from their _target_
        self.params = dict(params or {})

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.config = config
        self.hydra_context = hydra_context
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )

    def _study(self):
        import optuna

        if self.storage and self.storage.startswith("sqlite:///"):
            Path(self.storage.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        return optuna.create_study(
            study_name=self.study_name,
            storage=self.storage,
            direction=self.direction,
            load_if_exists=True,  # the same command again continues the study
            sampler=self.sampler,
            pruner=self.pruner,
        )

    def sweep(self, arguments: list[str]) -> list:
        import optuna

        parser = OverridesParser.create(config_loader=self.hydra_context.config_loader)
        given = parser.parse_overrides([f"{k}={v}" for k, v in self.params.items()] + list(arguments))
        space = {o.get_key_element(): distribution(o) for o in given if o.is_sweep_override()}
        fixed = [o.input_line for o in given if not o.is_sweep_override()]
        sweep_dir = Path(self.config.hydra.sweep.dir)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, sweep_dir / "multirun.yaml")

        study = self._study()
        where = self.storage or "in memory"
        log.info(
            "Study %r (%s): %d trials so far, %d to add",
            self.study_name,
            where,
            len(study.trials),
            self.n_trials,
        )
        returns = []
        for job in range(self.n_trials):
            trial = study.ask(space)
            overrides = [*fixed, *(f"{k}={v}" for k, v in trial.params.items())]
            reporting = [f"+pruning.study_name={self.study_name}", f"+pruning.trial_number={trial.number}"]
            if self.storage:
                reporting.append(f"+pruning.storage='{self.storage}'")
            [result] = self.launcher.launch([overrides + reporting], initial_job_idx=job)
            returns.append(result)
            if result.status == JobStatus.COMPLETED and result.return_value is not None:
                study.tell(trial, float(result.return_value))
            elif isinstance(result._return_value, optuna.TrialPruned):
                study.tell(trial, state=optuna.trial.TrialState.PRUNED)
                log.info("Trial %d pruned", trial.number)
            else:
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
                log.error("Trial %d failed: %r", trial.number, result._return_value)
        write_summary(study, sweep_dir)
        return [returns]


def write_summary(study, sweep_dir: Path) -> None:
    """best.json, trials.csv and the optimisation-history and parameter-importance plots."""
    import optuna

    complete = study.get_trials(deepcopy=False, states=[optuna.trial.TrialState.COMPLETE])
    best = {}
    if complete:
        best = {
            "best_value": study.best_value,
            "best_params": study.best_params,
            "best_trial": study.best_trial.number,
        }
    (sweep_dir / "best.json").write_text(json.dumps({"study": study.study_name, **best}, indent=2) + "\n")
    names = sorted({name for t in study.trials for name in t.params})
    with open(sweep_dir / "trials.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["number", "state", "value", *names, "last_reported_step"])
        for t in study.trials:
            last_step = max(t.intermediate_values, default="")
            writer.writerow(
                [t.number, t.state.name, t.value, *(t.params.get(n, "") for n in names), last_step]
            )
    if complete:
        _plot(optuna.visualization.matplotlib.plot_optimization_history, study, sweep_dir / "history.png")
    if len(complete) >= 2 and names:
        _plot(optuna.visualization.matplotlib.plot_param_importances, study, sweep_dir / "importances.png")
    log.info("Sweep summary in %s: %s", sweep_dir, best or "no completed trial")


def _plot(plot, study, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")  # files only, no window
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Optuna marks its matplotlib plots experimental
        axes = plot(study)
    axes.figure.tight_layout()
    axes.figure.savefig(path, dpi=120)
    matplotlib.pyplot.close(axes.figure)
