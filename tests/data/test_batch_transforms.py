import torch

from lightning_hydra_template.data.batch_transforms import (
    random_crop,
    random_horizontal_flip,
    to_normalized_float,
)


def test_normalisation_matches_the_two_step_formula():
    images = torch.randint(0, 256, (4, 1, 28, 28), dtype=torch.uint8)
    expected = (images.float() / 255 - 0.2860) / 0.3530
    assert torch.allclose(to_normalized_float(images, 0.2860, 0.3530), expected, atol=1e-5)


def test_normalisation_per_channel():
    images = torch.full((2, 3, 4, 4), 255, dtype=torch.uint8)
    out = to_normalized_float(images, (0.0, 0.5, 1.0), (1.0, 0.5, 1.0))
    expected = torch.tensor([1.0, 1.0, 0.0]).reshape(1, 3, 1, 1).expand_as(out)
    assert torch.allclose(out, expected, atol=1e-6)


def test_random_crop_keeps_shape_and_only_shifts_pixels():
    images = torch.arange(2 * 1 * 8 * 8, dtype=torch.float32).reshape(2, 1, 8, 8) + 1
    generator = torch.Generator().manual_seed(0)
    cropped = random_crop(images, padding=2, generator=generator)
    assert cropped.shape == images.shape
    for original, crop in zip(images, cropped):
        # Every pixel is either zero padding or a value of the same image.
        values = crop[crop != 0]
        assert torch.isin(values, original).all()
        # A shift of at most 2 keeps at least a 6x6 window of the original.
        assert (crop != 0).sum() >= 36


def test_random_crop_without_padding_is_identity():
    images = torch.rand(3, 1, 5, 5)
    assert random_crop(images, padding=0) is images


def test_horizontal_flip_mirrors_about_half_the_images():
    images = torch.rand(1000, 1, 4, 4)
    flipped = random_horizontal_flip(images, generator=torch.Generator().manual_seed(0))
    mirrored = (flipped == images.flip(-1)).flatten(1).all(1)
    unchanged = (flipped == images).flatten(1).all(1)
    assert (mirrored | unchanged).all()
    assert 400 < int(mirrored.sum()) < 600


def test_random_erasing_zeroes_one_rectangle_per_chosen_image():
    from lightning_hydra_template.data.batch_transforms import random_erasing

    images = torch.ones(64, 1, 28, 28)
    erased = random_erasing(images, probability=0.5, generator=torch.Generator().manual_seed(0))
    zero = erased[:, 0] == 0
    hit = zero.flatten(1).any(dim=1)
    assert 10 < int(hit.sum()) < 54  # about half of the images
    for mask in zero[hit]:
        rows, cols = mask.any(dim=1).nonzero().flatten(), mask.any(dim=0).nonzero().flatten()
        # one solid rectangle: the bounding box of the zeros is all zeros
        assert bool(mask[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1].all())
        assert 0.02 * 28 * 28 / 2 <= int(mask.sum()) <= 0.34 * 28 * 28 * 1.5  # rounding and clipping
    assert torch.equal(erased[~hit], images[~hit])


def test_random_erasing_is_for_training_batches_only():
    from lightning_hydra_template.data.batch_transforms import BatchPreprocessor

    preprocess = BatchPreprocessor(0.0, 1 / 255, random_erasing=1.0)  # pixel values unchanged
    pixels = torch.full((8, 1, 28, 28), 7, dtype=torch.uint8)
    assert bool((preprocess(pixels, training=False) == 7).all())
    assert bool((preprocess(pixels, training=True) == 0).flatten(1).any(dim=1).all())
