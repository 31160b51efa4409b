"""A Hydra sweeper over current Optuna: persistent studies, pruning, and a summary per sweep.

hydra-optuna-sweeper 1.3 pins optuna<3 and has no pruning; this one asks Optuna for each trial's
parameters, launches the trial as a Hydra job, and tells Optuna its result (or that it was pruned).
"""

import csv
import logging
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import warnings
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override, Transformer
from hydra.core.plugins import Plugins
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf

from lightning_hydra_template.errors import STOPPED
from lightning_hydra_template.run_status import METRICS_FILE, RunStatus
from lightning_hydra_template.sweeps.trial import (
    JOURNAL,
    TrialOutcome,
    study_storage,
    trial_outcome,
    trial_overrides,
)

from .config import OptunaStudySweeperConf  # noqa: F401  (registers hydra/sweeper=optuna_study)

if TYPE_CHECKING:
    import optuna

log = logging.getLogger(__name__)
FAIL_REASON = "fail_reason"  # the user attribute a failed trial's reason is kept in
# The user attributes naming each trial's run folder and best checkpoint: trial numbers and folder
# numbers part once a study is continued by another sweep.
RUN_DIR, BEST_CHECKPOINT = "run_dir", "best_checkpoint"
INTERRUPTED = "interrupted"  # the user attribute that says which signal stopped a trial


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
    study_name: str,
    storage: str | None,
    direction: str,
    sampler: Any = None,
    pruner: Any = None,
    heartbeat_s: int | None = None,
    backend: Any = None,
) -> "optuna.Study":
    """Create the study, or load it if it exists: the same command again continues it.

    `backend`: the storage object to use (else built from `storage`), for a caller that keeps it.
    """
    import optuna

    with _creation_lock(storage):  # held while the storage object sets up a new database
        return optuna.create_study(
            study_name=study_name,
            storage=backend or study_storage(storage, heartbeat_s),
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

    url = make_url(storage) if storage and not storage.startswith(JOURNAL) else None
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
        n_jobs: int = 1,
        heartbeat_s: int | None = 60,
    ) -> None:
        self.study_name, self.storage, self.direction = study_name, storage, direction
        self.n_trials, self.n_jobs, self.heartbeat_s = n_trials, n_jobs, heartbeat_s
        self.sampler, self.pruner = sampler, pruner  # built by Hydra from their _target_
        self.params = dict(params or {})
        self.devices = [str(d) for d in devices] if devices else None
        self.stop_code: int | None = None  # 128 + the signal that asked the sweep to stop

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
        slots = self._slots()  # refused before anything is created
        sweep_dir = Path(self.config.hydra.sweep.dir)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, sweep_dir / "multirun.yaml")

        import optuna

        # Kept (not read back from the study) to put an interrupted trial back in the queue; built
        # under the creation lock, as it sets up a new database (see _creation_lock).
        with _creation_lock(self.storage):
            self.backend = study_storage(self.storage, self.heartbeat_s) or optuna.storages.InMemoryStorage()
        study = open_study(
            self.study_name, self.storage, self.direction, self.sampler, self.pruner, backend=self.backend
        )
        fail_stale_trials(study)
        log.info(
            "Study %r (%s): %d trials so far, %d to add, %d at once",
            self.study_name,
            self.storage or "in memory",
            len(study.trials),
            self.n_trials,
            len(slots) if slots else 1,
        )
        with Heartbeat(study, self.heartbeat_s) as heartbeat:
            if slots:
                told = self._sweep_in_slots(study, space, fixed, sweep_dir, slots, heartbeat)
            else:
                with self._stop_on_signals():
                    told = self._sweep_in_process(study, space, fixed, heartbeat)
        counts = count_states(told)
        write_summary(study, sweep_dir, counts, fixed)
        if self.stop_code is not None:
            log.error(
                "Sweep interrupted by %s after %d trials; the same command continues the study.",
                signal.Signals(self.stop_code - 128).name,
                len(told),
            )
            raise SystemExit(self.stop_code)  # after the summary: it says what was done
        report_outcome(counts, sweep_dir)
        return told

    @contextmanager
    def _stop_on_signals(self) -> Iterator[None]:
        """Ctrl+C or SIGTERM between trials: no new trial. (During a trial, the run's own handler
        stops it cleanly, and its status says so: see `_sweep_in_process`.)"""

        def stop(signum: int, frame: Any) -> None:
            self.stop_code = self.stop_code or 128 + signum

        previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            for signum in previous:
                signal.signal(signum, stop)
        except ValueError:  # not the main thread: leave signals alone
            yield
            return
        try:
            yield
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def _slots(self) -> list[str] | None:
        """The pool trials run in at once: one slot per device, or `n_jobs`; None: one at a time here."""
        from hydra._internal.core_plugins.basic_launcher import BasicLauncher

        if self.devices and self.n_jobs not in (1, len(self.devices)):
            raise ValueError(
                f"hydra.sweeper.devices runs {len(self.devices)} trials at once (one per device); "
                f"hydra.sweeper.n_jobs={self.n_jobs} asks for another number: give one of them"
            )
        if not self.devices and self.n_jobs <= 1:
            return None
        if not self.storage:  # a study in memory lives in this process only
            raise ValueError(
                "hydra.sweeper.devices and hydra.sweeper.n_jobs > 1 need hydra.sweeper.storage (a database"
                " URL or journal:///abs/path): trials run in other processes, which cannot see a study in"
                " memory"
            )
        if self.devices:
            return self.devices
        if isinstance(self.launcher, BasicLauncher):
            raise ValueError(
                f"hydra.sweeper.n_jobs={self.n_jobs} needs a launcher that runs jobs elsewhere "
                "(hydra/launcher=submitit_local or hydra/launcher=slurm), or hydra.sweeper.devices=[...]"
            )
        return [f"job-slot-{i}" for i in range(self.n_jobs)]

    def _overrides(self, trial, fixed: list[str]) -> list[str]:
        """The trial's overrides: the fixed ones, its sampled parameters, and who it is (for pruning)."""
        sampled = [f"{k}={v}" for k, v in trial.params.items()]
        pruner = self.config.hydra.sweeper.get("pruner")
        pruner = OmegaConf.to_container(pruner, resolve=True) if pruner else None
        return [*fixed, *sampled, *trial_overrides(self.study_name, trial.number, self.storage, pruner)]

    def _sweep_in_process(self, study, space: dict, fixed: list[str], heartbeat: "Heartbeat") -> list:
        """Run the trials one after another through the launcher; return them as told to the study."""
        told = []
        for job in range(self.n_trials):
            if self.stop_code is not None:
                break
            trial = ask(study, space)
            heartbeat.add(trial)
            outcome, log_at = self._launch(self._overrides(trial, fixed), job)
            heartbeat.discard(trial)
            if outcome.state == RunStatus.INTERRUPTED:
                self._back_in_queue(study, trial, outcome.reason)
                break
            told.append(_tell(study, trial, outcome, log_at))
        return told

    def _back_in_queue(self, study, trial, why: str) -> None:
        """An interrupted trial is not a failure: back to WAITING, the next `ask` (the same command
        run again) gives it out again, with its number and parameters."""
        from optuna.trial import TrialState

        log.warning("Trial %d %s; it runs again when the sweep is started again.", trial.number, why)
        trial.set_user_attr(INTERRUPTED, why)
        study_id = self.backend.get_study_id_from_name(study.study_name)
        trial_id = self.backend.get_trial_id_from_study_id_trial_number(study_id, trial.number)
        self.backend.set_trial_state_values(trial_id, TrialState.WAITING)

    def _launch(self, overrides: list[str], job: int) -> tuple[TrialOutcome, Path]:
        """Run one trial as job `job` of the configured launcher; how it ended, and where to look."""
        sweep_dir = Path(self.config.hydra.sweep.dir)
        try:
            [result] = self.launcher.launch([overrides], initial_job_idx=job)
        except SystemExit as stop:
            # A trial stopped by a UserError exits without a traceback, and Hydra lets SystemExit
            # through: caught here, it fails that trial instead of ending the sweep, for the reason
            # the trial printed. A trial stopped by a signal stops the sweep instead.
            where = sweep_dir / str(job)
            outcome = trial_outcome(where, self.config.get("optimized_metric"))
            if outcome.state == RunStatus.INTERRUPTED and isinstance(stop.code, int):
                self.stop_code = self.stop_code or stop.code
                return outcome, where
            message = getattr(stop, "message", None)
            reason = " ".join(message.split()) if message else f"exited with code {stop.code}"
            return TrialOutcome(RunStatus.FAILED, reason=reason, run_dir=str(where)), where
        except Exception as error:
            # Its overrides did not compose, or its job died (killed, preempted past its requeues, out
            # of memory): submitit raises when it asks for the result. Either way, this trial only.
            return TrialOutcome(RunStatus.FAILED, reason=_first_line(error)), sweep_dir / str(
                job
            )  # no run folder
        run_dir = Path(result.hydra_cfg.hydra.runtime.output_dir)
        return trial_outcome(run_dir, self.config.get("optimized_metric")), run_dir

    def _run_on_device(self, overrides: list[str], job: int, device: str) -> tuple[TrialOutcome, Path]:
        """Run one trial as a process of its own that sees only `device` (CUDA_VISIBLE_DEVICES)."""
        run_dir = Path(self.config.hydra.sweep.dir) / str(job)
        run_dir.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, sys.argv[0], *overrides, f"hydra.run.dir={run_dir}"]
        with open(run_dir / "trial_output.log", "w") as out:
            env = {**os.environ, "CUDA_VISIBLE_DEVICES": device}
            done = subprocess.run(command, env=env, stdout=out, stderr=subprocess.STDOUT, check=False)
        outcome = trial_outcome(run_dir, self.config.get("optimized_metric"))
        if outcome.state == RunStatus.FAILED and done.returncode < 0:  # killed: the signal says more
            why = f"killed by {signal.Signals(-done.returncode).name}"
            outcome = TrialOutcome(RunStatus.FAILED, reason=why, run_dir=str(run_dir))
        elif outcome.state == RunStatus.FAILED and not (run_dir / METRICS_FILE).exists():  # stopped early
            why = printed_error(run_dir / "trial_output.log") or outcome.reason
            outcome = TrialOutcome(RunStatus.FAILED, reason=why, run_dir=str(run_dir))
        return outcome, run_dir / "trial_output.log"

    def _sweep_in_slots(
        self, study, space: dict, fixed: list[str], sweep_dir: Path, slots: list[str], heartbeat: "Heartbeat"
    ) -> list:
        """Keep a trial in every slot: a new one is asked for as soon as any trial ends."""
        free: queue.Queue[str] = queue.Queue()
        for slot in slots:
            free.put(slot)
        slot_log = sweep_dir / "slots.csv"
        slot_log.write_text("trial,slot,start,end\n")

        def run_trial(trial, job: int) -> tuple[Any, TrialOutcome, Path]:
            slot = free.get()
            overrides = self._overrides(trial, fixed)
            log.info("Trial %d in slot %s: %s", trial.number, slot, " ".join(overrides))
            started = time.time()
            try:
                if self.devices:
                    outcome, log_at = self._run_on_device(overrides, job, slot)
                else:
                    # Each launch builds its own submitit executor and submits one job under uuid-named
                    # files, so launches from several threads do not share state; they mostly wait.
                    outcome, log_at = self._launch(overrides, job)
            finally:
                with open(slot_log, "a") as f:
                    f.write(f"{trial.number},{slot},{started},{time.time()}\n")
                free.put(slot)
            return trial, outcome, log_at

        told, pending = [], set()
        with ThreadPoolExecutor(max_workers=len(slots)) as pool:
            for job in range(self.n_trials):
                if len(pending) == len(slots):
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    told += [self._finish(study, heartbeat, f) for f in done]
                    fail_stale_trials(study)  # another sweep's dead trials, as Optuna's optimize does
                # Asked only now, so the sampler knows every trial finished so far.
                trial = ask(study, space)
                heartbeat.add(trial)
                pending.add(pool.submit(run_trial, trial, job))
            told += [self._finish(study, heartbeat, f) for f in wait(pending).done]
        return told

    @staticmethod
    def _finish(study, heartbeat: "Heartbeat", future: Future) -> "optuna.trial.FrozenTrial":
        """Tell the study how a trial run in a slot ended (the study is only touched in this thread)."""
        trial, outcome, log_at = future.result()
        heartbeat.discard(trial)
        return _tell(study, trial, outcome, log_at)


class Heartbeat:
    """Record a heartbeat every `interval` seconds for each trial this sweep has in flight.

    Optuna beats only inside `study.optimize`; a sweep that asks and tells beats itself, so that a
    trial it left RUNNING when it died is failed by the next sweep on the study (`fail_stale_trials`)
    instead of staying RUNNING forever. Storages without heartbeats (journal, in memory) skip it.
    """

    def __init__(self, study, interval: int | None) -> None:
        from optuna.storages._heartbeat import is_heartbeat_enabled

        self.study, self.interval = study, interval
        self.enabled = bool(interval) and is_heartbeat_enabled(study._storage)
        self.running: set[int] = set()
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._beat, name="optuna-heartbeat", daemon=True)

    def __enter__(self) -> "Heartbeat":
        if self.enabled:
            self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        if self.thread.is_alive():
            self.thread.join()

    def add(self, trial) -> None:
        if self.enabled:
            self.study._storage.record_heartbeat(trial._trial_id)  # at once: no stale window at start
            with self.lock:
                self.running.add(trial._trial_id)

    def discard(self, trial) -> None:
        with self.lock:
            self.running.discard(trial._trial_id)

    def _beat(self) -> None:
        while not self.stop.wait(self.interval):
            with self.lock:
                running = list(self.running)
            for trial_id in running:
                self.study._storage.record_heartbeat(trial_id)


def ask(study, space: dict) -> "optuna.trial.Trial":
    """A new trial of `space`, without Optuna's warning that heartbeats are meant for `optimize`."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Heartbeat of storage is supposed to be used with Study.optimize")
        return study.ask(space)


def fail_stale_trials(study) -> None:
    """Fail the study's trials whose sweep stopped beating for them (it was killed): they never end."""
    import optuna

    stale = {t.number for t in study.get_trials(deepcopy=False, states=[optuna.trial.TrialState.RUNNING])}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)  # stable since Optuna 2.9
        optuna.storages.fail_stale_trials(study)
    still = {t.number for t in study.get_trials(deepcopy=False, states=[optuna.trial.TrialState.RUNNING])}
    for number in sorted(stale - still):
        log.warning("Trial %d failed: the sweep running it stopped (no heartbeat)", number)


def _first_line(error: BaseException) -> str:
    """`Type: first line of the message`: a job's error may carry its whole log after that."""
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0] if lines else ''}"


def _tell(study, trial, outcome: TrialOutcome, log_at: Path) -> "optuna.trial.FrozenTrial":
    """Tell the study how the trial ended (read from its folder by `trial_outcome`), and where it ran."""
    import optuna

    for key, value in ((RUN_DIR, outcome.run_dir), (BEST_CHECKPOINT, outcome.best_checkpoint)):
        if value:
            trial.set_user_attr(key, value)
    if outcome.state == RunStatus.PRUNED:
        log.info("Trial %d pruned", trial.number)
        return study.tell(trial, state=optuna.trial.TrialState.PRUNED)
    if outcome.state in (RunStatus.FAILED, RunStatus.INTERRUPTED):  # interrupted in a slot: process gone
        return _fail(study, trial, f"{outcome.reason}; see {log_at}")
    return study.tell(trial, outcome.value)


def printed_error(output: Path) -> str | None:
    """The error a trial's process printed last (`<Task> stopped: <message>`, to the end), if any."""
    text = output.read_text(errors="replace") if output.is_file() else ""
    found = list(re.finditer(rf"\w+{STOPPED}", text))
    return " ".join(text[found[-1].start() :].split()) if found else None


def _fail(study, trial, why: str) -> "optuna.trial.FrozenTrial":
    import optuna

    log.error("Trial %d failed: %s", trial.number, why)
    trial.set_user_attr(FAIL_REASON, why)  # kept in the study: trials.csv shows it, any sweep can read it
    return study.tell(trial, state=optuna.trial.TrialState.FAIL)


def count_states(trials: list["optuna.trial.FrozenTrial"]) -> dict[str, int]:
    """How many of `trials` (as told to the study) completed, were pruned and failed."""
    import optuna

    states = Counter(t.state for t in trials)
    state = optuna.trial.TrialState
    return {
        RunStatus.COMPLETED: states[state.COMPLETE],
        RunStatus.PRUNED: states[state.PRUNED],
        RunStatus.FAILED: states[state.FAIL],
    }


def report_outcome(counts: dict[str, int], sweep_dir: Path) -> None:
    """Log what this sweep's trials did; exit non-zero, without a traceback, when all of them failed."""
    total = sum(counts.values())
    log.info(
        "This sweep's %d trials: %d completed, %d pruned, %d failed",
        total,
        counts[RunStatus.COMPLETED],
        counts[RunStatus.PRUNED],
        counts[RunStatus.FAILED],
    )
    if not counts[RunStatus.FAILED]:
        return
    where = f"the trials' logs, in their folders under {sweep_dir}"
    if counts[RunStatus.FAILED] == total:
        log.error("All %d trials failed: nothing was learned. See %s", total, where)
        raise SystemExit(1)  # after the summary is written: best.json and trials.csv say what happened
    log.warning("%d of %d trials failed; see %s", counts[RunStatus.FAILED], total, where)


def write_summary(study, sweep_dir: Path, counts: dict[str, int], fixed: list[str] = ()) -> None:
    """best.json, trials.csv and the optimisation-history and parameter-importance plots.

    best.json holds the study's best trial once any trial of it completed, and always how this
    sweep's trials ended (`counts`), so a sweep that learned nothing never looks like a result.
    With a best trial it names its run folder and checkpoint and the commands that retrain it and
    evaluate it, which are also logged. trials.csv names each trial's run folder and checkpoint.
    """
    import optuna

    from lightning_hydra_template.atomic_files import atomic_write_json

    complete = study.get_trials(deepcopy=False, states=[optuna.trial.TrialState.COMPLETE])
    best = {}
    if complete:
        trial = study.best_trial
        best = {
            "best_value": study.best_value,
            "best_params": study.best_params,
            "best_trial": trial.number,
            "best_run_dir": trial.user_attrs.get(RUN_DIR),
            "best_checkpoint": trial.user_attrs.get(BEST_CHECKPOINT),
            **best_trial_commands(trial, fixed),
        }
    summary = {"study": study.study_name, "trials": counts, **best}
    atomic_write_json(sweep_dir / "best.json", summary)
    names = sorted({name for t in study.trials for name in t.params})
    with open(sweep_dir / "trials.csv", "w", newline="") as f:
        writer = csv.writer(f)
        header = ["number", "state", "value", *names, "last_reported_step", RUN_DIR, BEST_CHECKPOINT]
        writer.writerow([*header, FAIL_REASON])
        for t in study.trials:
            last_step = max(t.intermediate_values, default="")
            params = [t.params.get(n, "") for n in names]
            where = [t.user_attrs.get(RUN_DIR, ""), t.user_attrs.get(BEST_CHECKPOINT, "")]
            why = t.user_attrs.get(FAIL_REASON, "")
            writer.writerow([t.number, t.state.name, t.value, *params, last_step, *where, why])
    if complete:
        _plot(optuna.visualization.matplotlib.plot_optimization_history, study, sweep_dir / "history.png")
    if len(complete) >= 2 and names:
        _plot(optuna.visualization.matplotlib.plot_param_importances, study, sweep_dir / "importances.png")
    log.info("Sweep summary in %s: %s", sweep_dir, best or "no completed trial")
    if best:
        log.info("Retrain the best trial (%d): %s", best["best_trial"], best["retrain"])
        if best["evaluate"]:
            log.info("Evaluate its best checkpoint: %s", best["evaluate"])


def best_trial_commands(trial, fixed: list[str]) -> dict[str, str | None]:
    """The commands that retrain `trial` as a single run and evaluate its best checkpoint.

    The trial's overrides come from its run folder (`.hydra/overrides.yaml`), which holds what that
    trial ran with even when an earlier sweep with other overrides ran it; without the folder, this
    sweep's overrides and the trial's parameters.
    """
    import shlex

    from lightning_hydra_template.sweeps.trial import replayable_trial_overrides

    run_dir = trial.user_attrs.get(RUN_DIR)
    saved = Path(run_dir) / ".hydra" / "overrides.yaml" if run_dir else None
    if saved is not None and saved.is_file():
        overrides = replayable_trial_overrides(OmegaConf.to_container(OmegaConf.load(saved)))
    else:
        overrides = [*fixed, *(f"{k}={v}" for k, v in trial.params.items())]
    checkpoint = trial.user_attrs.get(BEST_CHECKPOINT)
    return {
        "retrain": shlex.join(["python", "train.py", *overrides]),
        "evaluate": shlex.join(["python", "eval.py", f"ckpt_path={checkpoint}"]) if checkpoint else None,
    }


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
