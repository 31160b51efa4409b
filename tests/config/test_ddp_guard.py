"""The multirun DDP guard: a rank that would re-run the whole sweep is refused; the ranks SLURM
started for one job of `hydra/launcher=slurm` are not."""

import lightning as L
import pytest
from lightning.pytorch.plugins.environments import SLURMEnvironment

from lightning_hydra_template.config.ddp_guard import refuse_script_relaunch_in_sweep
from lightning_hydra_template.errors import ConfigError

# Lightning's hint, given when srun is installed but a test sets SLURM's variables by hand.
pytestmark = pytest.mark.filterwarnings("ignore:The `srun` command is available")

# What `srun` sets for task 0 of a one-node job of two tasks.
SRUN_TASK_0 = {
    "SLURM_JOB_ID": "7", "SLURM_JOB_NAME": "train", "SLURM_NTASKS": "2", "SLURM_NTASKS_PER_NODE": "2",
    "SLURM_PROCID": "0", "SLURM_LOCALID": "0", "SLURM_NODEID": "0", "SLURM_NODELIST": "localhost",
}  # fmt: skip


def ddp_trainer(plugins: list) -> L.Trainer:
    return L.Trainer(
        strategy="ddp", accelerator="cpu", devices=2, plugins=plugins, logger=False, enable_progress_bar=False
    )


def test_ddp_that_relaunches_the_script_is_refused_in_a_sweep(monkeypatch):
    for name in (*SRUN_TASK_0, "SUBMITIT_EXECUTOR"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ConfigError, match="re-run the whole sweep"):
        refuse_script_relaunch_in_sweep(ddp_trainer([]), sweeping=True)
    refuse_script_relaunch_in_sweep(ddp_trainer([]), sweeping=False)  # one run: Lightning relaunches it


@pytest.mark.parametrize(
    ("submitit", "refused"), [("slurm", False), (None, True)], ids=["job of hydra/launcher=slurm", "srun -m"]
)
def test_ranks_started_by_srun_are_let_through_only_as_one_job_of_the_slurm_launcher(
    monkeypatch, submitit, refused
):
    for name, value in SRUN_TASK_0.items():
        monkeypatch.setenv(name, value)
    if submitit:
        monkeypatch.setenv("SUBMITIT_EXECUTOR", submitit)
    else:
        monkeypatch.delenv("SUBMITIT_EXECUTOR", raising=False)
    trainer = ddp_trainer([SLURMEnvironment(auto_requeue=False)])
    if refused:
        with pytest.raises(ConfigError, match="re-run the whole sweep"):
            refuse_script_relaunch_in_sweep(trainer, sweeping=True)
    else:
        refuse_script_relaunch_in_sweep(trainer, sweeping=True)  # each task runs the pickled run
