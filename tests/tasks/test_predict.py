"""predict.py and the Predictor API: new images classified exactly as the model was evaluated."""

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from lightning_hydra_template.data.batch_transforms import BatchPreprocessor
from lightning_hydra_template.errors import DataError, StorageError
from lightning_hydra_template.inference.predictor import Predictor
from lightning_hydra_template.models.classifier import ImageClassifier
from lightning_hydra_template.tasks.predict import predict
from lightning_hydra_template.tasks.train import train

from ..helpers import fake_images, fill, run

CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)


@pytest.fixture
def checkpoint(compose_config) -> Path:
    summary = train(
        compose_config(["experiment=cnn", "model.net.channels=[8,16]", "model.net.hidden_size=16"])
    )
    return Path(summary["best_checkpoint"])


@pytest.fixture
def new_images(tmp_path) -> tuple[Path, np.ndarray, np.ndarray]:
    """30 PNGs in nested folders, a labels.csv naming their classes, and one file that is not an image."""
    labels = np.arange(30) % 10
    pixels = fake_images(labels, seed=7)
    root = tmp_path / "new"
    lines = ["file,label"]
    for i, (image, label) in enumerate(zip(pixels, labels)):
        path = root / f"batch{i % 3}" / f"{i:02d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image, "L").save(path)
        lines.append(f"{path.relative_to(root)},{CLASSES[label]}")
    (root / "labels.csv").write_text("\n".join(lines) + "\n")
    return root, pixels, labels


def predict_with(compose_config, checkpoint: Path, source: Path, *overrides: str) -> dict:
    cfg = compose_config([f"ckpt_path={checkpoint}", f"input={source}", *overrides], "predict", fast=False)
    return predict(cfg)


def evaluated_as_in_training(checkpoint: Path, pixels: np.ndarray) -> torch.Tensor:
    model = ImageClassifier.load_from_checkpoint(checkpoint, map_location="cpu").eval()
    p = model.hparams.preprocessing
    images = BatchPreprocessor(p["mean"], p["std"])(torch.from_numpy(pixels)[:, None], training=False)
    with torch.no_grad():
        return model(images.contiguous(memory_format=torch.channels_last)).softmax(-1)


def test_a_labelled_csv_gives_predictions_and_the_accuracy_eval_would(compose_config, checkpoint, new_images):
    root, pixels, labels = new_images
    summary = predict_with(compose_config, checkpoint, root / "labels.csv")
    with open(summary["predictions"]) as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 30
    assert set(rows[0]) >= {"file", "label", "confidence", "top3_label", "top3_probability", "true_label"}
    expected = evaluated_as_in_training(checkpoint, pixels)
    assert [r["label"] for r in rows] == [CLASSES[i] for i in expected.argmax(-1).tolist()]
    accuracy = (expected.argmax(-1) == torch.from_numpy(labels)).float().mean().item()
    assert summary["metrics"]["predict/acc"] == pytest.approx(accuracy)
    top3 = (expected.topk(3, dim=-1).indices == torch.from_numpy(labels)[:, None]).any(-1).float().mean()
    assert summary["metrics"]["predict/top3_acc"] == pytest.approx(top3.item())
    written = json.loads((Path(summary["predictions"]).parent / "metrics.json").read_text())
    assert written["metrics"] == summary["metrics"]


def test_a_csv_in_another_form_is_read_as_the_csv_datamodule_would(compose_config, checkpoint, new_images):
    """Named columns in another order, images in a folder of their own: as `data.*` would say it."""
    root, _, labels = new_images
    lines = ["class,path"] + [f"{CLASSES[y]},{i:02d}.png" for i, y in enumerate(labels)]
    flat = root / "flat"
    flat.mkdir()
    for i in range(len(labels)):
        (flat / f"{i:02d}.png").write_bytes((root / f"batch{i % 3}" / f"{i:02d}.png").read_bytes())
    csv_path = root / "elsewhere.csv"
    csv_path.write_text("\n".join(lines) + "\n")
    form = ["csv.file_column=path", "csv.label_column=class", f"csv.image_dir={flat}"]
    named = predict_with(compose_config, checkpoint, csv_path, *form)
    as_trained = predict_with(compose_config, checkpoint, root / "labels.csv")
    assert named["images"] == 30 and named["metrics"] == as_trained["metrics"]

    unlabelled = predict_with(
        compose_config, checkpoint, csv_path, *form[:1], "csv.label_column=null", form[2]
    )
    assert "metrics" not in unlabelled and unlabelled["images"] == 30


def test_a_folder_is_searched_recursively_and_unreadable_files_are_reported(
    compose_config, checkpoint, new_images, caplog
):
    root, _, _ = new_images
    (root / "batch1" / "broken.png").write_bytes(b"not a png")
    summary = predict_with(compose_config, checkpoint, root, "top_k=5")
    assert summary["images"] == 30 and summary["unreadable"] == 1
    assert "broken.png" in caplog.text
    with pytest.raises(DataError, match=r"(?s)1 unreadable images:.*broken.png"):
        predict_with(compose_config, checkpoint, root, "on_bad_images=error")


def test_a_csv_follows_the_datamodules_path_rule_and_opens_nothing_outside_its_folder(
    compose_config, checkpoint, new_images, caplog
):
    root, _, _ = new_images
    outside = root.parent / "outside.png"
    outside.write_bytes((root / "batch0" / "00.png").read_bytes())
    csv_path = root / "labels.csv"
    with open(csv_path, "a") as f:
        f.write("/etc/passwd,Bag\n../outside.png,Bag\n")
    summary = predict_with(compose_config, checkpoint, csv_path)
    assert summary["images"] == 30 and summary["unreadable"] == 2
    assert (
        "/etc/passwd: path outside image_dir: absolute path; give it relative to csv.image_dir" in caplog.text
    )
    assert "outside.png: path outside image_dir: `..` leads out of csv.image_dir" in caplog.text
    predicted = Path(summary["predictions"]).read_text()
    assert "passwd" not in predicted and "outside.png" not in predicted


def test_nothing_classified_is_an_error_and_a_csv_of_another_folder_names_it(
    compose_config, checkpoint, new_images
):
    root, _, _ = new_images
    broken = root / "broken"
    broken.mkdir()
    (broken / "a.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match="No image was classified"):
        predict_with(compose_config, checkpoint, broken)
    # A CSV of paths relative to the image folder, moved out of it, loses them.
    moved = root.parent / "labels.csv"
    moved.write_text((root / "labels.csv").read_text())
    with pytest.raises(DataError) as raised:
        predict_with(compose_config, checkpoint, moved)
    message = str(raised.value)
    assert f"Most files were looked up under {root.parent} and are not there" in message
    assert "csv.image_dir=<that folder>" in message and "No image was classified" in message
    assert predict_with(compose_config, checkpoint, moved, f"csv.image_dir={root}")["images"] == 30


def test_a_full_disk_is_one_line_naming_the_predictions_file(
    compose_config, checkpoint, new_images, small_file_system
):
    root, _, _ = new_images
    disk = small_file_system("1m")
    fill(disk)
    with pytest.raises(StorageError, match="Could not write .*preds.csv .No space left on device") as raised:
        predict_with(compose_config, checkpoint, root, f"output={disk / 'preds.csv'}")
    assert "\n" not in str(raised.value) and sorted(p.name for p in disk.iterdir()) == ["filler"]


def test_a_16_bit_png_is_classified_as_its_8_bit_original(checkpoint, new_images, tmp_path):
    root, pixels, _ = new_images
    sixteen_bit = tmp_path / "scan16.png"
    Image.fromarray(pixels[0].astype(np.uint16) * 257).save(sixteen_bit)
    predictor = Predictor.from_checkpoint(checkpoint, device="cpu")
    assert torch.equal(predictor.to_pixels(sixteen_bit), predictor.to_pixels(root / "batch0" / "00.png"))


def test_the_python_api_classifies_paths_pil_images_and_tensors_alike(checkpoint, new_images):
    root, pixels, _ = new_images
    predictor = Predictor.from_checkpoint(checkpoint, device="cpu")
    path = root / "batch0" / "00.png"
    from_path, from_pil, from_tensor = predictor.classify(
        [path, Image.open(path), torch.from_numpy(pixels[0])[None]], top_k=2
    )
    assert from_path == from_pil == from_tensor
    assert len(from_path["top_k"]) == 2 and from_path["label"] == from_path["top_k"][0][0]


@pytest.mark.slow
def test_predict_from_the_command_line_on_one_image(checkpoint, new_images, tmp_path):
    root, _, _ = new_images
    output = tmp_path / "preds.csv"
    image = root / "batch0" / "00.png"
    result = run("predict.py", f"ckpt_path={checkpoint}", f"input={image}", "top_k=5", f"output={output}")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "top5_label" in output.read_text().splitlines()[0]
    missing = run("predict.py", f"ckpt_path={checkpoint}", f"input={tmp_path / 'nope'}")
    assert missing.returncode == 1 and "Traceback" not in missing.stdout + missing.stderr
