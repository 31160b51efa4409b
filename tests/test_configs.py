"""Every option of every config group composes, matches its target's signature, and builds."""

import importlib
import inspect

import pytest
from omegaconf import OmegaConf

from lightning_hydra_template.config.builders import build, build_datamodule, build_each
from lightning_hydra_template.config.project import CONFIG_DIR

from .helpers import config_options


def targets(node, path="") -> list[tuple[str, dict]]:
    """Every `_target_` node in a config, with its path."""
    found = []
    if isinstance(node, dict):
        if "_target_" in node:
            found.append((path, node))
        for key, value in node.items():
            found += targets(value, f"{path}.{key}".strip("."))
    return found


def assert_matches_signature(path: str, node: dict) -> None:
    module, _, name = node["_target_"].rpartition(".")
    target = getattr(importlib.import_module(module), name)
    parameters = inspect.signature(target).parameters
    if any(p.kind is p.VAR_KEYWORD for p in parameters.values()):
        return
    unknown = {k for k in node if not k.startswith("_")} - set(parameters)
    assert not unknown, f"{path}: {node['_target_']} takes no {sorted(unknown)}"


@pytest.mark.parametrize("experiment", config_options("experiment"))
def test_experiments_compose_and_build(compose_config, experiment, resnet18_weights):
    cfg = compose_config([f"experiment={experiment}"])
    if "weights" in cfg.model.net:  # pretrained: the local file stands in for the download
        cfg = compose_config([f"experiment={experiment}", f"model.net.weights={resnet18_weights}"])
    for path, node in targets(OmegaConf.to_container(cfg, resolve=True)):
        if not path.startswith("hydra"):
            assert_matches_signature(path, node)
    datamodule = build_datamodule(cfg)
    model = build(
        cfg.model, optimizer=build(cfg.optimizer), scheduler=build(cfg.scheduler) if cfg.scheduler else None
    )
    assert model.net is not None and datamodule.batch_size == cfg.data.loader.batch_size


GROUPS = [
    "data",
    "model",
    "loss",
    "optimizer",
    "scheduler",
    "trainer",
    "callbacks",
    "logger",
    "debug",
    "hparams_search",
]


@pytest.mark.parametrize(("group", "option"), [(g, o) for g in GROUPS for o in config_options(g)])
def test_every_group_option_composes_and_matches_its_targets(compose_config, group, option):
    cfg = compose_config([f"{group}={option}"])
    nodes = [
        (p, n) for p, n in targets(OmegaConf.to_container(cfg, resolve=True)) if not p.startswith("hydra")
    ]
    assert nodes
    for path, node in nodes:
        assert_matches_signature(path, node)


@pytest.mark.parametrize("option", config_options("optimizer"))
def test_optimizers_build_as_partials(compose_config, option):
    cfg = compose_config([f"optimizer={option}"])
    import torch

    optimizer = build(cfg.optimizer)([torch.nn.Parameter(torch.zeros(2))])
    assert optimizer.defaults["lr"] == cfg.optimizer.lr


@pytest.mark.parametrize("option", ["default", "cpu"])
def test_cpu_trainers_build_with_callbacks_and_loggers(compose_config, option):
    cfg = compose_config([f"trainer={option}", "logger=tensorboard_csv", "callbacks=default"], fast=False)
    trainer = build(cfg.trainer, callbacks=build_each(cfg.callbacks), logger=build_each(cfg.logger))
    assert {type(logger).__name__ for logger in trainer.loggers} == {"TensorBoardLogger", "CSVLogger"}
    assert trainer.checkpoint_callback.monitor == "val/acc"


def test_data_dir_comes_from_the_environment(monkeypatch, tmp_path):
    from hydra import compose, initialize_config_dir

    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
        cfg = compose("train")
    assert cfg.data.data_dir == str(tmp_path)


def test_early_stopping_can_be_added_to_the_default_callbacks(compose_config):
    cfg = compose_config(["+callbacks@callbacks.early_stopping=early_stopping"])
    callbacks = build_each(cfg.callbacks)
    assert {type(c).__name__ for c in callbacks} >= {"EarlyStopping", "RunCheckpoint"}


def test_slurm_launcher_starts_one_task_per_device(compose_config):
    gpus = ["trainer=ddp", "trainer.accelerator=gpu", "trainer.devices=4", "trainer.num_nodes=2"]
    cfg = compose_config(["hydra/launcher=slurm", *gpus])
    launcher = OmegaConf.to_container(cfg.hydra.launcher, resolve=True)
    assert launcher["_target_"].endswith("SlurmLauncher")
    assert (launcher["nodes"], launcher["tasks_per_node"], launcher["gpus_per_node"]) == (2, 4, 4)
    assert launcher["max_num_timeout"] > 0  # preempted or timed-out jobs are requeued


@pytest.mark.parametrize("trainer", config_options("trainer"))
def test_every_trainer_config_can_be_submitted_to_slurm(compose_config, trainer):
    cfg = compose_config(["hydra/launcher=slurm", f"trainer={trainer}", "trainer.devices=2"], fast=False)
    launcher = OmegaConf.to_container(cfg.hydra.launcher, resolve=True)
    gpus = 0 if cfg.trainer.accelerator in ("cpu", "mps") else 2
    assert (launcher["nodes"], launcher["tasks_per_node"], launcher["gpus_per_node"]) == (1, 2, gpus)


def test_a_device_count_slurm_cannot_ask_for_is_one_line_naming_the_key(compose_config):
    cfg = compose_config(["hydra/launcher=slurm", "trainer=ddp"], fast=False)  # devices: auto
    with pytest.raises(SystemExit, match=r"trainer.devices=auto: .* trainer.devices=4"):
        OmegaConf.to_container(cfg.hydra.launcher, resolve=True)
