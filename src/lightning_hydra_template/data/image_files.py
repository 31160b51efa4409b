"""Image files as the uint8 pixels a model sees: one definition of an image file, one decoding.

Training (the CSV datamodule's cache), predict.py, explain.py and serve.py all decode here, so an
image means the same to a model in each of them.
"""

import functools
from pathlib import Path, PurePath

import numpy as np

from ..errors import DataError

SIXTEEN_BIT = ("I;16", "I;16L", "I;16B", "I;16N")  # Pillow's modes of 16-bit grey (PNG, TIFF)
INTEGER = "I"  # 32-bit signed integers (TIFF); read as 16-bit grey, the range they are used for
FLOAT = "F"  # 32-bit floats (TIFF): read as grey in [0, 1]
# Modes Pillow converts to L and RGB itself, 8 bits per channel already.
EIGHT_BIT = ("1", "L", "P", "RGB", "RGBA", "RGBX", "RGBa", "CMYK", "YCbCr", "HSV", "LA", "PA")
ORIENTATION = 0x0112  # the EXIF tag a camera sets instead of rotating the pixels
# What `to_channels_and_size` does, in words: recorded beside an exported model, so that a
# deployment that decodes images itself can do what training did.
DECODING = (
    "Pillow; turned upright by the EXIF orientation; 16-bit and integer pixels scaled from 0-65535 and "
    "float pixels from 0.0-1.0 to 8 bits; converted to L (1 channel) or RGB (3); resized to "
    "image_size x image_size with Image.Resampling.BILINEAR (squashed to a square, not cropped; a model "
    "trained on streamed photos instead resizes the shorter side to its recorded resize and crops the "
    "centre); "
    "uint8 [batch, channels, image_size, image_size]"
)


@functools.cache
def image_suffixes() -> frozenset[str]:
    """Every file extension Pillow can open here: what counts as an image file, everywhere."""
    from PIL import Image

    Image.init()
    return frozenset(suffix for suffix, name in Image.registered_extensions().items() if name in Image.OPEN)


def is_image_name(name: str | PurePath) -> bool:
    return PurePath(name).suffix.lower() in image_suffixes()


def decode_image(path: Path, channels: int, image_size: int, resize: int | None = None) -> np.ndarray:
    """One image file -> uint8 `[channels, image_size, image_size]` (converted and resized)."""
    from PIL import Image

    with Image.open(path) as image:
        return to_channels_and_size(image, channels, image_size, resize)


def to_channels_and_size(image, channels: int, image_size: int, resize: int | None = None) -> np.ndarray:
    """A PIL image -> uint8 `[channels, image_size, image_size]`: what evaluation and prediction see.

    Upright as its EXIF orientation says (as photo viewers show it), on 8 bits (`to_8_bit`), grey
    or RGB. `resize` None: the whole image squashed to the square by bilinear resizing (the in-memory
    path). Else the shorter side resized to `resize`, keeping the aspect ratio, then the central
    `image_size` square (the streaming path's evaluation, as torchvision's ImageNet recipes evaluate).
    """
    from PIL import Image

    image = upright_channels(image, channels)
    if resize is None:
        image = image.resize((image_size, image_size), Image.Resampling.BILINEAR)
    else:
        width, height = image.size
        scale = resize / min(width, height)
        size = (max(resize, round(width * scale)), max(resize, round(height * scale)))
        image = image.resize(size, Image.Resampling.BILINEAR)
        left, top = (size[0] - image_size) // 2, (size[1] - image_size) // 2
        image = image.crop((left, top, left + image_size, top + image_size))
    pixels = np.asarray(image, dtype=np.uint8)
    return pixels[None] if channels == 1 else pixels.transpose(2, 0, 1)


def upright_channels(image, channels: int):
    """A PIL image upright as its EXIF orientation says, on 8 bits, grey (`channels` 1) or RGB, full size.

    A new image where anything changes, so a caller's image is left as it was.
    """
    from PIL import ImageOps

    if image.getexif().get(ORIENTATION, 1) != 1:
        image = ImageOps.exif_transpose(image)
    image = to_8_bit(image)
    mode = "L" if channels == 1 else "RGB"
    return image if image.mode == mode else image.convert(mode)


def to_8_bit(image):
    """`image` in a mode of 8 bits per channel, its full range kept; a `DataError` where none is right.

    Pillow's own `convert("L")` clips 16-bit and integer pixels at 255 (every non-zero pixel of a
    16-bit scan turns white) and truncates float pixels (a [0, 1] image turns black).
    """
    from PIL import Image

    mode = image.mode
    if mode in EIGHT_BIT:
        return image
    if mode in (*SIXTEEN_BIT, INTEGER):
        pixels = np.asarray(image).astype(np.int64)
        if pixels.size and (pixels.min() < 0 or pixels.max() > 65535):
            raise DataError(
                f"{describe(image)} has integer pixels from {pixels.min()} to {pixels.max()}, outside the "
                "16-bit range 0-65535 it is read in; save it as an 8- or 16-bit PNG."
            )
        return Image.fromarray(((pixels * 255 + 32767) // 65535).astype(np.uint8), "L")  # 65535 -> 255
    if mode == FLOAT:
        pixels = np.asarray(image, dtype=np.float64)
        finite = pixels[np.isfinite(pixels)]
        if finite.size < pixels.size or (finite.size and (finite.min() < 0 or finite.max() > 1)):
            found = f"from {finite.min():g} to {finite.max():g}" if finite.size else "all"
            found += " and NaN or infinity" if finite.size < pixels.size else ""
            raise DataError(
                f"{describe(image)} has float pixels {found}; float images are read in the range "
                "0.0-1.0: scale it, or save it as an 8-bit PNG."
            )
        return Image.fromarray(np.rint(pixels * 255).astype(np.uint8), "L")
    raise DataError(
        f"{describe(image)} has pixel mode {mode}, which is not converted here; save it as an RGB or grey "
        "PNG or JPEG."
    )


def describe(image) -> str:
    """'The image <file>' when Pillow knows the file, else 'The image'."""
    name = getattr(image, "filename", "")
    return f"The image {name}" if name else "The image"
