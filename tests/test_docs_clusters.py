"""Every `python train.py` command in docs/clusters.md composes (the cluster ones also run, in
tests/test_slurm.py; the cluster script's own commands are what the `slurm` fixture runs)."""

import re
import shlex

import pytest
from omegaconf import OmegaConf

from lightning_hydra_template.config.project import PROJECT_ROOT

PAGE = PROJECT_ROOT / "docs" / "clusters.md"


def commands() -> list[str]:
    blocks = re.findall(r"```bash\n(.*?)```", PAGE.read_text(), flags=re.S)
    return [line for block in blocks for line in block.splitlines() if line.startswith("python train.py")]


def test_the_page_shows_train_commands_and_the_cluster_script():
    assert len(commands()) >= 4
    assert "scripts/slurm_cluster.sh start /tmp/slurm" in PAGE.read_text()
    assert (PROJECT_ROOT / "scripts" / "slurm_cluster.sh").is_file()


@pytest.mark.parametrize("command", commands())
def test_every_train_command_on_the_page_composes(compose_config, command):
    overrides = [a for a in shlex.split(command)[2:] if a != "-m"]
    cfg = compose_config(overrides, fast=False)
    if "hydra/launcher=slurm" in overrides:  # what sbatch is asked for resolves too
        launcher = OmegaConf.to_container(cfg.hydra.launcher, resolve=True)
        assert (launcher["tasks_per_node"], launcher["gpus_per_node"], launcher["cpus_per_task"]) == (1, 0, 1)
