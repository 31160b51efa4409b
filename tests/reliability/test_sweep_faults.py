"""Faults an Optuna sweep must survive or report: racing sweeps, failing trials, runs that ended badly.

Each test injects the fault; sweeps run as users run them, `python train.py -m hparams_search=...`.
"""

import contextlib
import csv
import json
import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import optuna
import pytest
from optuna.storages._rdb.storage import _VersionManager
from optuna.trial import TrialState

from hydra_plugins.optuna_study_sweeper.optuna_study_sweeper import (
    Heartbeat,
    ask,
    fail_stale_trials,
    open_study,
    printed_error,
)
from lightning_hydra_template.config.project import PROJECT_ROOT
from lightning_hydra_template.sweeps.trial import study_storage

# A few batches of one epoch per trial, on the generated data.
QUICK = ["debug=fast", "data.val_size=100", "trainer.limit_train_batches=3"]


def start_sweep(data_dir: Path, storage: str, sweep_dir: Path, *overrides: str, trials: int = 2):
    """Start `python train.py -m hparams_search=mlp_optuna`, small, its output in `sweep_dir.log`."""
    sweep_dir.parent.mkdir(parents=True, exist_ok=True)
    with open(sweep_dir.with_suffix(".log"), "w") as output:
        return subprocess.Popen(
            [sys.executable, "train.py", "-m", "hparams_search=mlp_optuna", *QUICK,
             f"hydra.sweeper.n_trials={trials}", "hydra.sweeper.sampler.n_startup_trials=1",
             f"hydra.sweeper.storage={storage}", f"hydra.sweep.dir={sweep_dir}", *overrides],
            cwd=PROJECT_ROOT, stdout=output, stderr=subprocess.STDOUT,
            env={**os.environ, "DATA_DIR": str(data_dir)},
        )  # fmt: skip


def finish(sweep: subprocess.Popen, sweep_dir: Path) -> tuple[int, str]:
    """Wait for a sweep started by `start_sweep`; its exit code and output."""
    return sweep.wait(timeout=600), sweep_dir.with_suffix(".log").read_text()


def run_sweep(data_dir: Path, tmp_path: Path, *overrides: str, trials: int = 2) -> tuple[int, str, dict]:
    """One sweep into `tmp_path/sweep` on a fresh study: exit code, output and best.json."""
    storage, sweep_dir = f"sqlite:///{tmp_path / 'study.db'}", tmp_path / "sweep"
    code, output = finish(start_sweep(data_dir, storage, sweep_dir, *overrides, trials=trials), sweep_dir)
    return code, output, json.loads((sweep_dir / "best.json").read_text())


# --- Two sweeps on one fresh study database ------------------------------------------------------


def test_two_sweeps_creating_one_fresh_study_at_once_both_get_it(tmp_path, monkeypatch):
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    stamp = _VersionManager._set_alembic_revision
    both_stamping = threading.Barrier(2, timeout=2)

    def stamp_together(self, revision):
        """The race, forced: each sweep waits for the other before stamping the new database."""
        with contextlib.suppress(threading.BrokenBarrierError):  # the other one waits for the lock
            both_stamping.wait()
        stamp(self, revision)

    monkeypatch.setattr(_VersionManager, "_set_alembic_revision", stamp_together)
    # Threads stand in for processes: each opens the database through its own storage object.
    with ThreadPoolExecutor(max_workers=2) as pool:
        first, second = pool.map(lambda _: open_study("shared", storage, "maximize"), range(2))

    first.tell(first.ask(), 1.0)
    assert [t.value for t in second.trials] == [1.0]  # one study, not two


@pytest.mark.slow
def test_two_sweeps_started_together_on_a_fresh_database_both_run_all_their_trials(fake_data_dir, tmp_path):
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    sweeps = {name: start_sweep(fake_data_dir, storage, tmp_path / name) for name in ("a", "b")}
    for name, sweep in sweeps.items():
        code, output = finish(sweep, tmp_path / name)
        assert code == 0, output[-3000:]
    study = optuna.load_study(study_name="mlp_optuna", storage=storage)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 4


# --- Failed trials: never reported as success ----------------------------------------------------

IN_PROCESS, ON_DEVICES = [], ["hydra.sweeper.devices=[cpu-a]"]


@pytest.mark.slow
@pytest.mark.parametrize("where", [IN_PROCESS, ON_DEVICES], ids=["in process", "on devices"])
def test_a_sweep_whose_every_trial_failed_exits_non_zero(fake_data_dir, tmp_path, where):
    # A typo in optimized_metric: every trial trains, then has no value to give the study.
    code, output, best = run_sweep(fake_data_dir, tmp_path, "optimized_metric=val/acc_bset", *where)
    assert code == 1
    # The sweep ends on one error line, no traceback; the trials' logs hold the rest.
    assert "All 2 trials failed" in output.splitlines()[-1]
    assert best == {"study": "mlp_optuna", "trials": {"completed": 0, "pruned": 0, "failed": 2}}


@pytest.mark.slow
@pytest.mark.parametrize("where", [IN_PROCESS, ON_DEVICES], ids=["in process", "on devices"])
def test_a_sweep_with_some_failed_trials_exits_zero_and_says_how_many(fake_data_dir, tmp_path, where):
    # `${pruning.trial_number}` epochs: trial 0 asks for none and so has no val/acc_best to return.
    code, output, best = run_sweep(
        fake_data_dir, tmp_path, "trainer.max_epochs=${pruning.trial_number}", *where
    )
    assert code == 0, output[-3000:]
    assert "1 of 2 trials failed" in output
    assert best["trials"] == {"completed": 1, "pruned": 0, "failed": 1}
    assert best["best_trial"] == 1
    with open(tmp_path / "sweep" / "trials.csv") as f:
        [failed] = [row for row in csv.DictReader(f) if row["state"] == "FAIL"]
    # The error the trial printed, not only its exit code.
    assert failed["fail_reason"].startswith("Training stopped: trainer.max_epochs=0 must be")


def test_the_error_a_trial_printed_last_is_its_reason(tmp_path):
    output = tmp_path / "trial_output.log"
    output.write_text(
        "[INFO] - starting\n[ERROR] - Training stopped: 2 config values cannot work:\n"
        "  - seed='abc' must be an integer\n  - data.loader.num_workers=-1 must be an integer >= 0\n"
    )
    assert printed_error(output) == (
        "Training stopped: 2 config values cannot work: - seed='abc' must be an integer "
        "- data.loader.num_workers=-1 must be an integer >= 0"
    )
    output.write_text("Traceback (most recent call last):\n  ...\nMemoryError\n")
    assert printed_error(output) is None and printed_error(tmp_path / "none.log") is None


# --- Trials whose process dies -------------------------------------------------------------------

TWO_JOBS = ["hydra/launcher=submitit_local", "hydra.sweeper.n_jobs=2"]
# Trial 1 kills itself with SIGKILL after its first step (trial 0's step 0 never comes: steps start at 1).
KILL_TRIAL_1 = [
    "+callbacks.fault._target_=tests.helpers.SignalAtStep",
    "+callbacks.fault.step=${pruning.trial_number}",
    "+callbacks.fault.signum=9",
]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("where", "reason"),
    [(TWO_JOBS, "UncompletedJobError"), (ON_DEVICES, "killed by SIGKILL")],
    ids=["submitit jobs", "on devices"],
)
def test_a_trial_killed_outright_fails_with_its_reason_and_the_sweep_goes_on(
    fake_data_dir, tmp_path, where, reason
):
    code, output, best = run_sweep(fake_data_dir, tmp_path, *KILL_TRIAL_1, *where)
    assert code == 0, output[-3000:]
    assert "1 of 2 trials failed" in output
    assert best["trials"] == {"completed": 1, "pruned": 0, "failed": 1}
    study = optuna.load_study(study_name="mlp_optuna", storage=f"sqlite:///{tmp_path / 'study.db'}")
    assert [t.state for t in study.trials] == [TrialState.COMPLETE, TrialState.FAIL]
    assert reason in study.trials[1].user_attrs["fail_reason"]  # why, kept in the study itself


def test_a_trial_left_running_by_a_sweep_that_died_is_failed_by_the_next_sweep(tmp_path):
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    study = open_study("s", storage, "maximize", heartbeat_s=1)
    with Heartbeat(study, 1) as heartbeat:
        heartbeat.add(ask(study, {}))  # then the sweep "dies": nothing beats for the trial any more
    # Past the grace period (two missed beats, over 2 s) on SQLite's clock, which counts whole
    # seconds: a beat at 10.0 s and a check at 12.9 s read 10 and 12, not yet over 2 s apart.
    time.sleep(3.5)
    fail_stale_trials(open_study("s", storage, "maximize", heartbeat_s=1))  # what a new sweep does first
    assert [t.state for t in optuna.load_study(study_name="s", storage=storage).trials] == [TrialState.FAIL]


# --- A sweep told to stop --------------------------------------------------------------------------


def signal_in_trial_0(signum: int) -> list[str]:
    """`signum` (a real signal, to the sweep's own process) during trial 0's third step."""
    return [
        "+callbacks.fault._target_=tests.helpers.SignalAtStep",
        "+callbacks.fault.step=2",
        f"+callbacks.fault.signum={int(signum)}",
    ]


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_stops_the_sweep_and_the_same_command_continues_the_interrupted_trial(
    fake_data_dir, tmp_path, signum
):
    storage, name = f"journal://{tmp_path / 'study.log'}", signal.Signals(signum).name
    first = start_sweep(fake_data_dir, storage, tmp_path / "first", *signal_in_trial_0(signum), trials=3)
    code, output = finish(first, tmp_path / "first")
    assert code == 128 + signum, output[-3000:]  # not 0: whoever started it learns it did not finish
    assert f"Sweep interrupted by {name} after 0 trials" in output and "Traceback" not in output
    assert not (tmp_path / "first" / "1").exists()  # no new trial started after the Ctrl+C
    assert json.loads((tmp_path / "first" / "best.json").read_text())["trials"]["failed"] == 0
    study = optuna.load_study(study_name="mlp_optuna", storage=study_storage(storage))
    [trial] = study.trials
    assert trial.state == TrialState.WAITING and trial.user_attrs["interrupted"] == f"interrupted by {name}"

    again = start_sweep(fake_data_dir, storage, tmp_path / "again", trials=2)
    code, output = finish(again, tmp_path / "again")
    assert code == 0, output[-3000:]
    study = optuna.load_study(study_name="mlp_optuna", storage=study_storage(storage))
    assert [(t.number, t.state) for t in study.trials] == [(0, TrialState.COMPLETE), (1, TrialState.COMPLETE)]
    assert study.trials[0].params == trial.params  # the same trial, not a new one
