"""Config keys that moved, in one table, and what reads old runs and old habits in the new keys.

The DataLoader options of `data` moved under `data.loader` and its augmentation options under
`data.augment` (`data.batch_size` is `data.loader.batch_size`, `data.crop_padding` is
`data.augment.crop_padding`). A user who types an old key is told the new one in one line; a run
recorded with the old keys (the overrides a checkpoint or `<run>/.hydra/` holds, the saved
`.hydra/config.yaml`) is read in the new ones, so resuming, evaluating or exporting it still works.
"""

import dataclasses
from typing import Any

from omegaconf import DictConfig, OmegaConf

from ..data.augment_options import AugmentOptions
from ..data.loader_options import LoaderOptions

# Each node and the record it builds; every field of the record was a key of `data` itself.
NODES = {"data.loader": LoaderOptions, "data.augment": AugmentOptions}
MOVED = {
    f"data.{field.name}": f"{node}.{field.name}"
    for node, made in NODES.items()
    for field in dataclasses.fields(made)
}  # old key -> new key


class MovedKey(SystemExit):
    """Stops with this one line and exit code 1: it is said before Hydra composes anything."""


def parsed_overrides(arguments: list[str]) -> list[tuple[str, Any]]:
    """(argument, Hydra's parsed override) for each argument that is an override (flags are not)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    parser = OverridesParser.create()
    parsed = []
    for argument in arguments:
        try:
            parsed.append((argument, parser.parse_override(argument)))
        except HydraException:  # `-m`, `--cfg job`: flags and their values; a bad override Hydra reports
            continue
    return parsed


def _renamed(override: Any) -> str:
    """The override's own text with its old key replaced by the new one (prefix and value kept)."""
    line, key = override.input_line, override.key_or_group
    at = line.index(key)
    return line[:at] + MOVED[key] + line[at + len(key) :]


def refuse_moved_keys(arguments: list[str]) -> None:
    """Stop at the first argument that names a key that moved, saying the new key and the rewrite.

    Hydra alone would answer "Key 'batch_size' is not in struct" and a hint to append it (`+`),
    which would then fail as an unknown parameter of the datamodule.
    """
    for _, override in parsed_overrides(arguments):
        if override.key_or_group in MOVED:
            old, new = override.key_or_group, MOVED[override.key_or_group]
            raise MovedKey(f"{old} is now {new}: write {_renamed(override)}")


def renamed_overrides(overrides: list[str]) -> list[str]:
    """`overrides` a run recorded, with any old key written as its new one (the rest unchanged)."""
    parsed = dict(parsed_overrides(overrides))
    return [
        _renamed(parsed[line]) if line in parsed and parsed[line].key_or_group in MOVED else line
        for line in overrides
    ]


def with_moved_keys(cfg: DictConfig) -> DictConfig:
    """A run's saved config (`.hydra/config.yaml`) with the old keys of its `data` moved into their
    nodes, each node built as today's configs build it (`_target_` and the keys the run set)."""
    data = cfg.get("data")
    if not isinstance(data, DictConfig) or not any(old.split(".", 1)[1] in data for old in MOVED):
        return cfg
    plain = OmegaConf.to_container(data, resolve=False)  # `${...}` kept: resolved where it is used
    for node, made in NODES.items():
        name = node.split(".", 1)[1]
        moved = {f.name: plain.pop(f.name) for f in dataclasses.fields(made) if f.name in plain}
        if moved:
            target = f"{made.__module__}.{made.__qualname__}"
            plain[name] = {"_target_": target, **plain.get(name, {}), **moved}
    cfg.data = OmegaConf.create(plain)
    return cfg
