"""Export task: a checkpoint as ONNX or a torch.export program, checked against PyTorch before it counts.

python export.py ckpt_path=logs/train/runs/<run>/checkpoints/best.ckpt format=onnx
python export.py ckpt_path=... format=torch output=/models/fashion.pt2
"""

import io
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from ..config.entry import task_main
from ..errors import ConfigError, UserError

log = logging.getLogger(__name__)
SUFFIX = {"onnx": ".onnx", "torch": ".pt2"}


class ParityError(UserError):
    """The exported model does not compute what the PyTorch model computes."""


def export(cfg: DictConfig) -> dict[str, Any]:
    """Write the exported model, check its parity on evaluation images, return the figures."""
    import torch

    from ..config.checks import check_config
    from ..inference.exportable import PixelsToProbabilities
    from ..inference.predictor import Predictor
    from ..run.resume import run_folder_of

    check_config(cfg)
    if cfg.format not in SUFFIX:
        raise ConfigError(f"format={cfg.format!r}: choose onnx or torch.")
    checkpoint = Path(cfg.ckpt_path).expanduser().resolve()
    predictor = Predictor.from_checkpoint(checkpoint, device="cpu")
    module = PixelsToProbabilities(predictor).eval()
    run_dir = run_folder_of(checkpoint)
    output = output_path(cfg, run_dir or checkpoint.parent)
    example = torch.zeros(
        2, predictor.channels, predictor.image_size, predictor.image_size, dtype=torch.uint8
    )
    metadata = model_metadata(predictor)
    write = write_onnx if cfg.format == "onnx" else write_program
    # Checked under a temporary name, renamed only when it passes: a model that fails its parity
    # check never sits where a deployment would pick it up.
    unchecked = output.with_name(f".{output.stem}.unchecked{output.suffix}")
    try:
        run_exported = write(module, example, unchecked, metadata)
        images = parity_images(run_dir, predictor, int(cfg.parity_images))
        with torch.no_grad():
            expected = module(images)
        figures = check_parity(expected, run_exported(images), float(cfg.max_abs_diff))
        os.replace(unchecked, output)
    finally:
        unchecked.unlink(missing_ok=True)
    log.info(
        "Exported %s; parity on %d images: max |diff| %.2e, top-1 agreement %d/%d",
        output, len(images), figures["max_abs_diff"], figures["top1_agree"], len(images),
    )  # fmt: skip
    return {"output": str(output), "format": cfg.format, **figures}


def output_path(cfg: DictConfig, folder: Path) -> Path:
    """Where the exported model goes: `output`, or `model.onnx` / `model.pt2` in `folder` (the run's)."""
    output = Path(cfg.output).expanduser() if cfg.output else folder / f"model{SUFFIX[cfg.format]}"
    if output.suffix != SUFFIX[cfg.format]:
        raise ConfigError(f"output={cfg.output} must end in {SUFFIX[cfg.format]} for format={cfg.format}.")
    output.parent.mkdir(parents=True, exist_ok=True)
    return output


def model_metadata(predictor) -> dict[str, str]:
    """What a runtime needs beside the exported graph to prepare images and name classes."""
    from ..data.image_files import DECODING

    return {
        "class_names": json.dumps(predictor.class_names),
        "image_size": str(predictor.image_size),
        "channels": str(predictor.channels),
        "resize": json.dumps(predictor.resize),  # how an image becomes the square: OnnxPredictor.to_pixels
        "decoding": DECODING,
    }


def write_onnx(module, example, output: Path, metadata: dict[str, str]) -> Callable:
    """`model.onnx`: input `images` uint8 with a dynamic batch, output `probabilities`, metadata."""
    import onnx
    import torch

    from ..atomic_files import atomic_write_bytes

    # onnxscript's optimizer logs a line at INFO for each constant it folds (11 for a small CNN):
    # under Hydra's INFO root logger they buried the export's own lines.
    logging.getLogger("onnxscript").setLevel(logging.WARNING)
    batch = torch.export.Dim("batch", min=1)
    program = torch.onnx.export(
        module,
        (example,),
        input_names=["images"],
        output_names=["probabilities"],
        dynamic_shapes={"images": {0: batch}},
        dynamo=True,
        verbose=False,
    )
    model = program.model_proto
    for key, value in metadata.items():
        model.metadata_props.add(key=key, value=value)
    atomic_write_bytes(output, model.SerializeToString())
    onnx.checker.check_model(str(output))
    return lambda images: run_onnx(output, images)


def run_onnx(path: Path, images):
    import onnxruntime
    import torch

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    [probabilities] = session.run(["probabilities"], {"images": images.numpy()})
    return torch.from_numpy(probabilities)


def write_program(module, example, output: Path, metadata: dict[str, str]) -> Callable:
    """`model.pt2`: a `torch.export` program with the same contract; metadata as extra files."""
    import torch

    from ..atomic_files import atomic_write_bytes

    program = torch.export.export(
        module, (example,), dynamic_shapes={"images": {0: torch.export.Dim("batch")}}
    )
    extra = {f"{key}.txt": value for key, value in metadata.items()}
    # Saved into memory, then written: torch's zip writer, failing on a full disk, throws again from
    # its destructor at exit, which aborts the process (exit 134) after the one-line error.
    buffer = io.BytesIO()
    torch.export.save(program, buffer, extra_files=extra)
    atomic_write_bytes(output, buffer.getvalue())

    def run_program(images):
        loaded = torch.export.load(str(output)).module()
        with torch.no_grad():
            return loaded(images)

    return run_program


def parity_images(run_dir: Path | None, predictor, count: int):
    """Real evaluation images: the run's test split, rebuilt from its saved config when present."""
    import torch
    from omegaconf import OmegaConf

    from ..config.builders import build
    from ..config.moved_keys import with_moved_keys

    if run_dir is not None:
        datamodule = build(with_moved_keys(OmegaConf.load(run_dir / ".hydra" / "config.yaml")).data)
        datamodule.prepare_data()
        datamodule.setup("test")
        # Through the test loader, so a streamed dataset gives its images as it evaluates them.
        images, taken = [], 0
        for batch, _ in datamodule.test_dataloader():
            images.append(batch)
            taken += len(batch)
            if taken >= count:
                break
        return model_sized(torch.cat(images)[:count], predictor.channels, predictor.image_size)
    log.warning("No run config for this checkpoint: checking parity on random pixels, not test images.")
    shape = (count, predictor.channels, predictor.image_size, predictor.image_size)
    return torch.randint(0, 256, shape, dtype=torch.uint8, generator=torch.Generator().manual_seed(0))


def model_sized(images, channels: int, size: int):
    """uint8 images as the exported model takes them: `channels` channels, `size` px square.

    A dataset may keep its images smaller than the network's input (FashionMNIST's 28 px for a
    224 px backbone) and grey, and resize and repeat them per batch; the export takes them done.
    """
    import torch
    from torch.nn import functional as F

    if images.shape[1] != channels:
        images = images.expand(-1, channels, -1, -1)
    if images.shape[-2:] != (size, size):
        resized = F.interpolate(images.float(), size=(size, size), mode="bilinear", antialias=True)
        images = resized.round().clamp(0, 255).to(torch.uint8)
    return images


def check_parity(expected, actual, max_abs_diff: float) -> dict[str, Any]:
    """Largest probability difference and top-1 agreement; a ParityError when either falls short."""
    difference = float((expected - actual).abs().max())
    agree = int((expected.argmax(-1) == actual.argmax(-1)).sum())
    # `not <=`: a NaN difference (an output of NaN) fails, where `difference > max_abs_diff` is False.
    if not difference <= max_abs_diff or agree != len(expected):
        raise ParityError(
            f"The exported model disagrees with PyTorch: max |diff| {difference:.2e} "
            f"(allowed {max_abs_diff:.0e}), top-1 agreement {agree}/{len(expected)}. The export was not "
            "accepted; check the network for operations the exporter does not support."
        )
    return {"max_abs_diff": difference, "top1_agree": agree, "parity_images": len(expected)}


main = task_main(export, config_name="export", what="Export")

if __name__ == "__main__":  # python -m lightning_hydra_template.tasks.export, as from a wheel
    main()
