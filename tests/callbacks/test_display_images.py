"""Network inputs back into the pixels they came from, and image grids of any shape."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from lightning_hydra_template.callbacks.display_images import display_images, shrunk
from lightning_hydra_template.callbacks.image_grid import image_grid
from lightning_hydra_template.data.batch_transforms import BatchPreprocessor


@pytest.mark.parametrize(
    ("stored_channels", "preprocess"),
    [
        (1, BatchPreprocessor(0.2860, 0.3530)),  # FashionMNIST
        (3, BatchPreprocessor((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))),  # ImageNet statistics
        (1, BatchPreprocessor((0.485, 0.456, 0.406), (0.229, 0.224, 0.225), channels=3)),  # grey to RGB
        (3, BatchPreprocessor((0.485, 0.456, 0.406), (0.229, 0.224, 0.225), channels=1)),  # RGB stats, grey
    ],
)
def test_normalisation_is_undone_with_the_datamodules_mean_and_std(stored_channels, preprocess):
    pixels = torch.randint(0, 256, (4, stored_channels, 9, 7), dtype=torch.uint8)
    if preprocess.channels == 1:
        pixels = pixels[:, :1]
    inputs = preprocess(pixels, training=False)
    trainer = SimpleNamespace(datamodule=SimpleNamespace(preprocess=preprocess))
    assert torch.equal(display_images(inputs, trainer), pixels.expand_as(inputs))


def test_without_known_statistics_each_image_is_stretched_to_the_full_range():
    inputs = torch.stack([torch.linspace(-3, 1, 16), torch.linspace(5, 6, 16)]).reshape(2, 1, 4, 4)
    shown = display_images(inputs, SimpleNamespace(datamodule=None))
    assert shown.dtype == torch.uint8
    assert [(int(image.min()), int(image.max())) for image in shown] == [(0, 255), (0, 255)]


def test_thumbnails_keep_the_aspect_ratio_and_small_images_as_they_are():
    assert shrunk(torch.rand(2, 3, 224, 112), 64).shape == (2, 3, 64, 32)
    small = torch.rand(2, 1, 28, 28)
    assert shrunk(small, 64) is small


@pytest.mark.parametrize(("count", "channels", "size"), [(32, 1, (28, 28)), (5, 3, (40, 20)), (0, 3, (8, 8))])
def test_image_grids_draw_any_count_channels_and_size(count, channels, size):
    images = torch.randint(0, 256, (count, channels, *size), dtype=torch.uint8)
    grid = image_grid(images, [f"true: {i}\npred: {i + 1}" for i in range(count)], columns=8)
    assert grid.dtype == np.uint8 and grid.ndim == 3 and grid.shape[-1] == 3
