"""The DataLoader and augmentation keys moved under `data.loader` / `data.augment`: an old key typed
is one line naming the new one; a run recorded with the old keys resumes, evaluates and exports."""

import dataclasses
from pathlib import Path

import pytest
import torch
from hydra import initialize_config_dir
from omegaconf import DictConfig, OmegaConf

from lightning_hydra_template.checkpoints.run_overrides import CHECKPOINT_KEY
from lightning_hydra_template.config.builders import build
from lightning_hydra_template.config.moved_keys import (
    MOVED,
    NODES,
    MovedKey,
    refuse_moved_keys,
    renamed_overrides,
    with_moved_keys,
)
from lightning_hydra_template.config.project import CONFIG_DIR
from lightning_hydra_template.config.target_checks import check_targets
from lightning_hydra_template.data.augment_options import AugmentOptions
from lightning_hydra_template.data.loader_options import LoaderOptions
from lightning_hydra_template.errors import ConfigError
from lightning_hydra_template.run.resume import check_resume_changes, replayed_config
from lightning_hydra_template.tasks.evaluate import with_run_config

from ..helpers import run

# How runs before the move were started and recorded (the checkpoints hold these strings).
OLD = ["experiment=mlp", "data.batch_size=32", "data.crop_padding=2", "data.mixup_alpha=0.2"]
NEW = [
    "experiment=mlp",
    "data.loader.batch_size=32",
    "data.augment.crop_padding=2",
    "data.augment.mixup_alpha=0.2",
]


def test_the_table_holds_every_option_of_both_nodes_and_only_those():
    assert MOVED["data.batch_size"] == "data.loader.batch_size"
    assert MOVED["data.stream_transforms"] == "data.augment.stream_transforms"
    fields = {f.name for made in (LoaderOptions, AugmentOptions) for f in dataclasses.fields(made)}
    assert {old.removeprefix("data.") for old in MOVED} == fields
    assert {new.rsplit(".", 1)[0] for new in MOVED.values()} == set(NODES)


@pytest.mark.parametrize("data", ["fashion_mnist", "mnist", "kmnist", "csv_images", "image_folder"])
def test_every_data_config_holds_the_options_in_their_nodes_only(compose_config, data):
    overrides = [f"data={data}"] + (["data.root=/images"] if data == "image_folder" else [])
    cfg = compose_config(overrides)
    assert not {old.removeprefix("data.") for old in MOVED} & set(cfg.data)
    assert isinstance(build(cfg.data.loader), LoaderOptions)
    assert isinstance(build(cfg.data.augment), AugmentOptions)


@pytest.mark.parametrize(
    ("arguments", "line"),
    [
        (
            ["data.batch_size=32"],
            "data.batch_size is now data.loader.batch_size: write data.loader.batch_size=32",
        ),
        (
            ["-m", "+data.crop_padding=2,4", "--cfg", "job"],
            "data.crop_padding is now data.augment.crop_padding: write +data.augment.crop_padding=2,4",
        ),
        (["~data.on_device"], "data.on_device is now data.loader.on_device: write ~data.loader.on_device"),
    ],
)
def test_an_old_key_typed_is_one_line_naming_the_new_one(arguments, line):
    with pytest.raises(MovedKey) as stopped:
        refuse_moved_keys(arguments)
    assert stopped.value.code == line


def test_todays_keys_and_hydras_flags_pass():
    refuse_moved_keys(["-m", "--cfg", "job", *NEW, "data.image_size=32", "hydra.run.dir=/a b"])


def test_train_py_stops_on_an_old_key_with_that_line_and_no_traceback():
    result = run("train.py", "experiment=cnn", "data.batch_size=32")
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "data.batch_size is now data.loader.batch_size: write data.loader.batch_size=32"
    )


def test_recorded_overrides_are_read_in_the_new_keys():
    assert renamed_overrides([*OLD, "trainer.max_epochs=3"]) == [*NEW, "trainer.max_epochs=3"]
    assert renamed_overrides(["+data.pin_memory=true", "~data.transforms"]) == [
        "+data.loader.pin_memory=true",
        "~data.augment.transforms",
    ]
    assert renamed_overrides(NEW) == NEW


def lightning_checkpoint(path: Path, overrides: list[str]) -> Path:
    """A checkpoint file as training writes it, its recorded overrides `overrides`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"epoch": 0, "global_step": 7, "state_dict": {}, CHECKPOINT_KEY: overrides}, path)
    return path


def test_a_checkpoint_recorded_with_the_old_keys_resumes_with_them_moved(compose_config, tmp_path):
    checkpoint = lightning_checkpoint(tmp_path / "copied" / "last.ckpt", OLD)
    given = [f"ckpt_path={checkpoint}"]
    cfg = compose_config(given)
    with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
        replayed, run_cfg = replayed_config(cfg, tmp_path / "resumed", given, "train")
    for config in (replayed, run_cfg):
        assert config.data.loader.batch_size == 32 and config.data.augment.crop_padding == 2
        assert config.data.augment.mixup_alpha == 0.2 and "batch_size" not in config.data
    assert replayed.model.net._target_.endswith("MLP")  # the experiment replayed too
    # The same batch size in the middle of an epoch: the resume goes on.
    check_resume_changes(run_cfg, replayed, {"epoch_finished": False, "global_step": 7})


def old_layout(cfg: DictConfig) -> DictConfig:
    """`cfg` as a run before the move saved it in `.hydra/config.yaml`: the options flat in `data`."""
    saved = OmegaConf.to_container(cfg, resolve=False)
    saved.pop("hydra", None)
    for node in ("loader", "augment"):
        saved["data"].update({k: v for k, v in saved["data"].pop(node).items() if k != "_target_"})
    return OmegaConf.create(saved)


def test_an_old_run_folders_saved_config_evaluates_with_the_options_moved(compose_config, tmp_path):
    trained = compose_config(["experiment=cnn_reference", "data.loader.batch_size=48"])
    run_dir = tmp_path / "old_run"
    (run_dir / ".hydra").mkdir(parents=True)
    (run_dir / ".hydra" / "config.yaml").write_text(OmegaConf.to_yaml(old_layout(trained)))
    assert OmegaConf.load(run_dir / ".hydra" / "config.yaml").data.batch_size == 48  # the old layout
    checkpoint = lightning_checkpoint(run_dir / "checkpoints" / "best.ckpt", [])
    given = ["data.loader.eval_batch_size=500"]
    cfg = compose_config([f"ckpt_path={checkpoint}", *given], config_name="eval", fast=False)

    cfg = with_run_config(cfg, checkpoint, [o.split("=")[0] for o in given], None)
    datamodule = build(cfg.data)
    assert (datamodule.batch_size, datamodule.eval_batch_size) == (48, 500)  # the run's, then the key given
    assert datamodule.preprocess.crop_padding == 2  # experiment=cnn_reference's random crop


def test_a_checkpoint_alone_with_the_old_keys_evaluates_with_them_moved(compose_config, tmp_path):
    checkpoint = lightning_checkpoint(tmp_path / "alone" / "best.ckpt", OLD)
    cfg = compose_config([f"ckpt_path={checkpoint}"], config_name="eval", fast=False)
    with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
        cfg = with_run_config(cfg, checkpoint, ["ckpt_path"], OLD)
    assert cfg.data.loader.batch_size == 32 and cfg.data.augment.mixup_alpha == 0.2
    assert cfg.model.net._target_.endswith("MLP")


def test_a_saved_config_in_todays_keys_is_left_as_it_is(compose_config):
    cfg = compose_config(["experiment=cnn"])
    before = OmegaConf.to_container(cfg, resolve=False)
    assert OmegaConf.to_container(with_moved_keys(cfg), resolve=False) == before


@pytest.mark.slow
def test_a_checkpoint_of_a_run_before_the_move_evaluates_and_resumes_from_the_command_line(
    fake_data_dir, tmp_path
):
    training = ["experiment=mlp", "debug=fast", "data.val_size=100", "data.loader.batch_size=16"]
    result = run("train.py", *training, f"hydra.run.dir={tmp_path / 'train'}", data_dir=fake_data_dir)
    assert result.returncode == 0, result.stderr[-3000:]
    # The same checkpoints as a run before the move recorded them: data.batch_size=16.
    old = tmp_path / "before_the_move"
    old.mkdir()
    for name in ("best.ckpt", "last.ckpt"):
        checkpoint = torch.load(tmp_path / "train" / "checkpoints" / name, weights_only=True)
        checkpoint[CHECKPOINT_KEY] = [o.replace("data.loader.", "data.") for o in training]
        torch.save(checkpoint, old / name)
    assert "data.batch_size=16" in torch.load(old / "best.ckpt", weights_only=True)[CHECKPOINT_KEY]

    result = run("eval.py", f"ckpt_path={old / 'best.ckpt'}", f"hydra.run.dir={tmp_path / 'eval'}",
                 data_dir=fake_data_dir)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    result = run("train.py", f"ckpt_path={old / 'last.ckpt'}", "trainer.max_epochs=2",
                 f"paths.log_dir={tmp_path / 'logs'}", data_dir=fake_data_dir)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    [resumed] = (tmp_path / "logs" / "train" / "runs").iterdir()
    assert OmegaConf.load(resumed / "resolved_config.yaml").data.loader.batch_size == 16
    assert "data.loader.batch_size=16" in (resumed / ".hydra" / "overrides.yaml").read_text()


def test_an_experiment_written_with_an_old_key_is_told_where_it_moved(compose_config):
    cfg = compose_config(["+data.batch_size=32", "+data.crop_padding=2"])  # as an old experiment's `data:`
    with pytest.raises(ConfigError) as error:
        check_targets(cfg)
    message = str(error.value)
    assert "data.batch_size is now data.loader.batch_size: move it there in your config" in message
    assert "data.crop_padding is now data.augment.crop_padding: move it there in your config" in message
