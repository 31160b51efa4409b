"""Focal loss: -(1 - p_y)^gamma log p_y per image, checked against the formula worked by hand."""

import math

import pytest
import torch

from lightning_hydra_template.errors import ConfigError
from lightning_hydra_template.loss.cross_entropy import CrossEntropy
from lightning_hydra_template.loss.focal import FocalLoss

LOGITS = torch.tensor([[0.0, math.log(2.0), 0.0], [0.0, 0.0, 0.0]])  # p: [1/4, 1/2, 1/4], [1/3] * 3
LABELS = torch.tensor([1, 2])


def test_focal_loss_scales_each_images_loss_by_one_minus_p_to_the_gamma():
    image0 = (1 - 1 / 2) ** 2 * -math.log(1 / 2)
    image1 = (1 - 1 / 3) ** 2 * -math.log(1 / 3)
    assert FocalLoss(gamma=2.0)(LOGITS, LABELS).item() == pytest.approx((image0 + image1) / 2)


def test_gamma_zero_is_cross_entropy():
    assert FocalLoss(gamma=0.0)(LOGITS, LABELS).item() == pytest.approx(CrossEntropy()(LOGITS, LABELS).item())


def test_class_weights_multiply_each_images_term():
    image0 = 3.0 * (1 - 1 / 2) ** 2 * -math.log(1 / 2)
    image1 = 1.0 * (1 - 1 / 3) ** 2 * -math.log(1 / 3)
    loss = FocalLoss(gamma=2.0, class_weights=[1.0, 3.0, 1.0])(LOGITS, LABELS)
    assert loss.item() == pytest.approx((image0 + image1) / 2)


def test_probability_targets_sum_the_focal_terms_of_each_class():
    targets = torch.tensor([[0.0, 0.6, 0.4], [0.0, 0.0, 1.0]])
    image0 = 0.6 * (1 / 2) ** 1 * -math.log(1 / 2) + 0.4 * (3 / 4) ** 1 * -math.log(1 / 4)
    image1 = (2 / 3) * -math.log(1 / 3)
    assert FocalLoss(gamma=1.0)(LOGITS, targets).item() == pytest.approx((image0 + image1) / 2)


def test_a_negative_gamma_is_a_config_error():
    with pytest.raises(ConfigError, match="loss.gamma must be >= 0"):
        FocalLoss(gamma=-1.0)
