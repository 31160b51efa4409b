"""Per-batch image transforms as tensor ops, run after the batch reaches its device."""

import torch
import torch.nn.functional as F


def to_normalized_float(
    images: torch.Tensor, mean: float | tuple[float, ...], std: float | tuple[float, ...]
) -> torch.Tensor:
    """uint8 `[B, C, H, W]` -> float32, scaled to [0, 1] and standardised per channel."""
    channels = images.shape[1]
    mean_t = torch.as_tensor(mean, dtype=torch.float32, device=images.device).reshape(-1, 1, 1)
    std_t = torch.as_tensor(std, dtype=torch.float32, device=images.device).reshape(-1, 1, 1)
    if mean_t.numel() not in (1, channels) or std_t.numel() not in (1, channels):
        raise ValueError(f"mean/std need 1 or {channels} values, got {mean} / {std}")
    # (x / 255 - mean) / std folded into one multiply-add.
    scale = 1.0 / (255.0 * std_t)
    shift = -mean_t / std_t
    return torch.addcmul(shift, images.float(), scale)


def random_crop(images: torch.Tensor, padding: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Zero-pad by `padding` and crop back to the original size at a random offset per image."""
    if padding <= 0:
        return images
    b, _, h, w = images.shape
    padded = F.pad(images, (padding,) * 4)
    # One offset per image; gather rows then columns with broadcast index arithmetic.
    dy = torch.randint(0, 2 * padding + 1, (b, 1), device=images.device, generator=generator)
    dx = torch.randint(0, 2 * padding + 1, (b, 1), device=images.device, generator=generator)
    rows = (dy + torch.arange(h, device=images.device))[:, None, :, None]  # [B, 1, H, 1]
    cols = (dx + torch.arange(w, device=images.device))[:, None, None, :]  # [B, 1, 1, W]
    batch = torch.arange(b, device=images.device)[:, None, None, None]
    channel = torch.arange(images.shape[1], device=images.device)[None, :, None, None]
    return padded[batch, channel, rows, cols]


def random_horizontal_flip(images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Mirror each image left-right with probability 1/2."""
    flip = torch.rand(images.shape[0], device=images.device, generator=generator) < 0.5
    return torch.where(flip[:, None, None, None], images.flip(-1), images)


def random_erasing(
    images: torch.Tensor,
    probability: float,
    scale: tuple[float, float] = (0.02, 0.33),
    ratio: tuple[float, float] = (0.3, 3.3),
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Zero a random rectangle in each image with probability `probability` (Zhong et al., 2017).

    The rectangle covers a fraction of the image drawn from `scale`, with an aspect ratio drawn
    log-uniformly from `ratio`, clipped to the image. On normalised images zero is the data's mean.
    Written here rather than torchvision's `v2.RandomErasing` because that draws one rectangle per
    call: given a batch, every image would lose the same one.
    """
    if probability <= 0:
        return images
    b, _, h, w = images.shape
    device = images.device

    def uniform(low: float, high: float) -> torch.Tensor:
        return low + (high - low) * torch.rand(b, device=device, generator=generator)

    area = uniform(*scale) * h * w
    aspect = uniform(*torch.tensor(ratio).log().tolist()).exp()
    heights = (area * aspect).sqrt().round().clamp(1, h).long()
    widths = (area / aspect).sqrt().round().clamp(1, w).long()
    tops = (uniform(0, 1) * (h - heights + 1)).long()
    lefts = (uniform(0, 1) * (w - widths + 1)).long()
    erase = torch.rand(b, device=device, generator=generator) < probability
    rows = torch.arange(h, device=device)[None, :]
    cols = torch.arange(w, device=device)[None, :]
    in_rows = (rows >= tops[:, None]) & (rows < (tops + heights)[:, None])  # [B, H]
    in_cols = (cols >= lefts[:, None]) & (cols < (lefts + widths)[:, None])  # [B, W]
    mask = in_rows[:, :, None] & in_cols[:, None, :] & erase[:, None, None]  # [B, H, W]
    return images.masked_fill(mask[:, None], 0.0)


class BatchPreprocessor:
    """What a datamodule does to each uint8 batch on its device: augment (training), normalise, resize,
    erase (training).

    `transforms` are extra torchvision v2 transforms for training, applied image by image so each
    draws its own random parameters (v2 given a whole batch would draw one for all).
    """

    def __init__(
        self,
        mean: float | tuple[float, ...],
        std: float | tuple[float, ...],
        crop_padding: int = 0,
        horizontal_flip: bool = False,
        transforms: list | None = None,
        channels: int | None = None,
        image_size: int | None = None,
        resize: int | None = None,
        random_erasing: float = 0.0,
    ) -> None:
        if channels == 1:  # RGB statistics (a pretrained network's) for grey images: their average
            mean, std = _grey(mean), _grey(std)
        self.mean, self.std = mean, std
        self.crop_padding = crop_padding
        self.horizontal_flip = horizontal_flip
        self.transforms = list(transforms or [])
        self.channels = channels
        self.image_size = image_size
        # Recorded, not applied here: how an image became `image_size` square before batching.
        # None: squeezed whole to the square; a number: shorter side to it, then the centre crop.
        self.resize = resize
        self.random_erasing = random_erasing

    def __call__(self, images: torch.Tensor, training: bool) -> torch.Tensor:
        if training:
            images = random_crop(images, self.crop_padding)
            if self.horizontal_flip:
                images = random_horizontal_flip(images)
            for transform in self.transforms:
                images = torch.stack([transform(image) for image in images])
        if self.channels is not None and self.channels != images.shape[1] and _count(self.mean) > 1:
            images = images.expand(-1, self.channels, -1, -1)  # per-channel statistics: RGB first
        images = to_normalized_float(images, self.mean, self.std)
        if self.channels is not None and self.channels != images.shape[1]:
            images = images.expand(-1, self.channels, -1, -1)  # grey -> RGB without a copy
        if self.image_size is not None and self.image_size != images.shape[-1]:
            images = F.interpolate(images, size=self.image_size, mode="bilinear", align_corners=False)
        if training:  # after normalising: the erased pixels take the data's mean
            images = random_erasing(images, self.random_erasing)
        return images

    def describe(self) -> dict:
        """What evaluation does to an image, as plain values (saved in checkpoints)."""
        return {
            "channels": self.channels,
            "image_size": self.image_size,
            "resize": self.resize,
            "mean": torch.as_tensor(self.mean, dtype=torch.float64).flatten().tolist(),
            "std": torch.as_tensor(self.std, dtype=torch.float64).flatten().tolist(),
        }


def _count(values: float | tuple[float, ...]) -> int:
    return torch.as_tensor(values).numel()


def _grey(values: float | tuple[float, ...]) -> float | tuple[float, ...]:
    """One value for a grey channel: the average of three per-channel (RGB) values."""
    return float(torch.as_tensor(values, dtype=torch.float64).mean()) if _count(values) == 3 else values
