"""A torch / torchvision pair that cannot work together stops the run at start-up, with what to install.

torchvision is built against one torch release; a mismatched pair (a pip resolve that upgraded one
of them, a CPU torch beside a CUDA torchvision) fails deep inside an import with "operator
torchvision::nms does not exist" or a CUDA-version error that names no fix.
"""

import importlib.metadata
from collections.abc import Callable

from packaging.requirements import Requirement
from packaging.version import InvalidVersion, Version

CPU_INDEX = "https://download.pytorch.org/whl/cpu"


class VersionMismatch(SystemExit):
    """Stops with this one line and exit code 1: it happens before Hydra or logging are set up."""


def fix(torch_version: str) -> str:
    """The install command that brings the torchvision made for this torch."""
    public = torch_version.split("+")[0]
    index = f" --index-url {CPU_INDEX}" if torch_version.endswith("+cpu") else ""
    return f'pip install "torch=={public}" torchvision{index} (pip picks the torchvision made for it)'


def pair_problem(
    torch_version: str, torchvision_version: str, torchvision_requires: list[str] | None
) -> str | None:
    """Why this pair cannot work, from the packages' metadata alone (nothing imported); None if it can."""
    try:
        torch_parsed = Version(torch_version)
        torchvision_parsed = Version(torchvision_version)
    except InvalidVersion:
        return None  # a source build with a version scheme of its own: the import probe decides
    for line in torchvision_requires or []:
        requirement = Requirement(line)
        is_torch = requirement.name == "torch" and requirement.marker is None
        if is_torch and not requirement.specifier.contains(torch_parsed, prereleases=True):
            return (
                f"torchvision {torchvision_version} requires torch{requirement.specifier}, "
                f"but torch {torch_version} is installed"
            )
    builds = torch_parsed.local, torchvision_parsed.local  # cpu, cu124, rocm6.2, ... or None
    if all(builds) and builds[0] != builds[1]:
        return (
            f"torch {torch_version} and torchvision {torchvision_version} are builds for different "
            f"platforms ({builds[0]} and {builds[1]})"
        )
    return None


def check_installed_pair(
    version: Callable[[str], str] = importlib.metadata.version,
    requires: Callable[[str], list[str] | None] = importlib.metadata.requires,
) -> None:
    """Stop with one line when the installed torch and torchvision do not go together."""
    try:
        torch_version, torchvision_version = version("torch"), version("torchvision")
    except importlib.metadata.PackageNotFoundError as missing:
        raise VersionMismatch(
            f"{missing.name} is not installed: pip install -e . (see README.md, 'Two commands')."
        ) from None
    problem = pair_problem(torch_version, torchvision_version, requires("torchvision"))
    if problem:
        raise VersionMismatch(f"{problem}: {fix(torch_version)}.")


def check_torchvision_loads() -> None:
    """Stop with one line when torchvision's compiled operators do not load into this torch."""
    import torch

    try:
        import torchvision  # noqa: F401  (registers its operators with torch)

        torch.ops.torchvision.nms  # noqa: B018  (the lookup raises when the operator is missing)
    except (ImportError, RuntimeError, AttributeError) as error:
        first = (str(error).strip().splitlines() or [""])[0]
        raise VersionMismatch(
            f"torchvision does not load with torch {torch.__version__} ({type(error).__name__}: {first}): "
            f"{fix(torch.__version__)}."
        ) from None
