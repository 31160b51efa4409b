"""Runs on a real one-node SLURM cluster (scripts/slurm_cluster.sh, started by the `slurm` fixture):
jobs submitted through `hydra/launcher=slurm`, and what a requeued job does with its run folder."""

from pathlib import Path

import pytest

from .helpers import read_metrics, run
from .reliability.test_run_faults import SMALL_RUN, weights

# One local SLURM cluster serves these tests: pytest-xdist keeps them on one worker.
pytestmark = pytest.mark.xdist_group("slurm")


# What the local cluster has: CPUs, a little memory, no GPU. Tiny data, a few batches.
ON_LOCAL_CLUSTER = [
    "hydra/launcher=slurm",
    "trainer=cpu",
    "hydra.launcher.cpus_per_task=1",
    "hydra.launcher.mem_gb=1",
    "hydra.launcher.timeout_min=10",
]
TINY = ["debug=fast", "data.val_size=100"]


@pytest.mark.slow
def test_a_multirun_through_the_slurm_launcher_completes_as_a_slurm_job(slurm, fake_data_dir, tmp_path):
    result = run(
        "train.py", "-m", "experiment=mlp", *ON_LOCAL_CLUSTER, *TINY, f"hydra.sweep.dir={tmp_path}",
        data_dir=fake_data_dir, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    summary = read_metrics(tmp_path / "0")
    assert summary["status"] == "completed" and "test/acc" in summary["metrics"]
    submitted = list((tmp_path / ".submitit").glob("*/*_submission.sh"))
    assert len(submitted) == 1 and "#SBATCH" in submitted[0].read_text()  # it went through sbatch


def fault_times(path: Path) -> dict[str, float]:
    return {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1]) for line in path.read_text().splitlines()}


@pytest.fixture(scope="module")
def left_alone(fake_data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same small run, uninterrupted, on this machine: what a requeued job must end equal to."""
    run_dir = tmp_path_factory.mktemp("alone") / "run"
    result = run("train.py", *SMALL_RUN, f"hydra.run.dir={run_dir}", data_dir=fake_data_dir)
    assert result.returncode == 0, result.stderr[-3000:]
    return run_dir


@pytest.mark.slow
@pytest.mark.parametrize(
    ("how", "stopped_by"),
    [("requeue", "SIGTERM"), ("warn", "SIGUSR2")],
    ids=["preempted (scontrol requeue)", "time-limit warning (SIGUSR2): requeues itself"],
)
def test_a_job_stopped_mid_epoch_continues_its_run_and_ends_as_if_left_alone(
    slurm, fake_data_dir, tmp_path, left_alone, how, stopped_by
):
    times = tmp_path / "fault_times.txt"
    fault = [
        "+callbacks.fault._target_=tests.helpers.RequeueAtStep", "+callbacks.fault.step=14",
        f"+callbacks.fault.times={times}", f"+callbacks.fault.how={how}",
    ]  # fmt: skip
    result = run(
        "train.py", "-m", *SMALL_RUN, *ON_LOCAL_CLUSTER, *fault, f"hydra.sweep.dir={tmp_path / 'sweep'}",
        data_dir=fake_data_dir, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    run_dir = tmp_path / "sweep" / "0"
    log = (run_dir / "train.log").read_text()
    assert f"Training interrupted by {stopped_by}" in log  # the first start stopped ...
    assert f"continuing {run_dir / 'checkpoints' / 'last.ckpt'}" in log  # ... the second went on
    assert log.count("- epoch 0:") == 1 and log.count("- epoch 2:") == 1  # no epoch trained twice
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir()) == ["best.ckpt", "last.ckpt"]
    summary = read_metrics(run_dir)
    assert summary["status"] == "completed" and summary["resumed_from"]["global_step"] == 14
    ours, theirs = weights(run_dir), weights(left_alone)
    assert max((ours[k] - theirs[k]).abs().max().item() for k in theirs) == 0

    # What a requeue costs, from the fault to the first training batch of the restarted job.
    cost = fault_times(times)
    print(f"requeue cost ({how}): {cost['training again'] - cost['fault']:.1f} s")


@pytest.mark.slow
def test_a_job_that_reaches_its_time_limit_saves_requeues_itself_and_ends_as_if_left_alone(
    slurm, fake_data_dir, tmp_path, left_alone
):
    """A real `--time=1` with `--signal=USR2@1`: nothing but SLURM sends the signal.

    slurmctld checks time limits every 30 s (hard-coded), and sends the warning when the next check
    would be late: 29 to 59 s into a one-minute job. The first start trains slowly enough to be
    still training then; the requeued start finishes in under 29 s, before its own warning.
    """
    times = tmp_path / "times.txt"
    slow = [
        "+callbacks.slow._target_=tests.helpers.SlowFirstStart",
        "+callbacks.slow.seconds=3",
        f"+callbacks.slow.times={times}",
    ]
    cluster = [o for o in ON_LOCAL_CLUSTER if not o.startswith("hydra.launcher.timeout_min=")]
    limit = ["hydra.launcher.timeout_min=1", "hydra.launcher.signal_delay_s=1"]
    result = run(
        "train.py", "-m", *SMALL_RUN, *cluster, *limit, *slow, f"hydra.sweep.dir={tmp_path / 'sweep'}",
        data_dir=fake_data_dir, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    (script,) = (tmp_path / "sweep" / ".submitit").glob("*/*_submission.sh")
    assert "#SBATCH --time=1\n" in script.read_text() and "#SBATCH --signal=USR2@1\n" in script.read_text()
    run_dir = tmp_path / "sweep" / "0"
    log = (run_dir / "train.log").read_text()
    assert "Training interrupted by SIGUSR2" in log and "requeued" in log  # saved, requeued itself
    assert f"continuing {run_dir / 'checkpoints' / 'last.ckpt'}" in log
    assert log.count("- epoch 0:") == 1 and log.count("- epoch 2:") == 1  # no epoch trained twice
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir()) == ["best.ckpt", "last.ckpt"]
    summary = read_metrics(run_dir)
    assert summary["status"] == "completed" and 0 < summary["resumed_from"]["global_step"] < 30
    ours, theirs = weights(run_dir), weights(left_alone)
    assert max((ours[k] - theirs[k]).abs().max().item() for k in theirs) == 0

    starts = fault_times(times)
    print(f"time limit: the first batch to training again {starts['start 1'] - starts['start 0']:.1f} s")


def metrics_of_test_stage(run_dir: Path) -> dict[str, float]:
    return {k: v for k, v in read_metrics(run_dir)["metrics"].items() if k.startswith("test/")}


@pytest.mark.slow
def test_ddp_through_srun_with_two_tasks_is_one_run_with_the_metrics_of_one_process(
    slurm, fake_data_dir, tmp_path
):
    """`trainer=ddp_sim` (2 CPU processes, gloo): SLURM starts both ranks (`--ntasks-per-node=2`),
    Lightning reads SLURM's variables and starts none itself; the whole test set, in two halves."""
    cluster = [o for o in ON_LOCAL_CLUSTER if o != "trainer=cpu"]
    result = run(
        "train.py", "-m", "experiment=mlp", *cluster, "trainer=ddp_sim", *TINY, "optimizer.lr=1e-4",
        "trainer.limit_test_batches=1.0", f"hydra.sweep.dir={tmp_path / 'sweep'}",
        data_dir=fake_data_dir, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    (script,) = (tmp_path / "sweep" / ".submitit").glob("*/*_submission.sh")
    assert "#SBATCH --ntasks-per-node=2\n" in script.read_text()
    assert sorted(p.name for p in (tmp_path / "sweep").iterdir() if p.is_dir()) == [".submitit", "0"]
    run_dir = tmp_path / "sweep" / "0"  # one run folder for both ranks
    log = (run_dir / "train.log").read_text()
    assert "GLOBAL_RANK: 0, MEMBER: 1/2" in log and "GLOBAL_RANK: 1, MEMBER: 2/2" in log
    summary = read_metrics(run_dir)
    assert summary["status"] == "completed" and summary["world_size"] == 2

    # The same checkpoint evaluated by one process on this machine.
    best = run_dir / "checkpoints" / "best.ckpt"
    evaluated = run(
        "eval.py", f"ckpt_path={best}", "trainer=cpu", f"hydra.run.dir={tmp_path / 'eval'}",
        data_dir=fake_data_dir,
    )  # fmt: skip
    assert evaluated.returncode == 0, evaluated.stderr[-3000:]
    ours, one_process = metrics_of_test_stage(run_dir), metrics_of_test_stage(tmp_path / "eval")
    assert ours.keys() == one_process.keys() and ours["test/acc"] == one_process["test/acc"]
    # Sums over two halves, then across ranks, against sums over batches: float order only.
    assert ours == pytest.approx(one_process, rel=1e-5)
    print(f"DDP through srun: test/acc {ours['test/acc']:.4f}, one process {one_process['test/acc']:.4f}")
