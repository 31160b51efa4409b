"""Classify images with a trained model: its own evaluation preprocessing, from the checkpoint alone.

predictor = Predictor.from_checkpoint("logs/train/runs/<run>/checkpoints/best.ckpt")
predictor.classify(["shoe.png", pil_image, uint8_tensor], top_k=3)
"""

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from ..data.batch_transforms import BatchPreprocessor
from ..errors import ConfigError
from ..models.classifier import ImageClassifier
from ..models.flip_tta import flip_averaged_probabilities


class Predictor:
    """A trained `ImageClassifier` with the preprocessing it was evaluated with; `predict.py` uses it."""

    def __init__(
        self, model: ImageClassifier, device: str | torch.device = "cpu", flip_tta: bool = False
    ) -> None:
        preprocessing = model.hparams.get("preprocessing")
        if not preprocessing:
            raise ConfigError(
                "This checkpoint does not record its preprocessing (it predates self-describing "
                "checkpoints); retrain, or evaluate it with eval.py, which rebuilds it from the run's config."
            )
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.channels, self.image_size = preprocessing["channels"], preprocessing["image_size"]
        # Absent in checkpoints from before streaming: those squeezed every image to the square.
        self.resize: int | None = preprocessing.get("resize")
        self.preprocess = BatchPreprocessor(
            preprocessing["mean"],
            preprocessing["std"],
            channels=self.channels,
            image_size=self.image_size,
            resize=self.resize,
        )
        self.class_names: list[str] = list(model.class_names)
        self.flip_tta = flip_tta  # average each image's probabilities with its mirror image's

    @classmethod
    def from_checkpoint(
        cls, path: str | Path, device: str | torch.device = "auto", flip_tta: bool = False
    ) -> "Predictor":
        from ..checkpoints.file import load_checkpoint

        if str(device) == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        elif str(device).startswith("cuda") and not torch.cuda.is_available():
            raise ConfigError(
                f"device={device}, but PyTorch sees no GPU here; use device=auto or device=cpu."
            )
        checkpoint = load_checkpoint(path)  # a missing or damaged file is one clear message
        return cls(ImageClassifier.from_checkpoint(checkpoint), device, flip_tta)

    def to_pixels(self, image: Any) -> torch.Tensor:
        """A path, a PIL image or a uint8 `[C, H, W]` tensor -> uint8 `[C, size, size]`, as evaluated.

        The resize rule is the checkpoint's: the whole image squeezed to the square (in-memory
        training), or the shorter side to `resize` and the centre crop (streamed training).
        """
        from ..data.image_files import decode_image, to_channels_and_size

        if isinstance(image, torch.Tensor):
            return image
        if isinstance(image, str | Path):
            pixels = decode_image(Path(image), self.channels, self.image_size, self.resize)
        else:
            pixels = to_channels_and_size(image, self.channels, self.image_size, self.resize)
        return torch.tensor(pixels)  # a copy: Pillow's arrays are read-only

    @torch.no_grad()
    def probabilities(self, pixels: torch.Tensor) -> torch.Tensor:
        """uint8 `[B, C, size, size]` -> class probabilities `[B, num_classes]`."""
        images = self.preprocess(pixels.to(self.device), training=False)
        if self.model.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        if self.flip_tta:
            return flip_averaged_probabilities(self.model, images)
        return self.model(images).float().softmax(dim=-1)

    def classify(self, images: Sequence[Any], top_k: int = 3) -> list[dict[str, Any]]:
        """`{"label", "confidence", "top_k": [[name, probability], ...]}` for each image."""
        pixels = torch.stack([self.to_pixels(image) for image in images])
        return self.describe(self.probabilities(pixels), top_k)

    def describe(self, probabilities: torch.Tensor, top_k: int) -> list[dict[str, Any]]:
        values, indices = probabilities.topk(min(top_k, probabilities.shape[-1]), dim=-1)
        return [
            {
                "label": self.class_names[i[0]],
                "confidence": v[0],
                "top_k": [[self.class_names[c], p] for c, p in zip(i, v)],
            }
            for v, i in zip(values.tolist(), indices.tolist())
        ]
