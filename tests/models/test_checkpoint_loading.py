"""A checkpoint describes itself: load_from_checkpoint rebuilds the model anywhere, from the file alone."""

import shutil
import subprocess
import sys
from pathlib import Path

import torch

from lightning_hydra_template.models.classifier import ImageClassifier
from lightning_hydra_template.tasks.train import train

LOAD_ELSEWHERE = """
import sys, torch
from lightning_hydra_template.models.classifier import ImageClassifier
model = ImageClassifier.load_from_checkpoint(sys.argv[1], map_location="cpu").eval()
torch.manual_seed(0)
images = torch.randn(4, 1, 28, 28)
print(model.hparams.class_names[0], model(images).argmax(-1).tolist(), model(images).sum().item())
"""


def test_a_checkpoint_alone_rebuilds_the_model_in_another_process(compose_config, tmp_path):
    summary = train(
        compose_config(["experiment=cnn", "model.net.channels=[8,16]", "model.net.hidden_size=24"])
    )
    alone = tmp_path / "elsewhere" / "model.ckpt"  # no run folder, no config beside it
    alone.parent.mkdir()
    shutil.copy(summary["best_checkpoint"], alone)

    hparams = torch.load(alone)["hyper_parameters"]  # plain values: torch's weights_only=True loads them
    assert hparams["net"]["_target_"].endswith("cnn.CNN") and hparams["net"]["hidden_size"] == 24
    assert hparams["class_names"][0] == "T-shirt/top"
    assert hparams["preprocessing"] == {
        "channels": 1, "image_size": 28, "mean": [0.286], "std": [0.353], "resize": None
    }  # fmt: skip

    model = ImageClassifier.load_from_checkpoint(alone, map_location="cpu").eval()
    torch.manual_seed(0)
    images = torch.randn(4, 1, 28, 28)
    with torch.no_grad():
        expected = f"T-shirt/top {model(images).argmax(-1).tolist()} {model(images).sum().item()}"
    result = subprocess.run(
        [sys.executable, "-c", LOAD_ELSEWHERE, str(alone)], cwd=tmp_path, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == expected
    assert Path(summary["best_checkpoint"]).is_file()
