"""decode_all: images decoded in threads, failures by index, progress told to the caller's bar."""

from lightning_hydra_template.data.image_cache import decode_all

from ..helpers import write_image


def test_decoding_reports_each_image_to_the_callers_progress_bar(tmp_path):
    files = [tmp_path / f"{i}.png" for i in range(5)]
    for i, path in enumerate(files):
        write_image(path, (10 * i, 0, 0), (9, 7), grey=False, seed=i)
    (tmp_path / "3.png").write_bytes(b"not an image")
    told: list[int] = []

    images, failures = decode_all(files, channels=3, image_size=8, workers=2, advance=told.append)

    assert sum(told) == len(files)  # one bar over the whole input, failures included
    assert images.shape == (5, 3, 8, 8) and list(failures) == [3]
    assert not images[3].any() and images[4].any()
