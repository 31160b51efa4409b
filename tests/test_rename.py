"""tools/rename.py: a renamed copy of the project passes its own checks, and its runs still load.

The names come from the project at run time, not from this file: after a rename, this test renames
the renamed project again, and still means what it says.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from lightning_hydra_template.config.project import PROJECT_ROOT
from tools.rename import distribution_name, main, package_name, rename

OLD = package_name(PROJECT_ROOT)
NEW = "petvision" if OLD != "petvision" else "petvision_two"


def not_copied(folder: str, names: list[str]) -> set[str]:
    """What a clean clone leaves out: environments, caches, and the root's runs and data."""
    at_root = Path(folder) == PROJECT_ROOT
    skipped = {".git", ".venv", "__pycache__", ".cache", ".ruff_cache", ".pytest_cache"}
    return {
        n for n in names if n in skipped or n.endswith(".egg-info") or (at_root and n in {"logs", "data"})
    }


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
        f"model:\n  _target_: {OLD}.models.classifier.ImageClassifier\n"
    )
    (run / "checkpoints").mkdir()
    hparams = {"net": {"_target_": f"{OLD}.models.mlp.MLP", "hidden_sizes": [8]}}
    torch.save({"state_dict": {}, "hyper_parameters": hparams}, run / "checkpoints" / "best.ckpt")
    return run


def in_copy(project: Path, *command: str) -> subprocess.CompletedProcess:
    """`python *command` in the renamed copy, importing its package from the copy's src/."""
    env = {**os.environ, "PYTHONPATH": str(project / "src")}
    return subprocess.run(
        [sys.executable, *command], cwd=project, env=env, capture_output=True, text=True, timeout=900
    )


@pytest.mark.slow
def test_a_renamed_copy_passes_its_linters_and_tests_and_its_runs_still_load(project_copy):
    run = an_earlier_run(project_copy)
    (project_copy / "src" / f"{OLD}.egg-info").mkdir()  # left by an editable install of the old name

    changes = rename(project_copy, NEW, logs=project_copy / "logs")

    assert (project_copy / "src" / NEW / "__init__.py").is_file()
    assert not (project_copy / "src" / OLD).exists()
    assert not (project_copy / "src" / f"{OLD}.egg-info").exists()  # or Python still sees the old one
    assert f'name = "{distribution_name(NEW)}"' in (project_copy / "pyproject.toml").read_text()
    assert f"{distribution_name(NEW)}[" in (project_copy / "pyproject.toml").read_text()  # the dev extra
    assert f"{NEW}.models.cnn.CNN" in (project_copy / "configs" / "model" / "cnn.yaml").read_text()
    assert f"python -m {NEW}.tasks.train" in (project_copy / "README.md").read_text()
    assert f"{NEW}.models" in (run / ".hydra" / "config.yaml").read_text()
    saved = torch.load(run / "checkpoints" / "best.ckpt", weights_only=True)["hyper_parameters"]
    assert saved["net"] == {"_target_": f"{NEW}.models.mlp.MLP", "hidden_sizes": [8]}
    assert len(changes) > 50
    leftovers = subprocess.run(
        ["grep", "-rIl", "--exclude-dir=logs", "-e", OLD, "-e", distribution_name(OLD), "."],
        cwd=project_copy, capture_output=True, text=True,
    ).stdout  # fmt: skip
    assert leftovers == ""

    # The checks CI runs, in the renamed copy: the linters, and the quick tests of the parts a
    # rename touches (configs and their targets, every network, the docs' commands, this file).
    for linter in (["check", "."], ["format", "--check", "."]):
        result = in_copy(project_copy, "-m", "ruff", *linter)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    tests = [
        "tests/test_configs.py",
        "tests/models/test_networks.py",
        "tests/test_docs.py",
        "tests/test_rename.py",
    ]
    result = in_copy(
        project_copy, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "-m", "not slow", *tests
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def test_the_command_says_how_to_swap_the_installed_distribution(project_copy, capsys):
    main([NEW, "--root", str(project_copy)])

    printed = capsys.readouterr().out
    assert f"-m pip uninstall -y {distribution_name(OLD)}\n" in printed
    assert f'-m pip install -e "{project_copy}[dev]"' in printed


def test_renaming_again_to_the_same_name_does_nothing(project_copy):
    assert rename(project_copy, NEW)
    assert rename(project_copy, NEW) == []


def test_a_dry_run_lists_the_changes_and_changes_nothing(project_copy):
    before = (project_copy / "configs" / "model" / "cnn.yaml").read_text()
    changes = rename(project_copy, NEW, dry_run=True)
    assert f"src/{OLD}/ -> src/{NEW}/" in changes and "configs/model/cnn.yaml" in changes
    assert (project_copy / "configs" / "model" / "cnn.yaml").read_text() == before
    assert (project_copy / "src" / OLD).is_dir()


@pytest.mark.parametrize("name", ["pet vision", "2vision", "PetVision", "class", "pet-vision"])
def test_a_name_python_cannot_import_is_refused_with_the_rule(project_copy, name):
    with pytest.raises(SystemExit, match="cannot be a package name; use lower-case letters"):
        rename(project_copy, name)


def test_a_folder_that_is_not_the_project_is_refused_with_one_line(tmp_path):
    with pytest.raises(SystemExit, match=r"no \[project\] name in .*pyproject.toml"):
        rename(tmp_path, NEW)
