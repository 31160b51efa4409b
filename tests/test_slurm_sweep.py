"""Optuna trials as SLURM jobs on the local cluster (scripts/slurm_cluster.sh, the `slurm` fixture):
`hydra.sweeper.n_jobs=2` through `hydra/launcher=slurm`, on a journal file and on PostgreSQL."""

import subprocess
from datetime import datetime
from pathlib import Path

import optuna
import pytest

from lightning_hydra_template.sweeps.trial import study_storage

from . import test_cluster_sweep
from .test_cluster_sweep import overlapping, sweep, trials_csv
from .test_slurm import ON_LOCAL_CLUSTER

TWO_SLURM_JOBS = [*ON_LOCAL_CLUSTER, "hydra.sweeper.n_jobs=2"]
postgres_url = test_cluster_sweep.postgres_url  # the throwaway PostgreSQL server, as a fixture here too


def slurm_job_times(sweep_dir: Path) -> dict[int, tuple[datetime, datetime]]:
    """SLURM's own start and end time of every job the sweep submitted (.submitit/<job id>/), from
    slurmctld, which keeps finished jobs for MinJobAge (600 s on the local cluster)."""
    times = {}
    for folder in (sweep_dir / ".submitit").glob("[0-9]*"):  # not the hidden .submission_file_*.sh
        shown = subprocess.run(["scontrol", "-o", "show", "job", folder.name], capture_output=True, text=True)
        fields = dict(f.split("=", 1) for f in shown.stdout.split() if "=" in f)
        times[int(folder.name)] = (
            datetime.fromisoformat(fields["StartTime"]),
            datetime.fromisoformat(fields["EndTime"]),
        )
    return times


def assert_two_slurm_jobs_in_flight(sweep_dir: Path, storage: str, trials: int) -> None:
    """Every trial COMPLETE, as a job of its own through sbatch, two at once; the summary written."""
    study = optuna.load_study(study_name="mlp_optuna", storage=study_storage(storage))
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.COMPLETE] * trials
    assert (0, 1) in overlapping(study.trials)  # two jobs ran side by side, by the study's clock
    assert all(t.intermediate_values for t in study.trials)  # each job reported to the shared study
    submitted = list((sweep_dir / ".submitit").glob("*/*_submission.sh"))
    assert len(submitted) == trials and all("#SBATCH" in s.read_text() for s in submitted)
    jobs = slurm_job_times(sweep_dir)  # ... and by SLURM's: the first two jobs ran at the same time
    (start_a, end_a), (start_b, end_b) = (jobs[j] for j in sorted(jobs)[:2])
    assert start_a < end_b and start_b < end_a, jobs
    assert [r["state"] for r in trials_csv(sweep_dir)] == ["COMPLETE"] * trials
    assert (sweep_dir / "best.json").is_file()


@pytest.mark.slow
def test_optuna_trials_as_slurm_jobs_two_in_flight_on_a_journal_file(slurm, fake_data_dir, tmp_path):
    storage = f"journal://{tmp_path / 'journal' / 'study.log'}"
    result = sweep(fake_data_dir, tmp_path / "sweep", storage, *TWO_SLURM_JOBS, trials=3)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    assert_two_slurm_jobs_in_flight(tmp_path / "sweep", storage, trials=3)


@pytest.mark.slow
def test_optuna_trials_as_slurm_jobs_two_in_flight_on_postgresql(
    slurm, fake_data_dir, tmp_path, postgres_url
):
    result = sweep(fake_data_dir, tmp_path / "sweep", postgres_url, *TWO_SLURM_JOBS, trials=2)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    assert_two_slurm_jobs_in_flight(tmp_path / "sweep", postgres_url, trials=2)
