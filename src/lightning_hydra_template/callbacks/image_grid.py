"""Images in a grid, each under its title, as pixels (samples, misclassified test images)."""

import math
from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image, ImageDraw

from .drawing import LINE_HEIGHT, centred, text_width


def image_grid(images: torch.Tensor, titles: Sequence[str], columns: int = 8, size: int = 112) -> np.ndarray:
    """uint8 images `[N, C, H, W]` (1 or 3 channels, any size), each scaled so its longer side is
    `size` pixels (small ones without smoothing, so pixels stay visible), under its title (lines
    split at `\\n`); `[H, W, 3]` uint8."""
    if len(images) == 0:
        canvas = Image.new("RGB", (160, 40), "white")
        centred(ImageDraw.Draw(canvas), (80, 20), "no images")
        return np.asarray(canvas)
    height, width = images.shape[-2:]
    scale = size / max(height, width)
    shown = (max(1, round(width * scale)), max(1, round(height * scale)))
    resample = Image.Resampling.NEAREST if scale >= 1 else Image.Resampling.LANCZOS
    lines = [title.split("\n") for title in titles]
    title_height = max(len(title) for title in lines) * LINE_HEIGHT + 4
    cell_width = max(shown[0], *(text_width(line) for title in lines for line in title)) + 12
    cell_height = title_height + shown[1] + 10
    columns = min(columns, len(images))
    rows = math.ceil(len(images) / columns)
    canvas = Image.new("RGB", (columns * cell_width, rows * cell_height), "white")
    draw = ImageDraw.Draw(canvas)
    for index, (image, title) in enumerate(zip(images, lines)):
        x, y = (index % columns) * cell_width, (index // columns) * cell_height
        for number, line in enumerate(title):
            centred(draw, (x + cell_width / 2, y + 4 + (number + 0.5) * LINE_HEIGHT), line)
        pixels = image.permute(1, 2, 0).numpy()
        picture = Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels).convert("RGB")
        canvas.paste(picture.resize(shown, resample), (x + (cell_width - shown[0]) // 2, y + title_height))
    return np.asarray(canvas)
