"""Run and sweep folders are claimed, so two runs (or two sweeps) never share one."""

from pathlib import Path

import pytest
from omegaconf import OmegaConf

from lightning_hydra_template.config import run_folders
from lightning_hydra_template.config.run_folders import RunFolderError, claim_new_dir


@pytest.mark.parametrize(("key", "kind"), [("hydra.run.dir", "runs"), ("hydra.sweep.dir", "multiruns")])
def test_run_and_sweep_folders_are_claimed_when_hydra_resolves_them(compose_config, tmp_path, key, kind):
    cfg = compose_config([f"paths.log_dir={tmp_path / 'logs'}"])
    folder = Path(OmegaConf.select(cfg, key))
    assert folder.is_dir() and folder.parent == tmp_path / "logs" / "train" / kind
    assert Path(OmegaConf.select(cfg, key)) == folder  # asked again: the same folder, not a new one


def test_an_existing_name_gets_the_next_suffix(tmp_path):
    (tmp_path / "t").mkdir()
    (tmp_path / "t_2").mkdir()
    assert claim_new_dir(str(tmp_path / "t")) == str(tmp_path / "t_3")


def test_ranks_started_by_srun_share_the_jobs_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(run_folders, "_claimed", {})
    monkeypatch.setenv("SLURM_NTASKS", "4")
    monkeypatch.setenv("SLURM_JOB_ID", "123")
    monkeypatch.setenv("SLURM_STEP_ID", "0")
    assert claim_new_dir(str(tmp_path / "runs" / "t")) == str(tmp_path / "runs" / "slurm-123.0")


def as_torchrun_rank_without_a_shared_id(monkeypatch) -> None:
    """This process as rank 1 of 2 started by torchrun with no rendezvous id, nothing claimed yet."""
    monkeypatch.setattr(run_folders, "_claimed", {})
    for name, value in {
        "WORLD_SIZE": "2",
        "RANK": "1",
        "LOCAL_RANK": "1",
        "TORCHELASTIC_RUN_ID": "none",
    }.items():
        monkeypatch.setenv(name, value)


def test_torchrun_ranks_without_a_shared_id_are_told_to_pass_the_folder(tmp_path, monkeypatch):
    as_torchrun_rank_without_a_shared_id(monkeypatch)
    monkeypatch.delenv("SLURM_NTASKS", raising=False)
    with pytest.raises(RunFolderError, match="hydra.run.dir="):
        claim_new_dir(str(tmp_path / "runs" / "t"))


def test_a_run_folder_given_on_the_command_line_claims_no_other(compose_config, tmp_path, monkeypatch):
    # A torchrun rank without a shared id refuses any claim: composing must not claim one (Hydra's
    # merge of config layers resolves a run folder that is then replaced).
    as_torchrun_rank_without_a_shared_id(monkeypatch)
    compose_config([f"hydra.run.dir={tmp_path / 'given'}"])


def as_torchrun_worker(monkeypatch, run_id: str, max_restarts: int) -> None:
    """This process as the one worker of `torchrun --nproc_per_node=1 --max-restarts=<n>`."""
    monkeypatch.setattr(run_folders, "_claimed", {})
    for name in ("SLURM_JOB_ID", "SLURM_NTASKS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in {
        "WORLD_SIZE": "1",
        "RANK": "0",
        "LOCAL_RANK": "0",
        "TORCHELASTIC_RUN_ID": run_id,
        "TORCHELASTIC_MAX_RESTARTS": str(max_restarts),
    }.items():
        monkeypatch.setenv(name, value)


def test_a_restarted_torchrun_worker_with_ckpt_path_auto_finds_its_run_folder_again(tmp_path, monkeypatch):
    new_name = str(tmp_path / "runs" / "2026-12-05_16-00-00")
    as_torchrun_worker(monkeypatch, "7fe2d44f", max_restarts=1)
    first = run_folders.run_folder(new_name, "auto")
    as_torchrun_worker(monkeypatch, "7fe2d44f", max_restarts=1)  # the restarted worker: a new process
    assert run_folders.run_folder(new_name, "auto") == first == str(tmp_path / "runs" / "torchrun-7fe2d44f")
    assert run_folders.run_folder(new_name, None) == new_name  # without auto: a new run, a new folder


def test_a_torchrun_worker_that_may_restart_without_a_run_id_is_told_to_name_the_run(tmp_path, monkeypatch):
    as_torchrun_worker(monkeypatch, "none", max_restarts=1)
    with pytest.raises(RunFolderError, match=r"torchrun --rdzv-id=<name>, or pass hydra.run.dir="):
        run_folders.run_folder(str(tmp_path / "runs" / "t"), "auto")
    as_torchrun_worker(monkeypatch, "none", max_restarts=0)  # never restarted: a new folder will do
    assert run_folders.run_folder(str(tmp_path / "runs" / "t"), "auto") == str(tmp_path / "runs" / "t")
