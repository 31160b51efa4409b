"""A split stored by `stream_cache`, read by LitData and decoded, augmented and resized in workers."""

import io
import logging
from collections.abc import Sequence

import numpy as np
import torch
from litdata import StreamingDataset
from litdata.streaming.sampler import ChunkedIndex

from ..errors import ConfigError
from .image_files import to_channels_and_size

# LitData logs its cache settings at INFO for every loader it builds: twice a split, every epoch.
logging.getLogger("litdata").setLevel(logging.WARNING)


class StreamedImages(StreamingDataset):
    """`(uint8 [C, image_size, image_size], label)` samples from encoded images in LitData chunks.

    Training (`transforms` given): the full-resolution photo through torchvision v2 transforms
    (`RandomResizedCrop(image_size)` first, so every sample comes out the same size). Evaluation
    (`transforms` None): shorter side resized to `resize`, centre `image_size` crop.

    A training sample's randomness is seeded from (seed, epoch, sample index), so a sample is
    augmented alike whichever worker draws it and however many workers there are: a resumed run
    augments the rest of its epoch exactly as the uninterrupted run did.
    """

    def __init__(
        self,
        input_dir: str,
        channels: int,
        image_size: int,
        resize: int,
        transforms: Sequence | None = None,
        shuffle: bool = False,
        seed: int = 0,
    ) -> None:
        super().__init__(input_dir, shuffle=shuffle, seed=seed % 2**32)  # numpy's RandomState seeds it
        self.channels, self.image_size, self.resize = channels, image_size, resize
        self.transforms = list(transforms) if transforms is not None else None
        self.sample_seed = seed

    def __getitem__(self, index: ChunkedIndex | int) -> tuple[torch.Tensor, torch.Tensor]:
        from PIL import Image

        sample = super().__getitem__(index)
        with Image.open(io.BytesIO(sample["image"])) as image:
            if self.transforms is None:
                # A copy: Pillow's arrays are read-only (and RGB ones transposed views).
                pixels = torch.tensor(
                    to_channels_and_size(image, self.channels, self.image_size, self.resize)
                )
            else:
                position = index.index if isinstance(index, ChunkedIndex) else int(index)
                # The CPU generator alone (torchvision v2 draws from it): 1 µs, not torch.manual_seed's 65.
                torch.default_generator.manual_seed(
                    hash((self.sample_seed, self.current_epoch, position)) % 2**63
                )
                pixels = self._augment(image.convert("L" if self.channels == 1 else "RGB"))
        return pixels, torch.tensor(sample["label"], dtype=torch.long)

    def _augment(self, image) -> torch.Tensor:
        for transform in self.transforms:
            image = transform(image)
        pixels = image if isinstance(image, torch.Tensor) else torch.tensor(np.asarray(image, dtype=np.uint8))
        if pixels.ndim == 2:
            pixels = pixels[None]
        elif not isinstance(image, torch.Tensor):
            pixels = pixels.permute(2, 0, 1)
        if pixels.shape != (self.channels, self.image_size, self.image_size) or pixels.dtype != torch.uint8:
            raise ConfigError(
                f"data.augment.stream_transforms gave a {pixels.dtype} image of shape {tuple(pixels.shape)}, "
                "not uint8 "
                f"{(self.channels, self.image_size, self.image_size)}; start them with a RandomResizedCrop "
                "(or a Resize and a crop) to data.image_size, and keep them on uint8 images."
            )
        return pixels.contiguous()
