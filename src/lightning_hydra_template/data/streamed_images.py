"""A split stored by `stream_cache`, read by LitData and decoded, augmented and resized in workers."""

import ctypes
import io
import logging
import platform
import sys
from collections.abc import Sequence

import numpy as np
import torch
from litdata import StreamingDataset
from litdata.streaming.sampler import ChunkedIndex
from PIL import Image
from torchvision.transforms.v2.functional import pil_to_tensor

from ..errors import ConfigError
from .image_files import to_channels_and_size, upright_channels

# LitData logs its cache settings at INFO for every loader it builds: twice a split, every epoch.
logging.getLogger("litdata").setLevel(logging.WARNING)


class StreamedImages(StreamingDataset):
    """`(uint8 [C, image_size, image_size], label)` samples from encoded images in LitData chunks.

    Training (`transforms` given): the full-resolution photo, as a uint8 image tensor, through
    torchvision v2 transforms (`RandomResizedCrop(image_size)` first, so every sample comes out the
    same size). Evaluation (`transforms` None): shorter side resized to `resize`, centre
    `image_size` crop, by Pillow as everything that uses a trained model does it.

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
        sample = super().__getitem__(index)
        if self.transforms is None:
            # Pillow, as predict, export and serve decode: the same pixels, so the same predictions.
            with Image.open(io.BytesIO(sample["image"])) as image:
                pixels = torch.from_numpy(
                    np.ascontiguousarray(
                        to_channels_and_size(image, self.channels, self.image_size, self.resize)
                    )
                )
        else:
            position = index.index if isinstance(index, ChunkedIndex) else int(index)
            # The CPU generator alone (torchvision v2 draws from it): 1 µs, not torch.manual_seed's 65.
            torch.default_generator.manual_seed(
                hash((self.sample_seed, self.current_epoch, position)) % 2**63
            )
            pixels = self._augment(decoded(sample["image"], self.channels))
        return pixels, torch.tensor(sample["label"], dtype=torch.long)

    def _augment(self, pixels: torch.Tensor) -> torch.Tensor:
        for transform in self.transforms:
            pixels = transform(pixels)
        if (
            not isinstance(pixels, torch.Tensor)
            or pixels.shape != (self.channels, self.image_size, self.image_size)
            or pixels.dtype != torch.uint8
        ):
            found = (
                f"a {pixels.dtype} image of shape {tuple(pixels.shape)}"
                if isinstance(pixels, torch.Tensor)
                else f"a {type(pixels).__name__}"
            )
            raise ConfigError(
                f"data.augment.stream_transforms gave {found}, not uint8 "
                f"{(self.channels, self.image_size, self.image_size)}; start them with a RandomResizedCrop "
                "(or a Resize and a crop) to data.image_size, and keep them on uint8 image tensors."
            )
        return pixels.contiguous()


def decoded(encoded: bytes, channels: int) -> torch.Tensor:
    """An image file's bytes -> uint8 `[channels, height, width]` at full resolution, upright.

    Decoded by Pillow like every image of the project (`image_files`), then handed to the
    transforms as a tensor: torchvision's tensor kernels crop, resize and flip a photo faster than
    Pillow's, and the image is copied once, not converted and copied again.
    """
    with Image.open(io.BytesIO(encoded)) as image:
        return pil_to_tensor(upright_channels(image, channels))


def release_inherited_heap(worker_id: int) -> None:
    """A new loader worker's first act: give back the free heap it shares with the main process.

    A forked worker shares every page of the main process until either writes it. The main process
    goes on allocating into its free heap (glibc keeps freed memory, up to
    `malloc_trim_threshold_mb`), and each shared page it writes there is copied while the worker
    still holds the original: the worker's memory grows with the training step's, not its own
    (measured: 357 MB of a worker's own at 224 px). Trimmed here, the worker lets go of those
    pages and the main process rewrites them in place. glibc only; elsewhere nothing to do.
    """
    if sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc":
        ctypes.CDLL(None).malloc_trim(0)
