"""Cluster sweeps: `hydra.sweeper.n_jobs` trials in flight through a Hydra launcher, on storage many
workers share (a journal file, PostgreSQL). submitit_local runs the same submitit code as SLURM, as
local processes."""

import csv
import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest
from omegaconf import OmegaConf

from lightning_hydra_template.sweeps.trial import study_storage

from .helpers import free_port, run

QUICK = ["debug=fast", "data.val_size=100", "trainer.max_epochs=2", "trainer.limit_train_batches=3"]
TWO_JOBS = ["hydra/launcher=submitit_local", "hydra.sweeper.n_jobs=2"]


def sweep(data_dir: Path, sweep_dir: Path, storage: str, *overrides: str, trials: int = 3):
    """`python train.py -m hparams_search=mlp_optuna`, small, into `sweep_dir`."""
    return run(
        "train.py", "-m", "hparams_search=mlp_optuna", *QUICK, f"hydra.sweeper.n_trials={trials}",
        "hydra.sweeper.sampler.n_startup_trials=1", f"hydra.sweeper.storage={storage}",
        f"hydra.sweep.dir={sweep_dir}", *overrides, data_dir=data_dir, timeout=600,
    )  # fmt: skip


def trials_csv(sweep_dir: Path) -> list[dict]:
    with open(sweep_dir / "trials.csv") as f:
        return list(csv.DictReader(f))


def overlapping(trials: list[optuna.trial.FrozenTrial]) -> list[tuple[int, int]]:
    """The pairs of trials that were in flight at the same time, by the study's own clock."""
    return [
        (a.number, b.number)
        for a in trials
        for b in trials
        if a.number < b.number
        and a.datetime_start < b.datetime_complete
        and b.datetime_start < a.datetime_complete
    ]


@pytest.mark.slow
def test_two_jobs_in_flight_on_a_journal_file_then_the_same_study_continues(fake_data_dir, tmp_path):
    storage = f"journal://{tmp_path / 'journal' / 'study.log'}"
    result = sweep(fake_data_dir, tmp_path / "first", storage, *TWO_JOBS)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]

    study = optuna.load_study(study_name="mlp_optuna", storage=study_storage(storage))
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.COMPLETE] * 3
    assert (0, 1) in overlapping(study.trials)  # two submitit jobs ran side by side
    for t in study.trials:  # each trial a folder of its own, its own overrides and value
        run_dir = tmp_path / "first" / str(t.number)
        overrides = list(OmegaConf.load(run_dir / ".hydra" / "overrides.yaml"))
        assert f"+pruning.trial_number={t.number}" in overrides
        assert f"optimizer.lr={t.params['optimizer.lr']}" in overrides
        assert t.intermediate_values  # reported from the job's process to the shared journal
    with open(tmp_path / "first" / "slots.csv") as f:
        assert {int(r["trial"]) for r in csv.DictReader(f)} == {0, 1, 2}

    values = [t.value for t in study.trials]

    # The same command again (one trial, in the sweep's process): it adds to the study, re-runs nothing.
    again = sweep(fake_data_dir, tmp_path / "second", storage, trials=1)
    assert again.returncode == 0, (again.stdout + again.stderr)[-3000:]
    rows = trials_csv(tmp_path / "second")
    assert [(r["number"], r["state"]) for r in rows] == [(str(n), "COMPLETE") for n in range(4)]
    assert [float(r["value"]) for r in rows[:3]] == values


@pytest.mark.slow
@pytest.mark.parametrize(
    ("overrides", "why"),
    [
        (["hydra.sweeper.n_jobs=2"], "hydra/launcher=submitit_local or hydra/launcher=slurm"),
        ([*TWO_JOBS, "hydra.sweeper.storage=null"], "cannot see a study in memory"),
    ],
    ids=["in-process launcher", "study in memory"],
)
def test_parallel_trials_that_could_not_work_are_refused_with_a_message(
    fake_data_dir, tmp_path, overrides, why
):
    result = sweep(fake_data_dir, tmp_path / "refused", f"sqlite:///{tmp_path / 'study.db'}", *overrides)
    assert result.returncode != 0
    assert why in result.stderr
    assert not (tmp_path / "refused" / "0").exists()  # refused before any trial ran


# --- PostgreSQL: a throwaway server on localhost --------------------------------------------------


def postgres_bin() -> Path | None:
    """Debian's PostgreSQL programs (`apt-get install postgresql`), or those on PATH."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def as_server_user(command: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: as root, run it as the `postgres` user the package makes."""
    if os.geteuid() != 0:
        return command
    return ["runuser", "-u", "postgres", "--", *command]


def start_postgres(bin_dir: Path, home: Path) -> str:
    """initdb and start a cluster in `home` (trust auth, 127.0.0.1, a free port); its URL, or raise."""
    data, port = home / "data", free_port()
    initdb = [str(bin_dir / "initdb"), "-D", str(data), "-U", "optuna", "--auth=trust"]
    subprocess.run(as_server_user(initdb), check=True, capture_output=True, text=True, timeout=120)
    options = f"-c listen_addresses=127.0.0.1 -p {port} -k {home}"
    pg_ctl = [str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(home / "log"), "-w", "start"]
    subprocess.run(as_server_user(pg_ctl), check=True, capture_output=True, text=True, timeout=120)
    return f"postgresql://optuna@127.0.0.1:{port}/postgres"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A throwaway PostgreSQL server for one test; skipped, saying why, where none can be started."""
    bin_dir = postgres_bin()
    if bin_dir is None:
        pytest.skip("no PostgreSQL server programs (initdb): apt-get install postgresql")
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        pytest.skip("running as root without runuser: cannot start PostgreSQL as another user")
    home = Path(
        tempfile.mkdtemp(prefix="optuna-pg-")
    )  # not under pytest's folders, which only root may enter
    if os.geteuid() == 0:
        shutil.chown(home, "postgres", "postgres")
    try:
        url = start_postgres(bin_dir, home)
    except (subprocess.SubprocessError, OSError) as error:
        shutil.rmtree(home, ignore_errors=True)
        detail = getattr(error, "stderr", "") or ""
        pytest.skip(f"could not start a PostgreSQL server: {error} {detail}"[:500])
    yield url
    stop = [str(bin_dir / "pg_ctl"), "-D", str(home / "data"), "-m", "immediate", "stop"]
    subprocess.run(as_server_user(stop), capture_output=True, timeout=120)
    shutil.rmtree(home, ignore_errors=True)


@pytest.mark.slow
def test_two_jobs_in_flight_on_a_postgresql_study(fake_data_dir, tmp_path, postgres_url):
    result = sweep(fake_data_dir, tmp_path / "pg", postgres_url, *TWO_JOBS, trials=2)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    study = optuna.load_study(study_name="mlp_optuna", storage=study_storage(postgres_url))
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.COMPLETE] * 2
    assert overlapping(study.trials) == [(0, 1)]
    assert all(t.intermediate_values for t in study.trials)  # each job reported to the server
