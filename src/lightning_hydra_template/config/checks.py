"""Check a composed config before anything is built: every bad value at once, in one message.

A value that cannot work otherwise surfaces minutes later, deep inside Lightning or torch, as a
traceback that names neither the key nor a fix. Only omegaconf is imported here: `--help` stays fast.
"""

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import InterpolationToMissingValueError, OmegaConfBaseException

from ..errors import ConfigError

MISSING = object()  # a `???` value: reported as such, never checked against a rule


@dataclass(frozen=True)
class Unresolved:
    """An interpolation that failed: its text and omegaconf's reason."""

    text: str
    reason: str


# Lightning's `_PRECISION_INPUT` literals (lightning.fabric.connector), kept here because importing
# Lightning costs seconds; tests/run/test_config_checks.py fails when Lightning's list changes.
PRECISIONS: tuple[int | str, ...] = (
    64, 32, 16,
    "64", "32", "16", "bf16",
    "transformer-engine", "transformer-engine-float16",
    "16-true", "16-mixed", "bf16-true", "bf16-mixed", "32-true", "64-true",
)  # fmt: skip

# What to type for a `???` value that has no sensible default.
MISSING_HINTS = {
    "data.csv_path": "/path/to/labels.csv",
    "ckpt_path": "logs/train/runs/<run>/checkpoints/best.ckpt",
}

CHECKPOINTS_ARE = "Checkpoints are in logs/train/runs/<run>/checkpoints/ (best.ckpt or last.ckpt)"


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)  # YAML's true is not a count


def is_number(value: Any) -> bool:
    return (is_int(value) or isinstance(value, float)) and math.isfinite(value)


def or_null(ok: Callable[[Any], bool]) -> Callable[[Any], bool]:
    """`ok`, or null: the library then applies its own default."""
    return lambda value: value is None or ok(value)


def positive_int(value: Any) -> bool:
    return is_int(value) and value > 0


def non_negative_int(value: Any) -> bool:
    return is_int(value) and value >= 0


def non_negative_number(value: Any) -> bool:
    return is_number(value) and value >= 0


def fraction(value: Any) -> bool:
    """In [0, 1): a share of the data held out, a dropout probability."""
    return is_number(value) and 0 <= value < 1


def batch_limit(value: Any) -> bool:
    """Lightning's `limit_*_batches`: a fraction of the batches (a float) or a count (an int)."""
    return non_negative_int(value) or (isinstance(value, float) and 0 <= value <= 1)


def precision(value: Any) -> bool:
    return any(value == p and type(value) is type(p) for p in PRECISIONS)  # 16.0 and True are not


@dataclass(frozen=True)
class Rule:
    keys: tuple[str, ...]  # fnmatch patterns over dotted keys
    ok: Callable[[Any], bool]
    valid: str  # what the message says the value must be
    example: str  # one valid value, shown as `key=example`


RULES = (
    Rule(("data.loader.batch_size",), positive_int, "a positive integer", "64"),
    Rule(
        ("data.loader.eval_batch_size",),
        or_null(positive_int),
        "a positive integer, or null (batch_size)",
        "256",
    ),
    Rule(("data.val_size",), positive_int, "a positive integer (images held out to validate)", "5000"),
    Rule(("data.val_ratio", "data.test_ratio"), fraction, "a fraction in [0, 1)", "0.1"),
    Rule(("data.augment.crop_padding",), non_negative_int, "an integer >= 0 (0: no random crop)", "4"),
    Rule(("data.image_size",), positive_int, "a positive integer (pixels per side)", "32"),
    Rule(("data.channels",), lambda v: is_int(v) and v in (1, 3), "1 (grey) or 3 (RGB)", "3"),
    Rule(
        ("trainer.max_epochs",),
        or_null(lambda v: is_int(v) and (v >= 1 or v == -1)),
        "an integer >= 1 (or -1, no limit, with trainer.max_steps > 0)",
        "10",
    ),
    Rule(("trainer.min_epochs",), or_null(non_negative_int), "an integer >= 0", "1"),
    Rule(("trainer.max_steps",), lambda v: is_int(v) and (v == -1 or v > 0), "-1 (no limit) or >= 1", "-1"),
    Rule(
        ("trainer.limit_train_batches", "trainer.limit_val_batches", "trainer.limit_test_batches"),
        or_null(batch_limit),
        "a fraction of the batches in [0.0, 1.0], or a number of batches (an integer >= 0)",
        "1.0",
    ),
    Rule(("trainer.accumulate_grad_batches",), positive_int, "an integer >= 1", "1"),
    Rule(("trainer.log_every_n_steps",), or_null(positive_int), "an integer >= 1", "50"),
    Rule(
        ("trainer.precision",),
        or_null(precision),
        "one of " + ", ".join(dict.fromkeys(map(str, PRECISIONS))),
        "32-true",
    ),
    Rule(
        ("trainer.gradient_clip_val",),
        or_null(non_negative_number),
        "a number >= 0, or null (no clipping)",
        "1.0",
    ),
    Rule(("model.dropout", "model.*.dropout"), fraction, "a number in [0, 1)", "0.1"),
    Rule(("optimizer.lr",), lambda v: is_number(v) and v > 0, "a number > 0", "0.001"),
    Rule(("optimizer.weight_decay",), non_negative_number, "a number >= 0", "0.0"),
    Rule(("seed",), or_null(is_int), "an integer, or null (no seeding)", "42"),
    Rule(
        ("data.loader.num_workers",),
        or_null(non_negative_int),
        "an integer >= 0 (0: load in the main process), or null (the datamodule's choice)",
        "4",
    ),
    Rule(("data.decode_workers", "decode_workers"), or_null(positive_int), "an integer >= 1, or null", "4"),
    # The options of predict.py, explain.py, export.py and serve.py (top-level keys of their configs).
    Rule(("top_k", "batch_size", "max_images", "parity_images"), positive_int, "a positive integer", "3"),
    Rule(
        ("max_batch_size", "workers_per_device", "max_pixels", "max_decodes"),
        positive_int,
        "a positive integer",
        "8",
    ),
    Rule(("max_body_mb",), lambda v: is_number(v) and v > 0, "a number > 0 (megabytes)", "20"),
    Rule(("port",), lambda v: is_int(v) and 1024 <= v <= 65535, "an integer from 1024 to 65535", "8000"),
    Rule(("batch_timeout", "max_abs_diff"), non_negative_number, "a number >= 0", "0.01"),
    Rule(
        ("max_requeues",),
        or_null(non_negative_int),
        "an integer >= 0 (0: a job never requeues itself), or null (no cap)",
        "3",
    ),
    Rule(
        ("time_budget",),
        or_null(lambda v: is_number(v) and v > 0),
        "seconds > 0, or null (no budget)",
        "3300",
    ),
)


def check_config(cfg: DictConfig) -> None:
    """Raise one `ConfigError` listing every value of `cfg` that cannot work, one line each."""
    values, problems = {}, []
    for key, value in leaves(cfg):
        if value is MISSING:
            hint = MISSING_HINTS.get(key, "<value>")
            problems.append(f"{key} has no value (???); set it on the command line, e.g. {key}={hint}")
        elif isinstance(value, Unresolved):
            problems.append(
                f"{key}={value.text} cannot be resolved ({value.reason}); fix the reference or give a value"
            )
        else:
            values[key] = value
    problems += [rule_problem(key, value) for key, value in values.items()]
    problems += [unlimited_epochs_problem(values), checkpoint_problem(values)]
    problems = [problem for problem in problems if problem]
    if problems:
        raise cannot_work(problems)


def cannot_work(problems: list[str]) -> ConfigError:
    """One problem as one line; several as a count, then one line each."""
    if len(problems) == 1:
        return ConfigError(problems[0])
    lines = "\n".join(f"  - {problem}" for problem in problems)
    return ConfigError(f"{len(problems)} config values cannot work:\n{lines}")


def leaves(node: DictConfig | ListConfig, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted key, resolved value) for every leaf outside `hydra`.

    A `???` value comes as MISSING and a failed interpolation as `Unresolved`, so that reading one
    key never hides the problems of the others. Hydra's own subtree is left alone: its resolvers
    have side effects (new_dir claims a folder) and it is Hydra's to check.
    """
    keys = node.keys() if isinstance(node, DictConfig) else range(len(node))
    for key in keys:
        path = f"{prefix}.{key}" if prefix else str(key)
        if path == "hydra":
            continue
        if OmegaConf.is_missing(node, key):
            yield path, MISSING
            continue
        try:
            value = node[key]
        except InterpolationToMissingValueError:
            continue  # the `???` it points at is reported under its own key
        except OmegaConfBaseException as error:
            text = OmegaConf.to_container(node, resolve=False)[key]
            yield path, Unresolved(str(text), str(error).splitlines()[0])
            continue
        if OmegaConf.is_config(value):
            yield from leaves(value, path)
        else:
            yield path, value


def rule_problem(key: str, value: Any) -> str | None:
    for rule in RULES:
        if any(fnmatchcase(key, pattern) for pattern in rule.keys) and not rule.ok(value):
            return f"{key}={value!r} must be {rule.valid}, e.g. {key}={rule.example}"
    return None


def unlimited_epochs_problem(values: dict[str, Any]) -> str | None:
    """max_epochs=-1 with no max_steps would train until killed, and never test."""
    max_steps = values.get("trainer.max_steps", -1)
    if values.get("trainer.max_epochs") == -1 and not (is_int(max_steps) and max_steps > 0):
        return (
            f"trainer.max_epochs=-1 (no limit) needs trainer.max_steps > 0, not {max_steps!r}: "
            "e.g. trainer.max_steps=10000, or trainer.max_epochs=10"
        )
    return None


def checkpoint_problem(values: dict[str, Any]) -> str | None:
    ckpt_path = values.get("ckpt_path")
    if ckpt_path is None:
        return None
    if not isinstance(ckpt_path, str) or not ckpt_path:
        return f"ckpt_path={ckpt_path!r} must be the path of a checkpoint file. {CHECKPOINTS_ARE}"
    path = Path(ckpt_path).expanduser()
    if path.is_dir():
        return f"ckpt_path={ckpt_path} is a folder, not a checkpoint file. {CHECKPOINTS_ARE}"
    if not path.is_file():
        relative = "" if path.is_absolute() else f" (relative to {Path.cwd()})"
        return f"ckpt_path={ckpt_path} does not exist{relative}. {CHECKPOINTS_ARE}"
    return None
