"""Check every `_target_` of a config against its signature before anything is built.

One rule for every object a config makes, with no list of keys to keep up: the target must
import, each key must be one of its parameters (unless it takes `**kwargs`), and each value must
fit the parameter's type annotation (`seed=abc` for an int, `betas=[0.9]` for a pair). Without
this, such a value fails deep inside Hydra's instantiate or the object itself, as a traceback that
may come after minutes of data preparation. Values are checked by pydantic in its lax mode ("5"
is an int, 1 a float), as the command line gives them.
"""

import importlib
import inspect
import typing
from collections.abc import Iterator
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

from .checks import cannot_work
from .moved_keys import MOVED

SKIPPED = object()  # a value this check leaves to others: nested objects, `???`, bad interpolations


def check_targets(cfg: DictConfig) -> None:
    """Raise one `ConfigError` listing every key that does not fit its target, one line each."""
    problems = [problem for key, node in targets(cfg) for problem in target_problems(key, node)]
    if problems:
        raise cannot_work(problems)


def targets(node: Any, prefix: str = "") -> Iterator[tuple[str, DictConfig]]:
    """(dotted key, node) for every node with a `_target_`, outside `hydra`."""
    if isinstance(node, DictConfig):
        if "_target_" in node:
            yield prefix, node
        for key in node:
            path = f"{prefix}.{key}" if prefix else str(key)
            if path != "hydra" and not OmegaConf.is_missing(node, key):
                yield from targets(_child(node, key), path)
    elif isinstance(node, ListConfig):
        for index in range(len(node)):
            yield from targets(_child(node, index), f"{prefix}[{index}]")


def _child(node: DictConfig | ListConfig, key: Any) -> Any:
    try:
        return node[key]
    except Exception:  # noqa: BLE001 (an interpolation that fails is check_config's to report)
        return None


def target_problems(key: str, node: DictConfig) -> list[str]:
    target = str(node._target_)
    try:
        made = locate(target)
    except ImportError as error:
        return [f"{key}._target_={target} cannot be imported ({error}); check its spelling"]
    try:
        parameters = inspect.signature(made).parameters
    except (TypeError, ValueError):  # a builtin without a signature: nothing to check against
        return []
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    hints = _type_hints(made)
    problems = []
    for name in node:
        name = str(name)
        if name.startswith("_"):
            continue
        if f"{key}.{name}" in MOVED:  # an experiment written before data.loader / data.augment
            problems.append(f"{key}.{name} is now {MOVED[f'{key}.{name}']}: move it there in your config")
            continue
        if name not in parameters:
            if not takes_any:
                known = ", ".join(p for p in parameters if p != "self")
                problems.append(f"{key}.{name} is not a parameter of {target} (it takes: {known})")
            continue
        value = _plain_value(node, name)
        if value is not SKIPPED and name in hints:
            problem = _type_problem(hints[name], value)
            if problem:
                shown = _annotation_text(hints[name])
                problems.append(
                    f"{key}.{name}={value!r} does not fit {target}'s `{name}: {shown}` ({problem})"
                )
    return problems


def locate(target: str) -> Any:
    """The object a dotted `target` names; an ImportError saying which part is not there.

    What Hydra's instantiate does, written out here because hydra.utils.get_object logs a
    multi-line error block of its own before raising.
    """
    parts = target.split(".")
    for split in range(len(parts), 0, -1):
        module_name = ".".join(parts[:split])
        try:
            made = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            if error.name and not module_name.startswith(error.name):
                raise ImportError(f"{module_name} needs {error.name}, which is not installed") from None
            continue
        for depth, attribute in enumerate(parts[split:], split + 1):
            if not hasattr(made, attribute):
                raise ImportError(f"{'.'.join(parts[: depth - 1])} has no {attribute}")
            made = getattr(made, attribute)
        return made
    raise ImportError(f"no module {parts[0]}")


def _type_hints(made: Any) -> dict[str, Any]:
    function = made.__init__ if inspect.isclass(made) else made
    try:
        return typing.get_type_hints(function)
    except Exception:  # noqa: BLE001 (annotations naming what is not importable here: not checked)
        return {}


def _plain_value(node: DictConfig, name: str) -> Any:
    if OmegaConf.is_missing(node, name):
        return SKIPPED
    try:
        value = node[name]
        if value is None and OmegaConf.is_interpolation(node, name):
            return SKIPPED  # `${data.num_classes}` still null: filled from the data once it is built
        if OmegaConf.is_config(value):
            if _has_target(value):
                return SKIPPED  # an object built from its own config: checked as a target itself
            value = OmegaConf.to_container(value, resolve=True)
    except Exception:  # noqa: BLE001 (an interpolation that fails is check_config's to report)
        return SKIPPED
    return value


def _has_target(node: Any) -> bool:
    if isinstance(node, DictConfig):
        return "_target_" in node or any(_has_target(_child(node, k)) for k in node)
    if isinstance(node, ListConfig):
        return any(_has_target(_child(node, i)) for i in range(len(node)))
    return False


def _type_problem(annotation: Any, value: Any) -> str | None:
    """pydantic's first complaint about `value` as `annotation`; None when it fits or cannot be told."""
    from pydantic import ConfigDict, TypeAdapter, ValidationError

    try:
        adapter = TypeAdapter(annotation, config=ConfigDict(arbitrary_types_allowed=True))
    except Exception:  # noqa: BLE001 (an annotation pydantic cannot model: left unchecked)
        return None
    try:
        adapter.validate_python(value)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"] if not isinstance(part, str) or "[" not in part)
        return first["msg"] + (f" at {where}" if where else "")
    except Exception:  # noqa: BLE001 (a validator of the annotation's own that fails otherwise)
        return None
    return None


def _annotation_text(annotation: Any) -> str:
    text = inspect.formatannotation(annotation)
    return text.replace("typing.", "").replace("torch.", "")
