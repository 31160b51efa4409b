"""What every task's command line does: Hydra composes the task's config, the task runs, a user's
mistake ends in one line (`errors.reported_errors`), never in a traceback."""

import sys
from collections.abc import Callable
from pathlib import Path
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
    """Check the torch / torchvision pair and the overrides given (no key that moved, no config group
    set to null), make `${oc.env:PROJECT_ROOT}` and `${new_dir:...}` resolvable, then run the task."""
    from .moved_keys import refuse_moved_keys
    from .project import CONFIG_DIR, export_project_root
    from .run_folders import register_resolvers
    from .versions import check_installed_pair

    check_installed_pair()  # from the packages' metadata: --help still imports no torch
    refuse_moved_keys(sys.argv[1:])  # a key that moved (moved_keys.py): one line naming the new one
    refuse_null_groups(sys.argv[1:], CONFIG_DIR)
    export_project_root()
    register_resolvers()
    hydra_main()


class NullGroup(SystemExit):
    """Stops with this one line and exit code 1, before Hydra composes anything."""


def refuse_null_groups(arguments: list[str], config_dir: Path) -> None:
    """`logger=null` names the fix: `logger=none` (an empty option of the group), or `~tune`.

    Hydra 1.3 stops with "Config group override must be a string or a list. Got NoneType" and no
    way out; read with Hydra's own override parser, the command line itself is left as typed.
    """
    from .moved_keys import parsed_overrides

    for argument, override in parsed_overrides(arguments):
        group = config_dir / override.key_or_group
        if override.value() is not None or override.is_delete() or not group.is_dir():
            continue  # a value set to null (`ckpt_path=null`) is a value
        name = override.key_or_group
        fix = f"{name}=none" if (group / "none.yaml").is_file() else f"~{name} (its default left out)"
        raise NullGroup(f"{argument}: a config group cannot be null in Hydra; write {fix}")
