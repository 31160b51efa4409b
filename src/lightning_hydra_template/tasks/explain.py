"""Explanation task: which pixels a checkpoint's predictions rest on, as pictures and in TensorBoard.

python explain.py ckpt_path=logs/train/runs/<run>/checkpoints/best.ckpt input=/data/new_photos
python explain.py ckpt_path=... input=/data/pets/labels.csv method=occlusion target=true
python explain.py ckpt_path=... input=one_image.jpg method=saliency output=explained/
"""

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from omegaconf import DictConfig

from ..config.entry import task_main
from ..errors import ConfigError, DataError
from ..inference.inputs import label_indices, list_inputs

if TYPE_CHECKING:  # heavy imports stay out of `python explain.py --help`
    import numpy as np
    import torch

    from ..inference.predictor import Predictor

log = logging.getLogger(__name__)
GRID = 16  # figures per TensorBoard image grid (one step of the tag each): bounds the memory held


def explain(cfg: DictConfig) -> dict[str, Any]:
    """Write `<n>_<image>.png` per image and TensorBoard grids under `explain/<method>`; return figures."""
    from hydra.core.hydra_config import HydraConfig

    from ..inference.attribution import occlusion_settings
    from ..inference.predictor import Predictor

    target_class = _checked_options(cfg)
    predictor = Predictor.from_checkpoint(cfg.ckpt_path, cfg.device)
    if cfg.method == "occlusion":  # a window that cannot work says so before any image is read
        occlusion_settings(predictor.image_size, cfg.occlusion.window, cfg.occlusion.stride)
    files, true, refused = _inputs(cfg, predictor, target_class)
    output = Path(cfg.output).expanduser() if cfg.output else Path(HydraConfig.get().runtime.output_dir)
    output.mkdir(parents=True, exist_ok=True)

    started = time.perf_counter()
    written, unreadable, deltas = _write_explanations(cfg, predictor, files, true, target_class, output)
    unreadable = refused + unreadable
    if unreadable:
        log.warning("Skipped %d unreadable images:\n  %s", len(unreadable), "\n  ".join(unreadable[:10]))
    if not written:
        raise DataError(f"None of the {len(files)} images of input={cfg.input} could be read.")
    summary: dict[str, Any] = {
        "checkpoint": str(cfg.ckpt_path),
        "method": cfg.method,
        "images": len(written),
        "unreadable": len(unreadable),
        "pngs": written,
        "tensorboard": str(output / "tensorboard"),
        "seconds_per_image": (time.perf_counter() - started) / len(written),
    }
    if deltas:
        summary["max_abs_convergence_delta"] = max(deltas)
        log.info(
            "Integrated gradients: the attributions add up to the logit's change from black within %.3g "
            "(more integrated_gradients.n_steps: closer)",
            max(deltas),
        )
    log.info(
        "Explained %d images with %s in %.2f s each: %s (TensorBoard: tag explain/%s in %s)",
        len(written), cfg.method, summary["seconds_per_image"], output, cfg.method, summary["tensorboard"],
    )  # fmt: skip
    return summary


def _checked_options(cfg: DictConfig) -> str:
    """Refuse what cannot work before the checkpoint loads; the target class: predicted or true."""
    from ..config.checks import check_config
    from ..inference.attribution import METHODS, require_captum

    require_captum()  # before the checkpoint loads: the install line is the first thing said
    check_config(cfg)
    if cfg.method not in METHODS:
        raise ConfigError(f"method={cfg.method!r}: choose one of {', '.join(METHODS)}.")
    target_class = str(cfg.target).lower()  # `target=true` on the command line arrives as a boolean
    if target_class not in ("predicted", "true"):
        raise ConfigError(f"target={cfg.target}: choose predicted or true (needs labels).")
    counts = {
        "max_images": cfg.max_images,
        "top_k": cfg.top_k,
        "batch_size": cfg.batch_size,
        "integrated_gradients.n_steps": cfg.integrated_gradients.n_steps,
    }
    for key, value in counts.items():
        if int(value) < 1:
            raise ConfigError(f"{key}={value} must be a positive integer.")
    return target_class


def _inputs(
    cfg: DictConfig, predictor: "Predictor", target_class: str
) -> tuple[list[Path], list[int] | None, list[str]]:
    """The first `max_images` input files, from a labelled CSV their class indices, and the CSV rows
    refused (a path outside its folder), as `file: reason`."""
    inputs = list_inputs(Path(cfg.input).expanduser().resolve(), cfg.get("csv"))
    files, labels = inputs.files, inputs.labels
    if len(files) > cfg.max_images:
        log.info("Explaining the first %d of %d images (max_images)", cfg.max_images, len(files))
    files = files[: cfg.max_images]
    true = label_indices(labels[: cfg.max_images], predictor.class_names) if labels else None
    if target_class == "true" and true is None:
        raise ConfigError("target=true needs labels: give a CSV with a label column, or target=predicted.")
    return files, true, [f"{file}: {reason}" for file, reason in inputs.refused]


def _write_explanations(
    cfg: DictConfig,
    predictor: "Predictor",
    files: list[Path],
    true: list[int] | None,
    target_class: str,
    output: Path,
) -> tuple[list[str], list[str], list[float]]:
    """A PNG per image and TensorBoard grids of `GRID`; (PNGs written, unreadable files, IG deltas)."""
    import numpy as np
    import torch
    from rich.progress import MofNCompleteColumn, Progress
    from torch.utils.tensorboard import SummaryWriter

    tag = f"explain/{cfg.method}"
    written, unreadable, grid, deltas = [], [], [], []
    steps = 0  # TensorBoard grids written: the step of the next one
    with (
        SummaryWriter(str(output / "tensorboard")) as writer,
        Progress(*Progress.get_default_columns(), MofNCompleteColumn(), transient=True) as progress,
    ):
        task = progress.add_task(f"Explaining {len(files)} images ({cfg.method})", total=len(files))
        for i, file in enumerate(files):
            progress.advance(task)
            try:
                pixels = predictor.to_pixels(file)
            except (OSError, ValueError) as error:  # missing, unreadable or not an image
                unreadable.append(f"{file}: {error}")
                continue
            label = None if true is None else true[i]
            target = None if target_class == "predicted" else torch.tensor([label])
            picture, delta = _explain_one(cfg, predictor, pixels, target, file, label)
            path = output / f"{i:0{len(str(len(files) - 1))}d}_{file.stem}.png"
            _save_png(picture, path)
            written.append(str(path))
            deltas += [] if delta is None else [delta]
            grid.append(picture)
            if len(grid) == GRID:
                writer.add_images(tag, np.stack(grid), global_step=steps, dataformats="NHWC")
                grid, steps = [], steps + 1
        if grid:
            writer.add_images(tag, np.stack(grid), global_step=steps, dataformats="NHWC")
    return written, unreadable, deltas


def _explain_one(
    cfg: DictConfig,
    predictor: "Predictor",
    pixels: "torch.Tensor",
    target: "torch.Tensor | None",
    file: Path,
    true: int | None,
) -> tuple["np.ndarray", float | None]:
    """The picture of one image's attribution, and integrated gradients' |convergence delta| (or None)."""
    from ..inference.attribution import attribute, reads_rows_as_steps
    from ..inference.attribution_figure import explanation_figure

    result = attribute(
        predictor,
        pixels[None],
        cfg.method,
        targets=target,
        n_steps=int(cfg.integrated_gradients.n_steps),
        window=cfg.occlusion.window,
        stride=cfg.occlusion.stride,
        batch_size=int(cfg.batch_size),
    )
    [described] = predictor.describe(result.probabilities, int(cfg.top_k))
    names = predictor.class_names
    predicted = f"predicted {described['label']} ({described['confidence']:.1%})"
    heading = [predicted + ("" if true is None else f", true {names[true]}")]
    top = described["top_k"]
    heading.append(f"top {len(top)}: " + ", ".join(f"{name} {p:.1%}" for name, p in top))
    heading.append(f"for class {names[int(result.targets[0])]} | {_short(file.name)}")
    picture = explanation_figure(
        pixels.numpy(),
        result.attributions[0].numpy(),
        cfg.method,
        heading,
        # The row LSTM gets the same pixel map as the other networks: each pixel is one input feature
        # of its row's time step, so its attribution is as exact as a CNN's pixel's. Each row's sum
        # is shown beside it too: for a sequence model, which steps mattered is the first question.
        per_row=reads_rows_as_steps(predictor.model),
        highlight=true is not None and names[true] != described["label"],
    )
    return picture, None if result.delta is None else float(result.delta.abs().max())


def _short(name: str, limit: int = 40) -> str:
    return name if len(name) <= limit else name[: limit - 3] + "..."


def _save_png(picture: "np.ndarray", path: Path) -> None:
    from PIL import Image

    Image.fromarray(picture).save(path)


main = task_main(explain, config_name="explain", what="Explanation")

if __name__ == "__main__":  # python -m lightning_hydra_template.tasks.explain, as from a wheel
    main()
