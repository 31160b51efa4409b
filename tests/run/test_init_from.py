"""init_from=<checkpoint>: a new run starts from an earlier run's network, matching tensors only."""

import pytest
import torch

from lightning_hydra_template.errors import ConfigError
from lightning_hydra_template.run.init_from import initialise_from
from lightning_hydra_template.tasks.train import train

CNN = ["experiment=cnn", "model.net.channels=[8,16]", "model.net.hidden_size=16"]


@pytest.fixture
def fashion_checkpoint(compose_config) -> str:
    """A CNN trained on the (fake) 10 FashionMNIST classes, 1 channel."""
    return train(compose_config(CNN))["best_checkpoint"]


def test_a_new_run_on_other_classes_starts_from_the_features_with_a_fresh_head(
    compose_config, fashion_checkpoint, caplog
):
    """Your own 3 classes in RGB: the first convolution and the head do not fit, the rest is copied."""
    cfg = compose_config([*CNN, "data=csv_images", "data.image_size=28", f"init_from={fashion_checkpoint}"])

    summary = train(cfg)

    assert summary["status"] == "completed" and summary["epochs"] == 1  # debug=fast: epoch 0 only
    assert "resumed_from" not in summary  # a new run, with a fresh optimizer
    assert "init_from" in caplog.text and "keep their fresh initialisation" in caplog.text
    assert "net.head.5.weight (10, 16) -> (3, 16)" in caplog.text
    assert "net.features.0.0.weight (8, 1, 3, 3) -> (8, 3, 3, 3)" in caplog.text


def test_the_copied_tensors_are_the_earlier_runs_and_the_report_says_what_was_skipped(
    compose_config, fashion_checkpoint
):
    from lightning_hydra_template.config.builders import build_datamodule, build_model

    earlier = torch.load(fashion_checkpoint, weights_only=True)["state_dict"]
    cfg = compose_config([*CNN, "data=csv_images", "data.channels=1", "data.image_size=28"])
    build_datamodule(cfg)
    model = build_model(cfg)

    report = initialise_from(model, fashion_checkpoint)

    state = model.state_dict()
    assert report["reshaped"] == ["net.head.5.weight (10, 16) -> (3, 16)", "net.head.5.bias (10,) -> (3,)"]
    assert all(torch.equal(state[name], earlier[name]) for name in report["copied"])
    assert "net.features.0.0.weight" in report["copied"] and not report["missing"]


def test_a_checkpoint_of_another_network_is_refused_in_one_line(compose_config, fashion_checkpoint):
    from lightning_hydra_template.config.builders import build_datamodule, build_model

    cfg = compose_config(["experiment=mlp"])
    build_datamodule(cfg)
    with pytest.raises(ConfigError, match="shares no tensor"):
        initialise_from(build_model(cfg), fashion_checkpoint)
