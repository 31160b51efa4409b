"""The `Predictor` API for a `model.onnx` from export.py, run by onnxruntime (`pip install -e ".[export]"`).

predictor = OnnxPredictor.from_file("logs/train/runs/<run>/model.onnx")
predictor.classify(["shoe.png", pil_image], top_k=3)   # as Predictor.classify, without the checkpoint
"""

import json
from pathlib import Path
from typing import Any

import torch

from ..errors import DataError, MissingFileError, UserError
from .predictor import Predictor

METADATA = ("class_names", "image_size", "channels")  # what export.py writes beside the graph


class OnnxPredictor:
    """An exported model: its graph normalises the uint8 pixels itself and returns probabilities."""

    # Decoding an image and describing probabilities need only the channels, the image size and the
    # class names, which the ONNX metadata holds: Predictor's own code, so both decode alike.
    to_pixels = Predictor.to_pixels
    describe = Predictor.describe
    classify = Predictor.classify

    def __init__(self, session: Any, metadata: dict[str, str]) -> None:
        self.session = session
        self.class_names: list[str] = json.loads(metadata["class_names"])
        self.channels, self.image_size = int(metadata["channels"]), int(metadata["image_size"])
        # Written by export.py since streamed training; absent before, when images were squeezed whole.
        self.resize: int | None = json.loads(metadata.get("resize", "null"))

    @classmethod
    def from_file(cls, path: str | Path, device: str = "cpu") -> "OnnxPredictor":
        """Load `path`; `device` "cuda..." runs it on the GPU when onnxruntime has the CUDA provider."""
        try:
            import onnxruntime
        except ImportError:
            raise UserError('Serving model.onnx needs onnxruntime: pip install -e ".[export]".') from None
        path = Path(path).expanduser()
        if path.is_dir():
            found = sorted(path.glob("*.onnx"))
            hint = f"e.g. model_path={found[0]}" if found else "it holds no .onnx file"
            raise DataError(f"model_path={path} is a folder, not an ONNX model file: {hint}.")
        if not path.is_file():
            raise MissingFileError(f"{path} does not exist; write one with python export.py ckpt_path=...")
        wanted = ["CUDAExecutionProvider"] if str(device).startswith("cuda") else []
        providers = [p for p in wanted if p in onnxruntime.get_available_providers()]
        try:
            session = onnxruntime.InferenceSession(str(path), providers=[*providers, "CPUExecutionProvider"])
        except Exception as error:  # onnxruntime raises its own types for foreign or damaged bytes
            reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise DataError(f"{path} is not an ONNX model onnxruntime can load ({reason}).") from None
        metadata = session.get_modelmeta().custom_metadata_map
        missing = [key for key in METADATA if key not in metadata]
        if missing:
            raise DataError(
                f"{path} lacks the metadata export.py writes ({', '.join(missing)}); export it again "
                "with python export.py ckpt_path=..."
            )
        return cls(session, metadata)

    def probabilities(self, pixels: torch.Tensor) -> torch.Tensor:
        """uint8 `[B, C, size, size]` -> class probabilities `[B, num_classes]`."""
        [probabilities] = self.session.run(["probabilities"], {"images": pixels.cpu().numpy()})
        return torch.from_numpy(probabilities)
