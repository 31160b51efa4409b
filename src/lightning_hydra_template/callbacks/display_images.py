"""Network inputs back into pixels a person can look at."""

import lightning as L
import torch
import torch.nn.functional as F


def display_images(images: torch.Tensor, trainer: L.Trainer | None = None) -> torch.Tensor:
    """Normalised float images `[B, C, H, W]` -> uint8 on the CPU, as they were before normalising.

    Undone with the datamodule's own mean and std (`datamodule.preprocess`); for data normalised
    some other way, each image is stretched to the full range instead.
    """
    images = images.detach().float()
    statistics = _mean_std(trainer, images.shape[1], images.device)
    if statistics is not None:
        mean, std = statistics
        pixels = (images * std + mean) * 255
    else:
        low = images.amin(dim=(1, 2, 3), keepdim=True)
        high = images.amax(dim=(1, 2, 3), keepdim=True)
        pixels = (images - low) / (high - low).clamp_min(1e-12) * 255
    return pixels.round().clamp(0, 255).to(torch.uint8).cpu()


def shrunk(images: torch.Tensor, size: int) -> torch.Tensor:
    """Float images with the longer side shrunk to at most `size` pixels (projector thumbnails).

    Shrinking is linear, so it commutes with normalisation: shrink on the device, display later.
    """
    longest = max(images.shape[-2:])
    if longest <= size:
        return images
    height, width = (max(1, round(side * size / longest)) for side in images.shape[-2:])
    return F.interpolate(images.float(), size=(height, width), mode="bilinear", antialias=True)


def _mean_std(
    trainer: L.Trainer | None, channels: int, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor] | None:
    preprocess = getattr(getattr(trainer, "datamodule", None), "preprocess", None)
    if preprocess is None or not hasattr(preprocess, "mean"):
        return None
    mean = torch.as_tensor(preprocess.mean, dtype=torch.float32, device=device).reshape(-1, 1, 1)
    std = torch.as_tensor(preprocess.std, dtype=torch.float32, device=device).reshape(-1, 1, 1)
    if mean.numel() not in (1, channels) or std.numel() not in (1, channels):
        return None
    return mean, std
