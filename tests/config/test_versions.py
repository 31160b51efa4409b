"""versions: a torch / torchvision pair that cannot work together stops at start-up with the fix."""

import importlib.metadata
import os
import subprocess
import sys

import pytest
import torch

from lightning_hydra_template.config.project import PROJECT_ROOT
from lightning_hydra_template.config.versions import (
    VersionMismatch,
    check_installed_pair,
    check_torchvision_loads,
    pair_problem,
)


def test_the_installed_pair_works_together():
    check_installed_pair()
    check_torchvision_loads()


@pytest.mark.parametrize(
    ("torch_version", "torchvision_version", "requires", "problem"),
    [
        ("2.5.1", "0.20.1", ["torch==2.5.1"], None),
        ("2.5.1+cpu", "0.20.1+cpu", ["torch==2.5.1"], None),  # a local build matches its public version
        ("2.6.0", "0.20.1", ["numpy", "torch==2.5.1"], "torchvision 0.20.1 requires torch==2.5.1, but"),
        ("2.5.1+cpu", "0.20.1+cu124", ["torch==2.5.1"], "builds for different platforms (cpu and cu124)"),
        ("2.14.1", "0.29.1", ["torch (>=2.14.0)", "scipy ; extra == 'scipy'"], None),
    ],
)
def test_a_pair_is_judged_from_the_packages_metadata(torch_version, torchvision_version, requires, problem):
    found = pair_problem(torch_version, torchvision_version, requires)
    assert found == problem if problem is None else problem in found


def test_a_mismatched_pair_stops_with_one_line_saying_what_to_install():
    versions = {"torch": "2.6.0+cpu", "torchvision": "0.20.1+cpu"}
    with pytest.raises(VersionMismatch) as stop:
        check_installed_pair(versions.__getitem__, lambda name: ["torch==2.5.1"])
    message = str(stop.value)
    assert "\n" not in message
    assert message == (
        "torchvision 0.20.1+cpu requires torch==2.5.1, but torch 2.6.0+cpu is installed: "
        'pip install "torch==2.6.0" torchvision --index-url https://download.pytorch.org/whl/cpu '
        "(pip picks the torchvision made for it)."
    )


def test_a_missing_package_says_how_to_install_the_project():
    def version(name: str) -> str:
        raise importlib.metadata.PackageNotFoundError(name)

    with pytest.raises(VersionMismatch, match="torch is not installed: pip install -e ."):
        check_installed_pair(version)


class MissingOperators:
    """torch.ops.torchvision as it is when torchvision was built for another torch."""

    def __getattr__(self, name: str):
        raise RuntimeError(f"operator torchvision::{name} does not exist")


def test_torchvision_operators_missing_from_torch_stop_with_the_fix(monkeypatch):
    monkeypatch.setattr(torch.ops, "torchvision", MissingOperators())
    with pytest.raises(VersionMismatch) as stop:
        check_torchvision_loads()
    assert str(stop.value).startswith(
        f"torchvision does not load with torch {torch.__version__} "
        "(RuntimeError: operator torchvision::nms does not exist): pip install"
    )


@pytest.mark.slow
def test_train_py_refuses_a_mismatched_install_before_anything_else(tmp_path):
    # A torchvision whose metadata asks for a torch that is not installed, first on the path.
    info = tmp_path / "torchvision-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: torchvision\nVersion: 0.1.0\nRequires-Dist: torch==1.0.0\n"
    )
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "train.py", "--help"], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()  # one line, no traceback
    installed = importlib.metadata.version("torch")
    assert line.startswith(f"torchvision 0.1.0 requires torch==1.0.0, but torch {installed} is installed: ")
    assert f'pip install "torch=={installed.split("+")[0]}" torchvision' in line
