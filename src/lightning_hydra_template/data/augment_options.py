"""`data.augment`: what training does to its images, one config node for every datamodule."""

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class AugmentOptions:
    """The training augmentation of `data.augment` (configs/data/*.yaml), built once by Hydra.

    Evaluation never sees any of it. Batched tensor ops on the batch's device, in this order:
    - crop_padding: random crop after zero-padding each side by this many pixels (0: none).
    - horizontal_flip: mirror half of the images.
    - transforms: more torchvision.transforms.v2, applied image by image (each draws its own
      parameters); None or []: none.
    - random_erasing: the probability of zeroing a random rectangle of each image (after normalising).
    - mixup_alpha, cutmix_alpha: mix the batch's images and labels, Beta(alpha, alpha) shares; 0: off
      (both on: one or the other per batch).

    And, for streamed photos only (`data.storage=stream`), in the loader workers before batching:
    - stream_transforms: torchvision v2 transforms of each full-resolution PIL image, the first
      bringing it to `image_size`; None: RandomResizedCrop(image_size) + RandomHorizontalFlip;
      []: none (training images prepared as for evaluation).
    """

    crop_padding: int = 0
    horizontal_flip: bool = False
    transforms: Sequence | None = None
    random_erasing: float = 0.0
    mixup_alpha: float = 0.0
    cutmix_alpha: float = 0.0
    stream_transforms: Sequence | None = None
