"""Prediction task: classify new images with a checkpoint, as it was evaluated; write predictions.csv.

python predict.py ckpt_path=logs/train/runs/<run>/checkpoints/best.ckpt input=/data/new_photos
python predict.py ckpt_path=... input=/data/pets/labels.csv        # labels too: accuracy and macro-F1
python predict.py ckpt_path=... input=one_image.jpg top_k=5 output=preds.csv
"""

import csv
import io
import logging
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from ..config.entry import task_main
from ..errors import ConfigError, DataError
from ..inference.inputs import Inputs, label_indices, list_inputs

log = logging.getLogger(__name__)
CHUNK = 4096  # images decoded at once: bounds memory on large folders


def predict(cfg: DictConfig) -> dict[str, Any]:
    """Classify `cfg.input`; write predictions.csv (and metrics.json when labels are given)."""
    import torch
    from hydra.core.hydra_config import HydraConfig

    from ..atomic_files import atomic_write_json, atomic_write_text
    from ..config.checks import check_config
    from ..inference.predictor import Predictor

    check_config(cfg)
    if cfg.on_bad_images not in ("skip", "error"):
        raise ConfigError(f"on_bad_images must be skip or error, got {cfg.on_bad_images!r}.")
    predictor = Predictor.from_checkpoint(cfg.ckpt_path, cfg.device, bool(cfg.get("flip_tta", False)))
    inputs = list_inputs(Path(cfg.input).expanduser().resolve(), cfg.get("csv"))
    files, labels = inputs.files, inputs.labels
    rows, probabilities, undecodable = _classify(files, predictor, cfg)
    bad = [*inputs.refused, *undecodable]
    _report_bad_images(bad, cfg.on_bad_images, inputs, predicted=len(rows))
    described = predictor.describe(probabilities, int(cfg.top_k))
    true = label_indices([labels[i] for i in rows], predictor.class_names) if labels else None

    run_dir = Path(HydraConfig.get().runtime.output_dir)
    output = Path(cfg.output).expanduser() if cfg.output else run_dir / "predictions.csv"
    output.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(
        output, _predictions_csv([files[i] for i in rows], described, true, predictor.class_names)
    )
    summary: dict[str, Any] = {
        "checkpoint": str(cfg.ckpt_path),
        "predictions": str(output),
        "images": len(rows),
    }
    summary["unreadable"] = len(bad)
    if true is not None and rows:
        summary["metrics"] = _accuracy_and_f1(
            probabilities, torch.tensor(true), len(predictor.class_names), int(cfg.top_k)
        )
        log.info(
            "On %d images: %s", len(rows), ", ".join(f"{k} {v:.4f}" for k, v in summary["metrics"].items())
        )
        atomic_write_json(run_dir / "metrics.json", summary)
    log.info("Predictions for %d images in %s", len(rows), output)
    return summary


def _classify(files: list[Path], predictor, cfg: DictConfig) -> tuple[list[int], Any, list[tuple[Path, str]]]:
    """Decode and classify `files` in chunks, with a progress bar.

    Returns the indices of the files classified, their class probabilities (one row each) and
    `(file, reason)` for each file that could not be decoded.
    """
    import torch
    from rich.progress import MofNCompleteColumn, Progress

    from ..data.image_cache import decode_all

    rows, probabilities, bad = [], [], []
    with Progress(*Progress.get_default_columns(), MofNCompleteColumn(), transient=True) as progress:
        task = progress.add_task(f"Classifying {len(files)} images", total=len(files))
        for start in range(0, len(files), CHUNK):
            chunk = files[start : start + CHUNK]
            pixels, failures = decode_all(
                chunk,
                predictor.channels,
                predictor.image_size,
                cfg.decode_workers,
                advance=lambda n: progress.advance(task, n),
                resize=predictor.resize,
            )
            bad += [(chunk[i], reason) for i, reason in sorted(failures.items())]
            keep = [i for i in range(len(chunk)) if i not in failures]
            for part in torch.from_numpy(pixels[keep]).split(int(cfg.batch_size)):
                probabilities.append(predictor.probabilities(part).cpu())
            rows += [start + i for i in keep]
    empty = torch.zeros(0, len(predictor.class_names))
    return rows, torch.cat(probabilities) if probabilities else empty, bad


def _report_bad_images(
    bad: list[tuple[Path, str]], on_bad_images: str, inputs: Inputs, predicted: int
) -> None:
    """A warning listing the images not classified; an error with on_bad_images=error or when none was.

    When most of a CSV's files are missing, the folder they were looked up in and csv.image_dir are
    named: the paths are relative to another folder (images-to-csv writes them relative to the images).
    """
    if not bad:
        return
    lines = [f"{len(bad)} unreadable images:"] + [f"  {path}: {reason}" for path, reason in bad[:10]]
    if len(bad) > 10:
        lines.append(f"  ... and {len(bad) - 10} more")
    if inputs.mostly_missing:
        lines.append(
            f"Most files were looked up under {inputs.image_dir} and are not there: if the CSV's paths "
            "are relative to another folder, give it as csv.image_dir=<that folder>."
        )
    if on_bad_images == "error":
        raise DataError("\n".join(lines) + "\nRemove or fix them, or skip them with on_bad_images=skip.")
    if not predicted:
        raise DataError("\n".join(lines) + "\nNo image was classified: nothing to write.")
    log.warning("Skipping %s", "\n".join(lines))


def _predictions_csv(
    files: list[Path], described: list[dict], true: list[int] | None, names: list[str]
) -> str:
    top_k = len(described[0]["top_k"]) if described else 0
    header = ["file", "label", "confidence"]
    header += [f"top{k}_{what}" for k in range(1, top_k + 1) for what in ("label", "probability")]
    header += ["true_label"] if true is not None else []
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(header)
    for n, (file, row) in enumerate(zip(files, described)):
        top = [value for name, p in row["top_k"] for value in (name, f"{p:.6f}")]
        extra = [names[true[n]]] if true is not None else []
        writer.writerow([str(file), row["label"], f"{row['confidence']:.6f}", *top, *extra])
    return text.getvalue()


def _accuracy_and_f1(probabilities, true, num_classes: int, top_k: int) -> dict[str, float]:
    """Accuracy and macro-F1 computed as the test stage of train.py and eval.py computes them, and
    the top-k accuracy of the `top_k` classes predictions.csv lists; named `predict/...`, since the
    images are the input's, not a test split."""
    from torchmetrics.classification import MulticlassAccuracy, MulticlassF1Score

    k = min(top_k, num_classes)
    return {
        "predict/acc": float(MulticlassAccuracy(num_classes, average="micro")(probabilities, true)),
        "predict/f1": float(MulticlassF1Score(num_classes, average="macro")(probabilities, true)),
        f"predict/top{k}_acc": float(
            MulticlassAccuracy(num_classes, top_k=k, average="micro")(probabilities, true)
        ),
    }


main = task_main(predict, config_name="predict", what="Prediction")

if __name__ == "__main__":  # python -m lightning_hydra_template.tasks.predict, as from a wheel
    main()
