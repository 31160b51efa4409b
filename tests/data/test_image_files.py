"""One decoding for every image mode Pillow opens: what a 16-bit scan, a float TIFF or a palette
PNG holds reaches the model as the 8-bit image it shows, or is refused in one line."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lightning_hydra_template.data.csv_annotations import read_rows
from lightning_hydra_template.data.image_files import decode_image, image_suffixes, is_image_name
from lightning_hydra_template.errors import DataError

SIZE = 16
GREY = np.arange(SIZE * SIZE, dtype=np.uint8).reshape(SIZE, SIZE)  # every value 0..255 once
GREY[0, 0], GREY[-1, -1] = 0, 255


def saved(image: Image.Image, path: Path) -> Path:
    image.save(path)
    with Image.open(path) as reopened:  # the mode a user's file arrives in, not the one written
        assert reopened.mode == image.mode
    return path


def grey_in(mode: str, folder: Path) -> Path:
    """GREY written to a file whose pixels are in `mode`, as an instrument or a tool writes it."""
    rgb = Image.fromarray(np.stack([GREY] * 3, -1), "RGB")
    alpha = Image.fromarray(np.full((SIZE, SIZE), 128, np.uint8), "L")
    makers = {
        "L": lambda: Image.fromarray(GREY, "L"),
        "P": lambda: Image.fromarray(GREY, "L").convert("P"),
        "RGB": lambda: rgb,
        "RGBA": lambda: Image.merge("RGBA", [*rgb.split(), alpha]),
        "LA": lambda: Image.merge("LA", [Image.fromarray(GREY, "L"), alpha]),
        "CMYK": lambda: rgb.convert("CMYK"),
        "I;16": lambda: Image.fromarray(GREY.astype(np.uint16) * 257),  # 16-bit PNG of the same grey
        "I": lambda: Image.fromarray(GREY.astype(np.int32) * 257, "I"),  # integer TIFF
        "F": lambda: Image.fromarray(GREY.astype(np.float32) / 255, "F"),  # float TIFF in [0, 1]
    }
    suffix = {"CMYK": ".tif", "I": ".tif", "F": ".tif"}.get(mode, ".png")
    return saved(makers[mode](), folder / f"{mode.replace(';', '_')}{suffix}")


@pytest.mark.parametrize("mode", ["L", "P", "RGB", "RGBA", "LA", "CMYK", "I;16", "I", "F"])
@pytest.mark.parametrize("channels", [1, 3])
def test_each_mode_decodes_to_the_grey_it_shows(tmp_path, mode, channels):
    pixels = decode_image(grey_in(mode, tmp_path), channels, SIZE)
    assert pixels.dtype == np.uint8 and pixels.shape == (channels, SIZE, SIZE)
    tolerance = 2 if mode == "CMYK" else 0  # Pillow's CMYK round trip is not exact
    assert np.abs(pixels.astype(int) - GREY.astype(int)).max() <= tolerance


def test_a_black_and_white_image_is_0_and_255(tmp_path):
    path = saved(Image.fromarray(GREY >= 128).convert("1"), tmp_path / "bw.png")
    assert set(np.unique(decode_image(path, 1, SIZE))) == {0, 255}


def test_a_16_bit_scan_keeps_its_shades_where_pillows_convert_clips_them_white(tmp_path):
    path = grey_in("I;16", tmp_path)
    with Image.open(path) as image:
        assert set(np.unique(np.asarray(image.convert("L")))) == {0, 255}  # what training saw before
    assert len(np.unique(decode_image(path, 1, SIZE))) == 256


@pytest.mark.parametrize(
    ("pixels", "mode", "message"),
    [
        (np.full((4, 4), 200.0, np.float32), "F", "float pixels from 200 to 200"),
        (np.full((4, 4), np.nan, np.float32), "F", "NaN"),
        (np.full((4, 4), -5, np.int32), "I", "integer pixels from -5 to -5"),
        (np.full((4, 4), 1 << 20, np.int32), "I", "outside the 16-bit range"),
    ],
)
def test_pixels_outside_the_range_their_mode_is_read_in_are_refused_naming_the_file(
    tmp_path, pixels, mode, message
):
    path = saved(Image.fromarray(pixels, mode), tmp_path / "odd.tif")
    with pytest.raises(DataError, match=message) as raised:
        decode_image(path, 1, SIZE)
    assert str(path) in str(raised.value) and "\n" not in str(raised.value)


def test_a_mode_without_a_conversion_is_refused_in_one_line(tmp_path):
    path = saved(Image.new("LAB", (4, 4)), tmp_path / "lab.tif")
    with pytest.raises(DataError, match="pixel mode LAB"):
        decode_image(path, 3, SIZE)


def test_a_photo_is_turned_upright_as_its_exif_orientation_says(tmp_path):
    upright = np.zeros((SIZE, 2 * SIZE, 3), np.uint8)
    upright[:, :SIZE] = 255  # white left half
    stored = Image.fromarray(upright).transpose(Image.Transpose.ROTATE_90)  # as the camera stored it
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 clockwise to view: undoes ROTATE_90 (counter-clockwise)
    path = tmp_path / "photo.png"
    stored.save(path, exif=exif)
    pixels = decode_image(path, 1, 2 * SIZE)[0]
    assert pixels[:, : SIZE - 1].min() > 200 and pixels[:, SIZE + 1 :].max() < 50


def test_an_image_file_is_one_pillow_opens_everywhere(tmp_path):
    assert {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".bmp", ".gif"} <= image_suffixes()
    assert is_image_name("scan.TIFF") and is_image_name("a/b/photo.jpeg") and not is_image_name("labels.csv")
    # The CSV reader's header detection uses the same list: a .pgm first row is data, not a header.
    (tmp_path / "labels.csv").write_text("scan.pgm,cat\nother.pgm,dog\n")
    assert [row.file for row in read_rows(tmp_path / "labels.csv")] == ["scan.pgm", "other.pgm"]
