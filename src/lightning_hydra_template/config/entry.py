"""What every entry script does before Hydra composes its config."""

import sys
from collections.abc import Callable
from typing import Any


def start(hydra_main: Callable[[], Any]) -> None:
    """Make `${oc.env:PROJECT_ROOT}` and `${new_dir:...}` resolvable, then run the Hydra task."""
    from .project import CONFIG_DIR, export_project_root
    from .run_folders import register_resolvers

    export_project_root()
    register_resolvers()
    sys.argv = null_groups_dropped(sys.argv, CONFIG_DIR)
    hydra_main()


def null_groups_dropped(argv: list[str], config_dir) -> list[str]:
    """`logger=null` (or `callbacks=null`) as Hydra spells "no logger": `~logger`.

    Hydra 1.3 stops with a traceback on a config group set to null; a user means "none of it".
    """
    dropped = []
    for argument in argv:
        group, _, value = argument.partition("=")
        is_group = group.isidentifier() and (config_dir / group).is_dir()
        dropped.append(f"~{group}" if value == "null" and is_group else argument)
    return dropped
