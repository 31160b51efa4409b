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
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override, Transformer
from hydra.core.plugins import Plugins
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf

from lightning_hydra_template.run.optuna_trial import TrialOutcome, trial_outcome, trial_overrides

from .config import OptunaStudySweeperConf  # noqa: F401  (registers hydra/sweeper=optuna_study)

if TYPE_CHECKING:
    import optuna

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


def open_study(
    study_name: str, storage: str | None, direction: str, sampler: Any = None, pruner: Any = None
) -> "optuna.Study":
    """Create the study, or load it if it exists: the same command again continues it."""
    import optuna

    with _creation_lock(storage):
        return optuna.create_study(
            study_name=study_name,
            storage=storage,
            direction=direction,
            load_if_exists=True,
            sampler=sampler,
            pruner=pruner,
        )


@contextmanager
def _creation_lock(storage: str | None) -> Iterator[None]:
    """Hold an exclusive lock on `<db>.lock`, beside an SQLite study, while it is created or loaded.

    Optuna sets up a new database in steps no transaction spans (create the tables, then stamp the
    schema version), so two sweeps starting on one fresh file both do it and one fails: "UNIQUE
    constraint failed: alembic_version", or "table ... already exists". A lock rather than a retry
    on those errors: it removes the race instead of guessing which errors mean "the other sweep got
    there first", and the wait is only as long as the other sweep's setup. Only for SQLite, whose
    sweeps share a machine and so can share a lock file; a database server needs no file of ours.
    """
    from sqlalchemy.engine import make_url

    url = make_url(storage) if storage else None
    if url is None or url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        yield
        return
    import fcntl  # POSIX; imported here so that loading the plugin (every train.py) never needs it

    database = Path(url.database)
    database.parent.mkdir(parents=True, exist_ok=True)
    with open(database.with_name(database.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, or when this process dies
        yield


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

    def sweep(self, arguments: list[str]) -> list["optuna.trial.FrozenTrial"]:
        """Add `n_trials` trials to the study, write the summary; exit 1 when every trial failed."""
        parser = OverridesParser.create(config_loader=self.hydra_context.config_loader)
        given = parser.parse_overrides([f"{k}={v}" for k, v in self.params.items()] + list(arguments))
        space = {o.get_key_element(): distribution(o) for o in given if o.is_sweep_override()}
        fixed = [o.input_line for o in given if not o.is_sweep_override()]
        sweep_dir = Path(self.config.hydra.sweep.dir)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, sweep_dir / "multirun.yaml")

        study = open_study(self.study_name, self.storage, self.direction, self.sampler, self.pruner)
        where = self.storage or "in memory"
        log.info(
            "Study %r (%s): %d trials so far, %d to add",
            self.study_name,
            where,
            len(study.trials),
            self.n_trials,
        )
        if self.devices:
            told = self._sweep_on_devices(study, space, fixed, sweep_dir)
        else:
            told = self._sweep_in_process(study, space, fixed)
        counts = count_states(told)
        write_summary(study, sweep_dir, counts)
        report_outcome(counts, sweep_dir)
        return told

    def _overrides(self, trial, fixed: list[str]) -> list[str]:
        """The trial's overrides: the fixed ones, its sampled parameters, and who it is (for pruning)."""
        sampled = [f"{k}={v}" for k, v in trial.params.items()]
        pruner = self.config.hydra.sweeper.get("pruner")
        pruner = OmegaConf.to_container(pruner, resolve=True) if pruner else None
        return [*fixed, *sampled, *trial_overrides(self.study_name, trial.number, self.storage, pruner)]

    def _sweep_in_process(self, study, space: dict, fixed: list[str]) -> list:
        """Run the trials one after another in this process; return them as told to the study."""
        told = []
        for job in range(self.n_trials):
            trial = study.ask(space)
            told.append(self._run_in_process(study, trial, self._overrides(trial, fixed), job))
        return told

    def _run_in_process(self, study, trial, overrides: list[str], job: int) -> "optuna.trial.FrozenTrial":
        try:
            [result] = self.launcher.launch([overrides], initial_job_idx=job)
        except SystemExit as stop:
            # A trial stopped by a UserError exits without a traceback, and Hydra lets SystemExit
            # through: caught here, it fails that trial instead of ending the sweep.
            return _fail(study, trial, f"exited with code {stop.code}; its log (job {job}) says why")
        except Exception as error:  # raised before the trial ran, e.g. its overrides do not compose
            return _fail(study, trial, f"{type(error).__name__}: {error}")
        run_dir = Path(result.hydra_cfg.hydra.runtime.output_dir)
        return _tell(study, trial, trial_outcome(run_dir, self.config.get("optimized_metric")), run_dir)

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

        def run_trial(trial, job: int) -> tuple[Any, TrialOutcome, Path]:
            device = free.get()
            run_dir = sweep_dir / str(job)
            overrides = self._overrides(trial, fixed)
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
            return trial, trial_outcome(run_dir, metric), run_dir / "trial_output.log"

        told, pending = [], set()
        with ThreadPoolExecutor(max_workers=len(self.devices)) as pool:
            for job in range(self.n_trials):
                if len(pending) == len(self.devices):
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    told += [_tell(study, *f.result()) for f in done]
                # Asked only now, so the sampler knows every trial finished so far.
                pending.add(pool.submit(run_trial, study.ask(space), job))
            told += [_tell(study, *f.result()) for f in wait(pending).done]
        return told


def _tell(study, trial, outcome: TrialOutcome, log_at: Path) -> "optuna.trial.FrozenTrial":
    """Tell the study how the trial ended (read from its folder by `trial_outcome`)."""
    import optuna

    if outcome.state == "pruned":
        log.info("Trial %d pruned", trial.number)
        return study.tell(trial, state=optuna.trial.TrialState.PRUNED)
    if outcome.state == "fail":
        return _fail(study, trial, f"{outcome.reason}; see {log_at}")
    return study.tell(trial, outcome.value)


def _fail(study, trial, why: str) -> "optuna.trial.FrozenTrial":
    import optuna

    log.error("Trial %d failed: %s", trial.number, why)
    return study.tell(trial, state=optuna.trial.TrialState.FAIL)


def count_states(trials: list["optuna.trial.FrozenTrial"]) -> dict[str, int]:
    """How many of `trials` (as told to the study) completed, were pruned and failed."""
    import optuna

    states = Counter(t.state for t in trials)
    state = optuna.trial.TrialState
    return {"complete": states[state.COMPLETE], "pruned": states[state.PRUNED], "failed": states[state.FAIL]}


def report_outcome(counts: dict[str, int], sweep_dir: Path) -> None:
    """Log what this sweep's trials did; exit non-zero, without a traceback, when all of them failed."""
    total = sum(counts.values())
    log.info(
        "This sweep's %d trials: %d completed, %d pruned, %d failed",
        total,
        counts["complete"],
        counts["pruned"],
        counts["failed"],
    )
    if not counts["failed"]:
        return
    where = f"the trials' logs, in their folders under {sweep_dir}"
    if counts["failed"] == total:
        log.error("All %d trials failed: nothing was learned. See %s", total, where)
        raise SystemExit(1)  # after the summary is written: best.json and trials.csv say what happened
    log.warning("%d of %d trials failed; see %s", counts["failed"], total, where)


def write_summary(study, sweep_dir: Path, counts: dict[str, int]) -> None:
    """best.json, trials.csv and the optimisation-history and parameter-importance plots.

    best.json holds the study's best trial once any trial of it completed, and always how this
    sweep's trials ended (`counts`), so a sweep that learned nothing never looks like a result.
    """
    import optuna

    complete = study.get_trials(deepcopy=False, states=[optuna.trial.TrialState.COMPLETE])
    best = {}
    if complete:
        best = {
            "best_value": study.best_value,
            "best_params": study.best_params,
            "best_trial": study.best_trial.number,
        }
    summary = {"study": study.study_name, "trials": counts, **best}
    (sweep_dir / "best.json").write_text(json.dumps(summary, indent=2) + "\n")
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
