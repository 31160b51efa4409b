"""Class weights: `auto` is N / (K * n_k) of the training split, derived once by the builder."""

import pytest
import torch

from lightning_hydra_template.config.builders import build_datamodule, build_model
from lightning_hydra_template.errors import ConfigError
from lightning_hydra_template.loss.class_weights import balanced_class_weights, check_class_weights


def test_balanced_weights_make_every_class_weigh_the_same_in_total():
    counts = torch.tensor([112, 79, 100])  # e.g. dandelion, daisy, tulip
    weights = balanced_class_weights(counts, ["dandelion", "daisy", "tulip"])
    assert weights == pytest.approx([291 / (3 * 112), 291 / (3 * 79), 291 / (3 * 100)])
    assert [w * n for w, n in zip(weights, counts.tolist())] == pytest.approx([97.0] * 3)


def test_a_class_without_training_images_is_named_in_the_error():
    with pytest.raises(ConfigError, match=r"no images of \['daisy'\]"):
        balanced_class_weights(torch.tensor([3, 0]), ["dandelion", "daisy"])


def test_a_list_of_the_wrong_length_is_a_config_error():
    with pytest.raises(ConfigError, match="loss.class_weights lists 2 weights .* for 3 classes"):
        check_class_weights([1.0, 2.0], 3)


def test_auto_weights_come_from_the_training_split_and_reach_the_checkpointed_config(compose_config):
    cfg = compose_config(["loss.class_weights=auto"])
    datamodule = build_datamodule(cfg)
    model = build_model(cfg, datamodule)

    counts = torch.bincount(datamodule.datasets["train"].labels, minlength=10)
    expected = (counts.sum() / (10 * counts)).tolist()
    assert list(cfg.loss.class_weights) == pytest.approx(expected)  # resolved in the config, once
    assert model.loss.class_weights.tolist() == pytest.approx(expected)
    assert model.hparams.loss["class_weights"] == pytest.approx(expected)  # what checkpoints rebuild


@pytest.mark.parametrize("option", ["cross_entropy", "focal"])
def test_each_loss_option_reaches_the_model(compose_config, option):
    cfg = compose_config([f"loss={option}", "loss.class_weights=[1,1,1,1,1,1,1,1,1,2]"])
    model = build_model(cfg, build_datamodule(cfg))
    assert type(model.loss).__name__ == {"cross_entropy": "CrossEntropy", "focal": "FocalLoss"}[option]
    assert model.loss.class_weights[-1] == 2.0


def test_a_weight_list_of_the_wrong_length_stops_the_build(compose_config):
    cfg = compose_config(["loss.class_weights=[1,2]"])
    with pytest.raises(ConfigError, match="for 10 classes"):
        build_model(cfg, build_datamodule(cfg))
