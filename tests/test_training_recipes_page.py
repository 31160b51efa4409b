"""Every command in docs/training_recipes.md composes, and its data, loss, model and callbacks build."""

import shlex

import pytest

from lightning_hydra_template.config.builders import build_datamodule, build_each, build_model
from lightning_hydra_template.config.project import PROJECT_ROOT

PAGE = PROJECT_ROOT / "docs" / "training_recipes.md"


def commands(script: str) -> list[list[str]]:
    """The overrides of each `python <script> ...` line in the page's bash blocks."""
    found, in_block = [], False
    for line in PAGE.read_text().splitlines():
        if line.startswith("```"):
            in_block = line == "```bash"
            continue
        words = shlex.split(line.split("#")[0]) if in_block else []
        if words[:2] == ["python", script]:
            found.append(words[2:])
    return found


def test_the_page_shows_commands():
    assert len(commands("train.py")) >= 8 and commands("predict.py")


@pytest.mark.parametrize("overrides", commands("train.py"), ids=" ".join)
def test_each_training_command_builds(compose_config, overrides):
    cfg = compose_config(overrides)
    datamodule = build_datamodule(cfg)
    model = build_model(cfg, datamodule)
    build_each(cfg.callbacks)
    assert model.net is not None


@pytest.mark.parametrize("overrides", commands("predict.py"), ids=" ".join)
def test_each_predict_command_composes(compose_config, overrides):
    cfg = compose_config(overrides, config_name="predict", fast=False)
    assert cfg.ckpt_path and cfg.input
