"""Optuna trials as SLURM jobs on the local cluster (scripts/slurm_cluster.sh, the `slurm` fixture):
`hydra.sweeper.n_jobs=2` through `hydra/launcher=slurm`, on a journal file and on PostgreSQL."""

import subprocess
from pathlib import Path

import optuna
import pytest

from lightning_hydra_template.sweeps.trial import study_storage

from . import test_cluster_sweep
from .test_cluster_sweep import overlapping, sweep, trials_csv
from .test_slurm import ON_LOCAL_CLUSTER

# One local SLURM cluster serves these tests: pytest-xdist keeps them on one worker.
pytestmark = pytest.mark.xdist_group("slurm")


TWO_SLURM_JOBS = [*ON_LOCAL_CLUSTER, "hydra.sweeper.n_jobs=2"]
postgres_url = test_cluster_sweep.postgres_url  # the throwaway PostgreSQL server, as a fixture here too


def slurm_jobs(sweep_dir: Path) -> dict[int, dict[str, str]]:
    """SLURM's own record (`scontrol show job`) of every job the sweep submitted (.submitit/<job id>/);
    slurmctld keeps finished jobs for MinJobAge (600 s on the local cluster)."""
    jobs = {}
    for folder in (sweep_dir / ".submitit").glob("[0-9]*"):  # not the hidden .submission_file_*.sh
        shown = subprocess.run(["scontrol", "-o", "show", "job", folder.name], capture_output=True, text=True)
        jobs[int(folder.name)] = dict(f.split("=", 1) for f in shown.stdout.split() if "=" in f)
    return jobs


def assert_two_slurm_jobs_in_flight(sweep_dir: Path, storage: str, trials: int) -> None:
    """Every trial COMPLETE, as a job of its own through sbatch, two at once; the summary written."""
    study = optuna.load_study(study_name="mlp_optuna", storage=study_storage(storage))
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.COMPLETE] * trials
    assert (0, 1) in overlapping(study.trials)  # two jobs ran side by side, by the study's clock
    assert all(t.intermediate_values for t in study.trials)  # each job reported to the shared study
    submitted = list((sweep_dir / ".submitit").glob("*/*_submission.sh"))
    assert len(submitted) == trials and all("#SBATCH" in s.read_text() for s in submitted)
    jobs = slurm_jobs(sweep_dir)  # ... and by SLURM's: the first two jobs ran at the same time
    a, b = (jobs[j] for j in sorted(jobs)[:2])
    assert a["StartTime"] < b["EndTime"] and b["StartTime"] < a["EndTime"], jobs  # ISO times sort
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


@pytest.mark.slow
def test_a_requeued_trial_job_continues_as_the_same_optuna_trial(slurm, fake_data_dir, tmp_path):
    """Each trial's job is requeued (`scontrol requeue`, a preemption) at step 3 of 4, mid-epoch 1.

    Two batches an epoch whatever batch size the trial samples, so the requeue is mid-epoch for all.
    """
    storage = f"journal://{tmp_path / 'journal' / 'study.log'}"
    times = tmp_path / "fault_times.txt"
    fault = [
        "trainer.limit_train_batches=2", "+callbacks.fault._target_=tests.helpers.RequeueAtStep",
        "+callbacks.fault.step=3", f"+callbacks.fault.times={times}",
    ]  # fmt: skip
    result = sweep(fake_data_dir, tmp_path / "sweep", storage, *TWO_SLURM_JOBS, *fault, trials=2)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]

    study = optuna.load_study(study_name="mlp_optuna", storage=study_storage(storage))
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.COMPLETE] * 2  # no trial added
    assert all(sorted(t.intermediate_values) == [0, 1] for t in study.trials)  # epoch 0 before, 1 after
    assert all(j["Restarts"] == "1" for j in slurm_jobs(tmp_path / "sweep").values())  # SLURM requeued
    for t in study.trials:
        run_dir = tmp_path / "sweep" / str(t.number)
        log = (run_dir / "train.log").read_text()
        assert "Training interrupted by SIGTERM" in log
        assert f"continuing {run_dir / 'checkpoints' / 'last.ckpt'}" in log
        assert log.count("- epoch 0:") == 1 and log.count("- epoch 1:") == 1
        assert t.value == t.intermediate_values[1]  # the value of the continued run, told to this trial
    assert [r["state"] for r in trials_csv(tmp_path / "sweep")] == ["COMPLETE"] * 2

    stamps = [line.rsplit(" ", 1) for line in times.read_text().splitlines()]  # both trials' jobs
    faults = [float(t) for what, t in stamps if what == "fault"]
    again = [float(t) for what, t in stamps if what == "training again"]
    print(f"requeue cost (trial jobs): {min(again) - min(faults):.1f} to {max(again) - max(faults):.1f} s")
