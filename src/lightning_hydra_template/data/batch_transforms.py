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
