"""A confusion matrix as pixels: cheap enough to draw after every validation epoch."""

from collections.abc import Sequence

import numpy as np
from matplotlib import colormaps
from PIL import Image, ImageDraw

from .drawing import LINE_HEIGHT, centred, font, text_width, vertical

MAX_COUNTED = 30  # above this many classes the counts are left out (unreadable)
MAX_NAMED = 60  # and above this many, the class names too


def row_normalised(counts: np.ndarray) -> np.ndarray:
    """Each row (a true class) divided by its total: the share of that class predicted as each class."""
    totals = counts.sum(axis=1, keepdims=True)
    return np.divide(counts, totals, out=np.zeros(counts.shape), where=totals > 0)


def confusion_image(counts: np.ndarray, class_names: Sequence[str], title: str) -> np.ndarray:
    """`[H, W, 3]` uint8: rows the true classes, columns the predicted ones, each cell's count
    written in it and coloured by its share of the row (white: none, dark blue: all)."""
    classes = len(class_names)
    shares = row_normalised(counts)
    cell = 44 if classes <= MAX_COUNTED else max(2, 900 // classes)
    names = list(class_names) if classes <= MAX_NAMED else []
    name_room = max((text_width(name) for name in names), default=0) + 8
    left, top, side = name_room + 22, 40, classes * cell
    canvas = Image.new("RGB", (left + side + 10, top + side + name_room + 22), "white")
    cells = (colormaps["Blues"](shares)[..., :3] * 255).astype(np.uint8)
    canvas.paste(Image.fromarray(cells.repeat(cell, axis=0).repeat(cell, axis=1)), (left, top))
    draw = ImageDraw.Draw(canvas)
    centred(draw, (left + side / 2, 14), f"{title} (colour: share of the true class)")
    if classes <= MAX_COUNTED:
        for (row, column), count in np.ndenumerate(counts):
            colour = "white" if shares[row, column] > 0.5 else "black"
            centred(draw, (left + (column + 0.5) * cell, top + (row + 0.5) * cell), str(int(count)), colour)
    for index, name in enumerate(names):
        draw.text((left - 6 - text_width(name), top + (index + 0.5) * cell - 7), name, "black", font())
    if names:
        canvas.paste(vertical(names, name_room, cell), (left, top + side + 4))
    centred(draw, (left + side / 2, top + side + name_room + 12), "predicted")
    label = vertical(["true"], text_width("true") + 6, LINE_HEIGHT)
    canvas.paste(label, (4, top + (side - label.height) // 2))
    return np.asarray(canvas)
