"""Cross-entropy: label smoothing and class weights, checked against the formula worked by hand."""

import math

import pytest
import torch

from lightning_hydra_template.errors import ConfigError
from lightning_hydra_template.loss.cross_entropy import CrossEntropy

# Two images, three classes. Softmax of [ln 1, ln 2, ln 1] is [1/4, 1/2, 1/4]; of [0, 0, 0] a third each.
LOGITS = torch.tensor([[0.0, math.log(2.0), 0.0], [0.0, 0.0, 0.0]])
LABELS = torch.tensor([1, 2])


def test_plain_cross_entropy_is_the_mean_negative_log_probability_of_the_label():
    expected = (-math.log(1 / 2) - math.log(1 / 3)) / 2
    assert CrossEntropy()(LOGITS, LABELS).item() == pytest.approx(expected)


def test_label_smoothing_spreads_eps_over_all_classes():
    eps = 0.3
    # target = (1 - eps) one_hot + eps / 3: for image 0 [0.1, 0.8, 0.1], image 1 [0.1, 0.1, 0.8]
    image0 = -(0.1 * math.log(1 / 4) + 0.8 * math.log(1 / 2) + 0.1 * math.log(1 / 4))
    image1 = -math.log(1 / 3)  # the targets sum to 1 and every probability is a third
    assert CrossEntropy(label_smoothing=eps)(LOGITS, LABELS).item() == pytest.approx((image0 + image1) / 2)


def test_class_weights_weigh_each_image_by_its_labels_weight():
    weights = [1.0, 3.0, 1.0]
    # torch's weighted mean: sum of w_y * loss over sum of w_y
    expected = (3.0 * -math.log(1 / 2) + 1.0 * -math.log(1 / 3)) / (3.0 + 1.0)
    assert CrossEntropy(class_weights=weights)(LOGITS, LABELS).item() == pytest.approx(expected)


def test_probability_targets_from_mixup_are_taken_as_they_are():
    targets = torch.tensor([[0.0, 0.6, 0.4], [0.5, 0.0, 0.5]])
    image0 = -(0.6 * math.log(1 / 2) + 0.4 * math.log(1 / 4))
    image1 = -math.log(1 / 3)
    assert CrossEntropy()(LOGITS, targets).item() == pytest.approx((image0 + image1) / 2)


def test_a_smoothing_outside_zero_to_one_is_a_config_error():
    with pytest.raises(ConfigError, match=r"loss.label_smoothing must be in \[0, 1\)"):
        CrossEntropy(label_smoothing=1.5)


def test_class_weights_other_than_a_list_are_a_config_error():
    with pytest.raises(ConfigError, match="loss.class_weights='balanced': use auto"):
        CrossEntropy(class_weights="balanced")
