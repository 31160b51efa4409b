"""configs/debug/: each preset runs and does what it says."""

import math

import pytest

from lightning_hydra_template.tasks.train import train

MLP = ["experiment=mlp", "model.net.hidden_sizes=[32]"]


def test_fdr_runs_one_batch_of_each_stage(compose_config):
    summary = train(compose_config([*MLP, "debug=fdr"], fast=False))
    assert summary["status"] == "completed" and summary["global_step"] == 1
    assert "test/acc" in summary["metrics"]


@pytest.mark.slow
def test_overfit_drives_the_training_loss_near_zero_on_a_few_fixed_batches(compose_config):
    overrides = ["debug=overfit", "trainer.max_epochs=40", "data.loader.batch_size=32"]
    cfg = compose_config([*MLP, *overrides], fast=False)
    summary = train(cfg)
    assert summary["global_step"] == 4 * 40
    assert summary["metrics"]["train/loss"] < 0.05 and summary["metrics"]["train/acc"] == 1.0


def test_limit_takes_a_tenth_of_every_split(compose_config):
    overrides = ["debug=limit", "data.loader.batch_size=10", "data.loader.eval_batch_size=10"]
    cfg = compose_config([*MLP, *overrides], fast=False)
    summary = train(cfg)
    train_batches = math.ceil(300 / 10)  # 400 fake training images, 100 of them for validation
    assert summary["epochs"] == 3 and summary["global_step"] == 3 * int(0.1 * train_batches)


def test_profile_writes_where_the_time_went_into_the_run_folder(compose_config, tmp_path):
    cfg = compose_config([*MLP, "debug=profile", "trainer.limit_train_batches=3"], fast=False)
    summary = train(cfg)
    report = (tmp_path / "train" / "fit-profile.txt").read_text()
    assert summary["status"] == "completed" and "run_training_epoch" in report
