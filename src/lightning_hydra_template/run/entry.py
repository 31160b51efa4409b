"""What every entry script does before Hydra composes its config."""

from collections.abc import Callable
from typing import Any


def start(hydra_main: Callable[[], Any]) -> None:
    """Make `${oc.env:PROJECT_ROOT}` and `${new_dir:...}` resolvable, then run the Hydra task."""
    from .project import export_project_root
    from .run_folders import register_resolvers

    export_project_root()
    register_resolvers()
    hydra_main()
