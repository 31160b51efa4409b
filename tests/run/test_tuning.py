"""tune=lr / tune=batch_size: Lightning's Tuner before training; its answer saved, printed and used."""

import json
import logging
from pathlib import Path

import pytest
import torch
import yaml

from lightning_hydra_template.errors import ConfigError
from lightning_hydra_template.tasks.train import train

TINY = [
    "experiment=mlp",
    "model.net.hidden_sizes=[16]",
    "data.loader.batch_size=8",
    "trainer.limit_train_batches=30",
]


def trained_with(checkpoint: str) -> dict:
    """The learning rate the run's schedule started from, and the overrides a checkpoint recorded."""
    saved = torch.load(checkpoint, weights_only=True)
    lr = saved["optimizer_states"][0]["param_groups"][0]["initial_lr"]  # experiment=mlp: cosine from it
    return {"lr": lr, "overrides": saved["run_overrides"]}


def test_the_lr_finder_runs_first_and_the_run_trains_with_its_suggestion(compose_config, caplog):
    caplog.set_level(logging.INFO, logger="lightning_hydra_template")
    summary = train(compose_config([*TINY, "tune=lr", "tune.options.num_training=25"]))
    run_dir = Path(summary["run_dir"])
    record = json.loads((run_dir / "tune.json").read_text())
    suggestion = record["suggestion"]
    assert record["applied"] and record["configured"] == 1e-3 and 1e-6 <= suggestion <= 1.0
    assert len(record["curve"]["lr"]) == len(record["curve"]["loss"]) > 11
    assert (run_dir / "lr_find.png").stat().st_size > 0
    assert (
        f"Tuner: optimizer.lr={suggestion} (configured: 0.001), plot in {run_dir / 'lr_find.png'}"
        in caplog.text
    )
    # Trained with it, recorded where the run's value is looked up, and replayed instead of searched.
    assert summary["tuned"] == f"optimizer.lr={suggestion}"
    assert yaml.safe_load((run_dir / "resolved_config.yaml").read_text())["optimizer"]["lr"] == suggestion
    checkpoint = trained_with(summary["best_checkpoint"])
    assert (
        checkpoint["lr"] == pytest.approx(suggestion)
        and f"optimizer.lr={suggestion}" in checkpoint["overrides"]
    )


def test_told_not_to_apply_the_run_keeps_its_configured_learning_rate(compose_config, caplog):
    caplog.set_level(logging.INFO, logger="lightning_hydra_template")
    summary = train(compose_config([*TINY, "tune=lr", "tune.options.num_training=25", "tune.apply=false"]))
    record = json.loads((Path(summary["run_dir"]) / "tune.json").read_text())
    assert record["suggestion"] is not None and not record["applied"] and "tuned" not in summary
    assert trained_with(summary["best_checkpoint"])["lr"] == pytest.approx(1e-3)
    assert "tune.apply=false: training with 0.001" in caplog.text


def test_the_batch_size_finder_doubles_and_the_run_trains_with_the_largest(compose_config):
    overrides = [*TINY, "tune=batch_size", "tune.options.max_trials=2", "tune.options.steps_per_trial=1"]
    summary = train(compose_config(overrides))
    run_dir = Path(summary["run_dir"])
    record = json.loads((run_dir / "tune.json").read_text())
    assert (record["configured"], record["suggestion"], record["applied"]) == (8, 16, True)  # 2 trials: 8, 16
    resolved = yaml.safe_load((run_dir / "resolved_config.yaml").read_text())
    assert resolved["data"]["loader"]["batch_size"] == 16
    assert summary["tuned"] == "data.loader.batch_size=16"


def test_an_unknown_tuning_mode_names_the_key(compose_config):
    with pytest.raises(ConfigError, match="tune.mode=momentum is not one of lr, batch_size"):
        train(compose_config([*TINY, "tune=lr", "tune.mode=momentum"]))


def test_a_resumed_run_takes_the_value_its_first_start_found(compose_config, caplog):
    caplog.set_level(logging.INFO, logger="lightning_hydra_template")
    tuned = [*TINY, "tune=lr", "tune.options.num_training=25"]
    first = train(compose_config(tuned))
    record = json.loads((Path(first["run_dir"]) / "tune.json").read_text())
    last = Path(first["run_dir"]) / "checkpoints" / "last.ckpt"
    resumed = train(compose_config([*tuned, f"ckpt_path={last}", "trainer.max_epochs=2"]))
    assert resumed["run_dir"] == first["run_dir"] and resumed["epochs"] == 2
    assert f"Resuming: not tuning again; optimizer.lr={record['suggestion']}" in caplog.text
    assert json.loads((Path(first["run_dir"]) / "tune.json").read_text()) == record  # no second search
    assert trained_with(str(last))["lr"] == pytest.approx(record["suggestion"])
