"""What every task's command line does: Hydra composes the task's config, the task runs, a user's
mistake ends in one line (`errors.reported_errors`), never in a traceback."""

import sys
from collections.abc import Callable
from typing import Any

from omegaconf import DictConfig


def task_main(task: Callable[[DictConfig], Any], config_name: str, what: str) -> Callable[[], None]:
    """The `main()` of a task: `python <script>.py key=value ...` runs `task` on the composed config.

    `what` names the task in its one-line error ("Training stopped: ..."). The task's return value
    goes back to Hydra (a sweep's objective).
    """
    import hydra

    from ..errors import reported_errors
    from .project import CONFIG_DIR

    def run(cfg: DictConfig) -> Any:
        with reported_errors(what):
            return task(cfg)

    # Hydra names the job after the module of the function it runs: the task's, not this one.
    run.__module__ = task.__module__
    hydra_main = hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name=config_name)(run)
    return lambda: start(hydra_main)


def start(hydra_main: Callable[[], Any]) -> None:
    """Check the torch / torchvision pair and the keys given (none that moved), make
    `${oc.env:PROJECT_ROOT}` and `${new_dir:...}` resolvable, then run the Hydra task."""
    from .moved_keys import refuse_moved_keys
    from .project import CONFIG_DIR, export_project_root
    from .run_folders import register_resolvers
    from .versions import check_installed_pair

    check_installed_pair()  # from the packages' metadata: --help still imports no torch
    refuse_moved_keys(sys.argv[1:])  # a key that moved (moved_keys.py): one line naming the new one
    export_project_root()
    register_resolvers()
    sys.argv = null_groups_dropped(sys.argv, CONFIG_DIR)
    hydra_main()


def null_groups_dropped(argv: list[str], config_dir) -> list[str]:
    """`logger=null` (or `callbacks=null`) as Hydra spells "no logger": `~logger`.

    Hydra 1.3 stops with a traceback on a config group set to null ("Config group override must be a
    string or a list"); a user means "none of it". Hydra reads its overrides from `sys.argv` and has
    no hook before composition, so this is the one rewrite of the command line left.
    """
    dropped = []
    for argument in argv:
        group, _, value = argument.partition("=")
        is_group = group.isidentifier() and (config_dir / group).is_dir()
        dropped.append(f"~{group}" if value == "null" and is_group else argument)
    return dropped
