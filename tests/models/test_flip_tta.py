"""Flip TTA: predictions change only by averaging each image's probabilities with its mirror's."""

import lightning as L
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from lightning_hydra_template.inference.predictor import Predictor
from lightning_hydra_template.models.classifier import ImageClassifier
from lightning_hydra_template.models.cnn import CNN
from lightning_hydra_template.models.flip_tta import (
    flip_averaged_log_probabilities,
    flip_averaged_probabilities,
)


def network() -> CNN:
    torch.manual_seed(0)
    return CNN(1, 28, 10, channels=[4], convs_per_block=1, hidden_size=8).eval()


def test_tta_is_the_mean_of_the_plain_and_the_mirrored_probabilities():
    net, images = network(), torch.randn(5, 1, 28, 28)
    with torch.no_grad():
        plain = net(images).softmax(dim=-1)
        mirrored = net(images.flip(-1)).softmax(dim=-1)
        averaged = flip_averaged_probabilities(net, images)
    assert torch.allclose(averaged, (plain + mirrored) / 2, atol=1e-6)
    assert not torch.allclose(averaged, plain)  # the mirror image does change the answer


def test_tta_of_mirror_symmetric_images_changes_nothing():
    net, half = network(), torch.randn(3, 1, 28, 14)
    images = torch.cat([half, half.flip(-1)], dim=-1)  # each image is its own mirror image
    with torch.no_grad():
        assert torch.allclose(flip_averaged_probabilities(net, images), net(images).softmax(-1), atol=1e-6)


def test_the_test_step_scores_the_flip_averaged_probabilities():
    images, labels = torch.randn(16, 1, 28, 28), torch.arange(16) % 10
    scores = {}
    for tta in (False, True):
        model = ImageClassifier(network(), num_classes=10, test_flip_tta=tta)
        trainer = L.Trainer(
            accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False
        )
        (scores[tta],) = trainer.test(
            model, DataLoader(TensorDataset(images, labels), batch_size=8), verbose=False
        )
    with torch.no_grad():
        expected = torch.nn.functional.nll_loss(flip_averaged_log_probabilities(network(), images), labels)
        plain = torch.nn.functional.cross_entropy(network()(images), labels)
    assert scores[True]["test/loss"] == pytest.approx(expected.item(), rel=1e-5)
    assert scores[False]["test/loss"] == pytest.approx(plain.item(), rel=1e-5)


def test_predict_leaves_tta_off_unless_asked():
    model = ImageClassifier(
        network(),
        num_classes=10,
        preprocessing={"channels": 1, "image_size": 28, "mean": [0.5], "std": [0.5]},
    )
    pixels = torch.randint(0, 256, (4, 1, 28, 28), dtype=torch.uint8)
    plain = Predictor(model).probabilities(pixels)
    tta = Predictor(model, flip_tta=True).probabilities(pixels)
    mirrored = Predictor(model).probabilities(pixels.flip(-1))
    assert torch.allclose(tta, (plain + mirrored) / 2, atol=1e-6)
