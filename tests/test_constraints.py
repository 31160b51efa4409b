"""constraints.txt: the exact versions of a release, made by the command docs/reproducibility.md shows."""

import re
import subprocess
import tomllib

from packaging.requirements import Requirement

from lightning_hydra_template.config.project import PROJECT_ROOT
from lightning_hydra_template.config.versions import pair_problem

PINNED = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([0-9][^\s+]*)$")


def constraints() -> dict[str, str]:
    lines = (PROJECT_ROOT / "constraints.txt").read_text().splitlines()
    pins = [PINNED.match(line) for line in lines]
    assert all(pins), [line for line, pin in zip(lines, pins) if not pin]  # name==version, no local label
    return {pin[1].lower(): pin[2] for pin in pins}


def documented_command() -> str:
    text = (PROJECT_ROOT / "docs" / "reproducibility.md").read_text()
    [command] = [line for line in text.splitlines() if line.startswith("pip freeze --exclude-editable")]
    return command


def test_every_dependency_of_the_project_is_pinned():
    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]
    pinned = constraints()
    extras = [r for name, rs in project["optional-dependencies"].items() if name != "dev" for r in rs]
    for line in project["dependencies"] + extras:
        requirement = Requirement(line)
        assert requirement.name.lower() in pinned, requirement.name
        assert requirement.specifier.contains(pinned[requirement.name.lower()]), line


def test_the_pinned_torch_and_torchvision_are_a_pair_and_fit_any_machine():
    pinned = constraints()
    assert not [name for name in pinned if name.startswith(("nvidia-", "cuda-", "triton"))]
    # torchvision 0.(torch minor + 15) is built for torch 2.(minor): the pairing torchvision publishes.
    torch_minor = int(pinned["torch"].split(".")[1])
    assert pinned["torchvision"].startswith(f"0.{torch_minor + 15}.")
    assert pair_problem(pinned["torch"], pinned["torchvision"], []) is None


def test_the_documented_command_keeps_portable_pins_only():
    freeze = "numpy==2.1.0\nnvidia-cublas==13.1.1.3\ntorch==2.5.1+cpu\ntriton==3.1.0\ncuda-bindings==13.5.0\n"
    filtering = documented_command().split("|", 1)[1].rsplit(">", 1)[0]  # what follows pip freeze
    done = subprocess.run(["bash", "-c", filtering], input=freeze, capture_output=True, text=True, check=True)
    assert done.stdout == "numpy==2.1.0\ntorch==2.5.1\n"
