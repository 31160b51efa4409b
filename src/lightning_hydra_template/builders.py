"""Every object of a run is built here from its config's `_target_`: the config tree is the registry."""

from typing import Any

from omegaconf import DictConfig


def build(cfg: DictConfig, **kwargs: Any) -> Any:
    """`hydra.utils.instantiate`, the one place objects are made from config."""
    from hydra.utils import instantiate

    return instantiate(cfg, **kwargs)


def build_each(group: DictConfig | None) -> list[Any]:
    """Build every entry of a named collection (`callbacks`, `logger`); `null` entries are off.

    A collection that is itself one object (`callbacks=early_stopping`) builds that object alone.
    """
    if not group:
        return []
    if "_target_" in group:
        return [build(group)]
    return [build(entry) for entry in group.values() if entry is not None]
