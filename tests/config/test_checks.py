"""check_config: every value that cannot work is named at once, with its key and a valid choice."""

import subprocess
import sys
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from omegaconf import DictConfig, OmegaConf, open_dict

from lightning_hydra_template.config.checks import PRECISIONS, check_config
from lightning_hydra_template.errors import ConfigError


def config(**values: Any) -> DictConfig:
    """A config holding `values` under their dotted keys, e.g. config(**{"data.loader.batch_size": 0})."""
    cfg = OmegaConf.create()
    for key, value in values.items():
        OmegaConf.update(cfg, key, value, force_add=True)
    return cfg


def problems(cfg: DictConfig) -> list[str]:
    """The lines of the ConfigError that check_config raises, without the header."""
    with pytest.raises(ConfigError) as raised:
        check_config(cfg)
    header, *lines = str(raised.value).splitlines()
    if not lines:  # one problem: one line
        return [header]
    assert header == f"{len(lines)} config values cannot work:"
    return [line.removeprefix("  - ") for line in lines]


@pytest.mark.parametrize(
    "overrides",
    [["experiment=cnn"], ["experiment=mlp"], ["experiment=lstm"], ["experiment=csv_cnn"], []],
    ids=["cnn", "mlp", "lstm", "csv_cnn", "defaults"],
)
def test_the_shipped_train_configs_pass(
    compose_config: Callable[..., DictConfig], overrides: list[str]
) -> None:
    check_config(compose_config(overrides, fast=False))


def test_the_eval_config_passes_with_an_existing_checkpoint(
    compose_config: Callable[..., DictConfig], tmp_path: Path
) -> None:
    checkpoint = tmp_path / "best.ckpt"
    checkpoint.write_bytes(b"checked later, by load_checkpoint")
    check_config(compose_config([f"ckpt_path={checkpoint}"], config_name="eval", fast=False))


def test_command_line_values_are_checked_as_hydra_parses_them(
    compose_config: Callable[..., DictConfig],
) -> None:
    cfg = compose_config(["data.loader.batch_size=abc", "optimizer.lr=0", "trainer.precision=16"])
    assert problems(cfg) == [
        "data.loader.batch_size='abc' must be a positive integer, e.g. data.loader.batch_size=64",
        "optimizer.lr=0 must be a number > 0, e.g. optimizer.lr=0.001",
    ]


@pytest.mark.parametrize(
    ("key", "bad"),
    [
        ("data.loader.batch_size", "abc"),
        ("data.loader.batch_size", 0),
        ("data.loader.batch_size", -4),
        ("data.loader.batch_size", 2.5),
        ("data.loader.batch_size", True),
        ("data.loader.batch_size", None),
        ("data.loader.eval_batch_size", 0),
        ("data.val_size", 0),
        ("data.val_ratio", 1.0),
        ("data.test_ratio", -0.1),
        ("data.augment.crop_padding", -1),
        ("data.image_size", 0),
        ("data.channels", 2),
        ("trainer.max_epochs", 0),
        ("trainer.max_epochs", 2.5),
        ("trainer.min_epochs", -1),
        ("trainer.max_steps", 0),
        ("trainer.limit_train_batches", 1.5),
        ("trainer.limit_val_batches", -1),
        ("trainer.limit_test_batches", "all"),
        ("trainer.accumulate_grad_batches", 0),
        ("trainer.log_every_n_steps", 0),
        ("trainer.precision", "16-bit"),
        ("trainer.precision", 16.0),
        ("trainer.gradient_clip_val", -1.0),
        ("model.net.dropout", 1.0),
        ("model.net.head.dropout", -0.1),
        ("model.net.dropout", "high"),
        ("optimizer.lr", 0),
        ("optimizer.lr", float("nan")),
        ("optimizer.weight_decay", -0.01),
        ("time_budget", 0),
        ("time_budget", "1h"),
        ("max_requeues", -1),
        ("max_requeues", 2.5),
    ],
)
def test_a_bad_value_is_named_with_its_key_and_a_valid_choice(key: str, bad: Any) -> None:
    (problem,) = problems(config(**{key: bad}))
    assert problem.startswith(f"{key}={bad!r} must be ") and f", e.g. {key}=" in problem


@pytest.mark.parametrize(
    ("key", "good"),
    [
        ("data.loader.eval_batch_size", None),
        ("data.val_ratio", 0),
        ("data.channels", 1),
        ("trainer.max_epochs", None),
        ("trainer.limit_val_batches", 0),
        ("trainer.limit_val_batches", 0.25),
        ("trainer.limit_train_batches", 10),
        ("trainer.precision", 16),
        ("trainer.precision", "bf16-mixed"),
        ("trainer.gradient_clip_val", None),
        ("trainer.gradient_clip_val", 0.5),
        ("model.net.dropout", 0.0),
        ("optimizer.lr", 3e-4),
        ("max_requeues", 0),
        ("max_requeues", None),
    ],
)
def test_a_valid_value_passes(key: str, good: Any) -> None:
    check_config(config(**{key: good}))


def test_every_problem_is_listed_on_its_own_line() -> None:
    values = {"data.loader.batch_size": 0, "model.net.dropout": 1.5, "optimizer.lr": -1, "data.channels": 3}
    cfg = config(**values)
    assert problems(cfg) == [
        "data.loader.batch_size=0 must be a positive integer, e.g. data.loader.batch_size=64",
        "model.net.dropout=1.5 must be a number in [0, 1), e.g. model.net.dropout=0.1",
        "optimizer.lr=-1 must be a number > 0, e.g. optimizer.lr=0.001",
    ]


def test_every_lightning_precision_is_accepted_and_nothing_else() -> None:
    from lightning.fabric.connector import _PRECISION_INPUT

    def literals(hint: Any) -> list[Any]:
        args = typing.get_args(hint)
        return [value for arg in args for value in literals(arg)] if args else [hint]

    # Types too: Literal[16] and Literal["16"] are different choices.
    assert {(type(p), p) for p in PRECISIONS} == {(type(p), p) for p in literals(_PRECISION_INPUT)}


def test_no_epoch_limit_needs_a_step_limit() -> None:
    (problem,) = problems(config(**{"trainer.max_epochs": -1, "trainer.max_steps": -1}))
    assert problem.startswith("trainer.max_epochs=-1 (no limit) needs trainer.max_steps > 0")
    check_config(config(**{"trainer.max_epochs": -1, "trainer.max_steps": 1000}))


def test_interpolated_values_are_checked_once_resolved() -> None:
    cfg = config(**{"model.net.dropout": "${tuning.dropout}", "tuning.dropout": 1.5})
    assert problems(cfg) == ["model.net.dropout=1.5 must be a number in [0, 1), e.g. model.net.dropout=0.1"]


def test_an_interpolation_that_fails_names_its_key_and_its_reference() -> None:
    cfg = config(**{"model.net.in_channels": "${data.channel}", "data.channels": 3})
    (problem,) = problems(cfg)
    assert problem.startswith("model.net.in_channels=${data.channel} cannot be resolved")
    assert "data.channel" in problem.split("resolved", 1)[1]


def test_a_missing_value_says_how_to_set_it(compose_config: Callable[..., DictConfig]) -> None:
    cfg = compose_config(["experiment=csv_cnn"])
    with open_dict(cfg):
        cfg.data.csv_path = "???"  # the fixture points it at a small dataset
    assert problems(cfg) == [
        "data.csv_path has no value (???); set it on the command line, e.g. data.csv_path=/path/to/labels.csv"
    ]


def test_eval_without_a_checkpoint_says_where_checkpoints_are(
    compose_config: Callable[..., DictConfig],
) -> None:
    (problem,) = problems(compose_config(config_name="eval", fast=False))
    assert problem.endswith("e.g. ckpt_path=logs/train/runs/<run>/checkpoints/best.ckpt")


def test_a_missing_value_is_reported_once_however_many_keys_refer_to_it() -> None:
    cfg = config(**{"data.num_classes": "???", "model.num_classes": "${data.num_classes}"})
    assert problems(cfg) == [
        "data.num_classes has no value (???); set it on the command line, e.g. data.num_classes=<value>"
    ]


def test_the_hydra_subtree_is_left_to_hydra() -> None:
    check_config(config(**{"hydra.job.name": "???", "hydra.run.dir": "${new_dir:somewhere}", "seed": 1}))


@pytest.mark.parametrize(
    "make", [lambda tmp: tmp / "no-such.ckpt", lambda tmp: tmp], ids=["missing", "folder"]
)
def test_ckpt_path_must_be_a_checkpoint_file(tmp_path: Path, make: Callable[[Path], Path]) -> None:
    (problem,) = problems(config(ckpt_path=str(make(tmp_path))))
    assert problem.startswith(f"ckpt_path={make(tmp_path)} ")
    assert "logs/train/runs/<run>/checkpoints/ (best.ckpt or last.ckpt)" in problem


def test_a_null_ckpt_path_means_start_afresh() -> None:
    check_config(config(ckpt_path=None))


@pytest.mark.slow  # a fresh interpreter: this one has torch loaded already
def test_checking_a_config_does_not_load_torch() -> None:
    code = (
        "import sys; from omegaconf import OmegaConf; "
        "from lightning_hydra_template.config.checks import check_config; "
        "check_config(OmegaConf.create({'trainer': {'precision': '32-true'}})); "
        "sys.exit('torch' in sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
