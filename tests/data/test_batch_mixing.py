"""Mixup and cutmix: shapes, images blended in the shares the labels say, training batches only."""

from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F

from lightning_hydra_template.data.augment_options import AugmentOptions
from lightning_hydra_template.data.batch_mixing import BatchMixing, batch_mixing
from lightning_hydra_template.errors import ConfigError

from ..helpers import fashion_mnist_datamodule

IMAGES = torch.rand(6, 1, 8, 8)
LABELS = torch.tensor([0, 1, 2, 3, 4, 5])  # distinct: each image's share of its own class is lambda


def test_mixup_blends_each_image_with_its_neighbour_in_the_labels_shares():
    torch.manual_seed(0)
    images, targets = BatchMixing(num_classes=10, mixup_alpha=0.4)(IMAGES, LABELS)
    assert images.shape == IMAGES.shape and targets.shape == (6, 10)
    lam = targets[0, 0].item()
    assert 0.0 < lam < 1.0
    neighbours = LABELS.roll(1)
    expected_targets = lam * F.one_hot(LABELS, 10) + (1 - lam) * F.one_hot(neighbours, 10)
    assert torch.allclose(targets, expected_targets.float())
    assert torch.allclose(images, lam * IMAGES + (1 - lam) * IMAGES.roll(1, dims=0), atol=1e-6)


def test_cutmix_pastes_a_rectangle_whose_area_is_the_neighbours_share():
    torch.manual_seed(1)
    images, targets = BatchMixing(num_classes=10, cutmix_alpha=1.0)(IMAGES, LABELS)
    neighbour_images = IMAGES.roll(1, dims=0)
    from_neighbour = (images == neighbour_images) & (images != IMAGES)
    from_self = images == IMAGES
    assert bool((from_neighbour | from_self).all())  # every pixel is one image's or the other's
    pasted = from_neighbour[0, 0].float().mean().item()  # one rectangle for the whole batch
    assert targets[0, LABELS.roll(1)[0]].item() == pytest.approx(pasted, abs=1e-6)
    assert torch.allclose(targets.sum(dim=-1), torch.ones(6))


def test_both_on_mixes_each_batch_one_way_or_the_other():
    torch.manual_seed(2)
    mixing = BatchMixing(num_classes=10, mixup_alpha=0.4, cutmix_alpha=1.0)
    kinds = set()
    for _ in range(20):
        images, _ = mixing(IMAGES, LABELS)
        blended = not bool(((images == IMAGES) | (images == IMAGES.roll(1, dims=0))).all())
        kinds.add("mixup" if blended else "cutmix")
    assert kinds == {"mixup", "cutmix"}


def test_both_off_means_no_mixing_and_negative_alphas_are_config_errors():
    assert batch_mixing(10, 0.0, 0.0) is None
    with pytest.raises(ConfigError, match="mixup_alpha and data.augment.cutmix_alpha must be >= 0"):
        batch_mixing(10, -0.2, 0.0)


@pytest.mark.parametrize("training", [True, False])
def test_the_datamodule_mixes_training_batches_only(fake_data_dir, training):
    datamodule = fashion_mnist_datamodule(fake_data_dir, augment=AugmentOptions(mixup_alpha=0.2))
    datamodule.trainer = SimpleNamespace(training=training)
    pixels = torch.randint(0, 256, (4, 1, 28, 28), dtype=torch.uint8)
    images, labels = datamodule.on_after_batch_transfer((pixels, torch.tensor([0, 1, 2, 3])), 0)
    assert images.dtype == torch.float32
    assert labels.shape == ((4, 10) if training else (4,))
