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
from ..inference.inputs import label_indices, list_inputs

log = logging.getLogger(__name__)
CHUNK = 4096  # images decoded at once: bounds memory on large folders


def predict(cfg: DictConfig) -> dict[str, Any]:
    """Classify `cfg.input`; write predictions.csv (and metrics.json when labels are given)."""
    import torch
    from hydra.core.hydra_config import HydraConfig
    from rich.progress import MofNCompleteColumn, Progress

    from ..atomic_files import atomic_write_json, atomic_write_text
    from ..data.image_cache import decode_all
    from ..inference.predictor import Predictor

    if int(cfg.top_k) < 1 or int(cfg.batch_size) < 1:
        raise ConfigError(f"top_k={cfg.top_k} and batch_size={cfg.batch_size} must be positive integers.")
    if cfg.on_bad_images not in ("skip", "error"):
        raise ConfigError(f"on_bad_images must be skip or error, got {cfg.on_bad_images!r}.")
    predictor = Predictor.from_checkpoint(cfg.ckpt_path, cfg.device, bool(cfg.get("flip_tta", False)))
    files, labels = list_inputs(Path(cfg.input).expanduser().resolve(), cfg.get("csv"))
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
            )
            bad += [(chunk[i], reason) for i, reason in sorted(failures.items())]
            keep = [i for i in range(len(chunk)) if i not in failures]
            batch = torch.from_numpy(pixels[keep])
            for part in batch.split(int(cfg.batch_size)):
                probabilities.append(predictor.probabilities(part).cpu())
            rows += [start + i for i in keep]
    _report_bad_images(bad, cfg.on_bad_images)
    probabilities = torch.cat(probabilities) if probabilities else torch.zeros(0, len(predictor.class_names))
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
        summary["metrics"] = _accuracy_and_f1(probabilities, torch.tensor(true), len(predictor.class_names))
        log.info("accuracy %.4f, macro-F1 %.4f on %d images", *summary["metrics"].values(), len(rows))
        atomic_write_json(run_dir / "metrics.json", summary)
    log.info("Predictions for %d images in %s", len(rows), output)
    return summary


def _report_bad_images(bad: list[tuple[Path, str]], on_bad_images: str) -> None:
    if not bad:
        return
    lines = [f"{len(bad)} unreadable images:"] + [f"  {path}: {reason}" for path, reason in bad[:10]]
    if len(bad) > 10:
        lines.append(f"  ... and {len(bad) - 10} more")
    if on_bad_images == "error":
        raise DataError("\n".join(lines) + "\nRemove or fix them, or skip them with on_bad_images=skip.")
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


def _accuracy_and_f1(probabilities, true, num_classes: int) -> dict[str, float]:
    """The same metrics, computed the same way, as the test stage of train.py and eval.py."""
    from torchmetrics.classification import MulticlassAccuracy, MulticlassF1Score

    return {
        "test/acc": float(MulticlassAccuracy(num_classes, average="micro")(probabilities, true)),
        "test/f1": float(MulticlassF1Score(num_classes, average="macro")(probabilities, true)),
    }


main = task_main(predict, config_name="predict", what="Prediction")

if __name__ == "__main__":  # python -m lightning_hydra_template.tasks.predict, as from a wheel
    main()
