"""A Hydra sweeper over current Optuna: persistent studies, pruning, and a summary per sweep.

hydra-optuna-sweeper 1.3 pins optuna<3 and has no pruning; this one asks Optuna for each trial's
parameters, launches the trial as a Hydra job, and tells Optuna its result (or that it was pruned).
"""

import csv
import json
import logging
import os
import queue
import subprocess
import sys
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
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
        devices: list[str] | None = None,
    ) -> None:
        self.study_name, self.storage, self.direction = study_name, storage, direction
        self.n_trials = n_trials
        self.sampler, self.pruner = sampler, pruner  # built by Hydra from their _target_
        self.params = dict(params or {})
        self.devices = [str(d) for d in devices] if devices else None

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
        if self.devices:
            returns = self._sweep_on_devices(study, space, fixed, sweep_dir)
        else:
            returns = self._sweep_in_process(study, space, fixed)
        write_summary(study, sweep_dir)
        return [returns]

    def _reporting(self, trial) -> list[str]:
        """Overrides that let the trial report each epoch to its Optuna trial (for pruning)."""
        overrides = [f"+pruning.study_name={self.study_name}", f"+pruning.trial_number={trial.number}"]
        if self.storage:
            overrides.append(f"+pruning.storage='{self.storage}'")
        return overrides

    def _sweep_in_process(self, study, space: dict, fixed: list[str]) -> list:
        import optuna

        returns = []
        for job in range(self.n_trials):
            trial = study.ask(space)
            overrides = [*fixed, *(f"{k}={v}" for k, v in trial.params.items()), *self._reporting(trial)]
            [result] = self.launcher.launch([overrides], initial_job_idx=job)
            returns.append(result)
            if result.status == JobStatus.COMPLETED and result.return_value is not None:
                study.tell(trial, float(result.return_value))
            elif isinstance(result._return_value, optuna.TrialPruned):
                study.tell(trial, state=optuna.trial.TrialState.PRUNED)
                log.info("Trial %d pruned", trial.number)
            else:
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
                log.error("Trial %d failed: %r", trial.number, result._return_value)
        return returns

    def _sweep_on_devices(self, study, space: dict, fixed: list[str], sweep_dir: Path) -> list:
        """One process per trial, each pinned to a free device; a trial starts when a device frees."""
        if not self.storage:
            raise ValueError(
                "hydra.sweeper.devices needs hydra.sweeper.storage: trials run in other processes."
            )
        free: queue.Queue[str] = queue.Queue()
        for device in self.devices:
            free.put(device)
        metric = self.config.get("optimized_metric")
        device_log = sweep_dir / "devices.csv"
        device_log.write_text("trial,device,start,end\n")

        def run_trial(trial, job: int) -> tuple[Any, Path]:
            device = free.get()
            run_dir = sweep_dir / str(job)
            overrides = [*fixed, *(f"{k}={v}" for k, v in trial.params.items()), *self._reporting(trial)]
            command = [sys.executable, sys.argv[0], *overrides, f"hydra.run.dir={run_dir}"]
            log.info("Trial %d on device %s: %s", trial.number, device, " ".join(overrides))
            started = time.time()
            try:
                run_dir.mkdir(parents=True, exist_ok=True)
                with open(run_dir / "trial_output.log", "w") as out:
                    env = {**os.environ, "CUDA_VISIBLE_DEVICES": device}
                    subprocess.run(command, env=env, stdout=out, stderr=subprocess.STDOUT, check=False)
            finally:
                with open(device_log, "a") as f:
                    f.write(f"{trial.number},{device},{started},{time.time()}\n")
                free.put(device)
            return trial, run_dir

        returns, pending = [], set()
        with ThreadPoolExecutor(max_workers=len(self.devices)) as pool:
            for job in range(self.n_trials):
                if len(pending) == len(self.devices):
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    returns += [self._tell(study, *f.result(), metric) for f in done]
                # Asked only now, so the sampler knows every trial finished so far.
                pending.add(pool.submit(run_trial, study.ask(space), job))
            returns += [self._tell(study, *f.result(), metric) for f in wait(pending).done]
        return returns

    @staticmethod
    def _tell(study, trial, run_dir: Path, metric: str | None) -> float | None:
        """Read the trial's metrics.json (or its pruned marker) and tell the study."""
        import optuna

        metrics_file = run_dir / "metrics.json"
        if (run_dir / "pruned").exists():
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
            log.info("Trial %d pruned", trial.number)
            return None
        value = json.loads(metrics_file.read_text())["metrics"].get(metric) if metrics_file.exists() else None
        if value is None:
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
            log.error("Trial %d failed: see %s", trial.number, run_dir / "trial_output.log")
            return None
        study.tell(trial, float(value))
        return float(value)


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
