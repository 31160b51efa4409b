"""rename: a copy of the project renamed to `petvision` still works, its runs included."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from lightning_hydra_template.config.project import PROJECT_ROOT
from lightning_hydra_template.rename import rename


def not_copied(folder: str, names: list[str]) -> set[str]:
    """What a copy of the project leaves out: environments, caches, and the root's runs and data."""
    at_root = Path(folder) == PROJECT_ROOT
    skipped = {".git", ".venv", "__pycache__", ".cache"} | ({"logs", "data"} if at_root else set())
    return {n for n in names if n in skipped or n.endswith(".egg-info")}


@pytest.fixture
def project_copy(tmp_path) -> Path:
    copy = tmp_path / "project"
    shutil.copytree(PROJECT_ROOT, copy, ignore=not_copied)
    return copy


def an_earlier_run(project: Path) -> Path:
    """A run folder under logs/ as training leaves it: its saved config and a checkpoint."""
    run = project / "logs" / "train" / "runs" / "2026-12-01_10-00-00"
    (run / ".hydra").mkdir(parents=True)
    (run / ".hydra" / "config.yaml").write_text(
        "model:\n  _target_: lightning_hydra_template.models.classifier.ImageClassifier\n"
    )
    (run / "checkpoints").mkdir()
    hparams = {"net": {"_target_": "lightning_hydra_template.models.mlp.MLP", "hidden_sizes": [8]}}
    torch.save({"state_dict": {}, "hyper_parameters": hparams}, run / "checkpoints" / "best.ckpt")
    return run


@pytest.mark.slow
def test_a_renamed_copy_passes_its_tests_and_its_runs_still_load(project_copy):
    run = an_earlier_run(project_copy)

    changes = rename(project_copy, "petvision", logs=project_copy / "logs")

    assert (project_copy / "src" / "petvision" / "rename.py").is_file()
    assert not (project_copy / "src" / "lightning_hydra_template").exists()
    assert 'name = "petvision"' in (project_copy / "pyproject.toml").read_text()
    assert "petvision[" in (project_copy / "pyproject.toml").read_text()  # the dev extra names itself
    assert "petvision.models.cnn.CNN" in (project_copy / "configs" / "model" / "cnn.yaml").read_text()
    assert "petvision.models" in (run / ".hydra" / "config.yaml").read_text()
    saved = torch.load(run / "checkpoints" / "best.ckpt", weights_only=True)["hyper_parameters"]
    assert saved["net"] == {"_target_": "petvision.models.mlp.MLP", "hidden_sizes": [8]}
    assert len(changes) > 50
    leftovers = subprocess.run(
        ["grep", "-rIl", "--exclude-dir=logs", "lightning_hydra_template\\|lightning-hydra-template", "."],
        cwd=project_copy, capture_output=True, text=True,
    ).stdout  # fmt: skip
    assert leftovers == ""

    # The renamed copy's own tests, importing petvision from the copy (a subset: the whole suite
    # is CI's job; these cover configs, builders, every network, and a short training run).
    env = {**os.environ, "PYTHONPATH": str(project_copy / "src")}
    tests = ["tests/test_configs.py", "tests/run/test_builders.py", "tests/models/test_networks.py"]
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "-m", "not slow", *tests,
         "tests/tasks/test_train.py::test_a_few_batches_write_checkpoint_events_and_metrics"],
        cwd=project_copy, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def test_renaming_again_to_the_same_name_does_nothing(project_copy):
    assert rename(project_copy, "petvision")
    assert rename(project_copy, "petvision") == []


def test_a_dry_run_lists_the_changes_and_changes_nothing(project_copy):
    before = (project_copy / "configs" / "model" / "cnn.yaml").read_text()
    changes = rename(project_copy, "petvision", dry_run=True)
    assert (
        "src/lightning_hydra_template/ -> src/petvision/" in changes and "configs/model/cnn.yaml" in changes
    )
    assert (project_copy / "configs" / "model" / "cnn.yaml").read_text() == before
    assert (project_copy / "src" / "lightning_hydra_template").is_dir()


@pytest.mark.parametrize("name", ["pet vision", "2vision", "PetVision", "class", "pet-vision"])
def test_a_name_python_cannot_import_is_refused_with_the_rule(project_copy, name):
    with pytest.raises(SystemExit, match="cannot be a package name; use lower-case letters"):
        rename(project_copy, name)
