"""Runs on a real one-node SLURM cluster (scripts/slurm_cluster.sh, started by the `slurm` fixture):
jobs submitted through `hydra/launcher=slurm`, and what a requeued job does with its run folder."""

import pytest

from .helpers import read_metrics, run

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
