"""Which folder a training run writes into and which checkpoint it continues (ckpt_path, auto)."""

import os
import shlex
from pathlib import Path

import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser

from lightning_hydra_template.config import run_folders
from lightning_hydra_template.config.run_folders import kept_run_record, run_folder
from lightning_hydra_template.errors import ConfigError
from lightning_hydra_template.run.resume import (
    check_resume_changes,
    checkpoint_to_resume,
    newest_checkpoint,
    quoted,
)


def a_run(folder: Path, *checkpoints: str) -> Path:
    """A run folder as training leaves it: `.hydra/config.yaml` and `checkpoints/<names>`."""
    (folder / ".hydra").mkdir(parents=True)
    (folder / ".hydra" / "config.yaml").write_text("seed: 1\n")
    (folder / "checkpoints").mkdir()
    for i, name in enumerate(checkpoints):
        (folder / "checkpoints" / name).write_bytes(b"PK")
        os.utime(folder / "checkpoints" / name, ns=(10**18 + i, 10**18 + i))  # written in this order
    return folder


@pytest.fixture
def no_slurm(monkeypatch):
    monkeypatch.setattr(run_folders, "_claimed", {})
    for name in ("SLURM_JOB_ID", "SLURM_NTASKS", "SLURM_RESTART_COUNT", "WORLD_SIZE"):
        monkeypatch.delenv(name, raising=False)


def test_a_checkpoint_of_a_run_folder_resumes_in_that_folder(tmp_path, no_slurm):
    run = a_run(tmp_path / "runs" / "a b, c", "last.ckpt")  # spaces and a comma: read, never parsed
    assert run_folder(str(tmp_path / "runs" / "new"), str(run / "checkpoints" / "last.ckpt")) == str(run)
    assert not (tmp_path / "runs" / "new").exists()  # no folder claimed for nothing


def test_a_checkpoint_out_of_any_run_folder_gets_a_new_folder(tmp_path, no_slurm):
    (tmp_path / "alone.ckpt").write_bytes(b"PK")
    new = run_folder(str(tmp_path / "runs" / "new"), str(tmp_path / "alone.ckpt"))
    assert new == str(tmp_path / "runs" / "new") and Path(new).is_dir()


def test_auto_in_a_slurm_job_is_the_jobs_folder_every_time_it_starts(tmp_path, no_slurm, monkeypatch):
    monkeypatch.setenv("SLURM_JOB_ID", "77")
    first = run_folder(str(tmp_path / "runs" / "2026-12-05_10-00-00"), "auto")
    requeued = run_folder(str(tmp_path / "runs" / "2026-12-05_10-05-00"), "auto")  # started again later
    assert first == requeued == str(tmp_path / "runs" / "slurm-77")


def test_auto_elsewhere_is_a_new_folder_and_starts_fresh(tmp_path, no_slurm):
    folder = Path(run_folder(str(tmp_path / "runs" / "t"), "auto"))
    assert folder.is_dir() and checkpoint_to_resume("auto", folder) is None


def test_auto_continues_the_newest_checkpoint_of_the_folder(tmp_path, no_slurm):
    run = a_run(tmp_path / "run", "best.ckpt", "last-v1.ckpt", "last.ckpt")  # last.ckpt written last
    assert checkpoint_to_resume("auto", run) == str(run / "checkpoints" / "last.ckpt")
    assert newest_checkpoint(a_run(tmp_path / "other", "last.ckpt", "last-v1.ckpt")).name == "last-v1.ckpt"


def test_a_new_run_in_a_folder_with_checkpoints_is_refused_in_one_line(tmp_path, no_slurm):
    run = a_run(tmp_path / "run", "last.ckpt")
    with pytest.raises(ConfigError, match=r"already holds a run's checkpoints .* ckpt_path=auto"):
        checkpoint_to_resume(None, run)


def test_a_requeued_slurm_job_continues_its_folder_without_being_told(tmp_path, no_slurm, monkeypatch):
    run = a_run(tmp_path / "run", "last.ckpt")
    monkeypatch.setenv("SLURM_RESTART_COUNT", "1")
    assert checkpoint_to_resume(None, run) == str(run / "checkpoints" / "last.ckpt")


def test_hydra_keeps_the_run_record_of_a_folder_that_has_one(tmp_path):
    assert kept_run_record(str(tmp_path)) == ".hydra"
    assert kept_run_record(str(a_run(tmp_path / "run"))) is None


@pytest.mark.parametrize(
    "path", ["/runs/plain/last.ckpt", "/runs/a b, [c]='d'/last.ckpt", "/rüns/é/last.ckpt"]
)
def test_a_quoted_path_reads_back_as_itself_in_hydra_and_the_shell(path):
    argument = shlex.split(shlex.quote(f"ckpt_path={quoted(path)}"))[0]
    [override] = OverridesParser.create().parse_overrides([argument])
    assert (override.key_or_group, override.value()) == ("ckpt_path", path)


def resume_of(compose_config, *given: str):
    """The run's config (experiment=mlp) and the config of its resume with `given` on top."""
    run_cfg = compose_config(["experiment=mlp"])
    cfg = compose_config(["experiment=mlp", *given, "ckpt_path=/runs/r/checkpoints/last.ckpt"])
    return run_cfg, cfg


MID_EPOCH = {"epoch_finished": False, "global_step": 14}
EPOCH_END = {"epoch_finished": True, "global_step": 20}


@pytest.mark.parametrize(
    "given", [["optimizer.lr=1e-4"], ["trainer.max_epochs=9"], ["data.loader.batch_size=8"]]
)
def test_what_can_change_on_a_resume_is_let_through(compose_config, given):
    check_resume_changes(*resume_of(compose_config, *given), EPOCH_END)


def test_another_network_on_a_resume_is_refused_naming_the_key(compose_config):
    with pytest.raises(ConfigError, match=r"^model.net.hidden_sizes=\[16\] cannot change .* init_from="):
        check_resume_changes(*resume_of(compose_config, "model.net.hidden_sizes=[16]"), EPOCH_END)


def test_another_batch_size_in_the_middle_of_an_epoch_is_refused(compose_config):
    run_cfg, cfg = resume_of(compose_config, "data.loader.batch_size=8")
    with pytest.raises(
        ConfigError,
        match=r"middle of an epoch .* step 14.* data.loader.batch_size="
        + str(run_cfg.data.loader.batch_size),
    ):
        check_resume_changes(run_cfg, cfg, MID_EPOCH)
