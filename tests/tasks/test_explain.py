"""explain.py: Captum attributions of a checkpoint's predictions, as PNGs and a TensorBoard image grid."""

import sys
from pathlib import Path

import pytest
import torch
from PIL import Image

from lightning_hydra_template.errors import ConfigError, reported_errors
from lightning_hydra_template.inference.attribution import (
    METHODS,
    CaptumMissingError,
    attribute,
    check_occlusion_window,
    logits_of,
    occlusion_window,
)
from lightning_hydra_template.inference.predictor import Predictor
from lightning_hydra_template.tasks.explain import explain
from lightning_hydra_template.tasks.train import train

from ..helpers import labelled_pngs, run, tensorboard_images

SMALL = {
    "mlp": ["model.net.hidden_sizes=[32]"],
    "cnn": ["model.net.channels=[8,16]", "model.net.hidden_size=16"],
    "lstm": ["model.net.hidden_size=16"],
}


def trained(compose_config, network: str, *overrides: str) -> Path:
    cfg = compose_config([f"experiment={network}", *SMALL[network], *overrides])
    return Path(train(cfg)["best_checkpoint"])


def explain_with(compose_config, checkpoint: Path, source: Path, *overrides: str) -> dict:
    cfg = compose_config([f"ckpt_path={checkpoint}", f"input={source}", *overrides], "explain", fast=False)
    return explain(cfg)


def pixels_of(predictor: Predictor, csv_path: Path) -> torch.Tensor:
    return torch.stack([predictor.to_pixels(p) for p in sorted(csv_path.parent.glob("*.png"))])


@pytest.mark.parametrize(
    "network",
    ["mlp", pytest.param("cnn", marks=pytest.mark.slow), pytest.param("lstm", marks=pytest.mark.slow)],
)
def test_each_method_explains_each_network_in_pngs_and_tensorboard(compose_config, tmp_path, network):
    checkpoint = trained(compose_config, network)
    csv_path = labelled_pngs(tmp_path / "images", n=2)
    predictor = Predictor.from_checkpoint(checkpoint, device="cpu")
    pixels = pixels_of(predictor, csv_path)
    for method in METHODS:
        output = tmp_path / method
        summary = explain_with(compose_config, checkpoint, csv_path, f"method={method}", f"output={output}")
        assert summary["images"] == 2 and len(summary["pngs"]) == 2
        for png in summary["pngs"]:
            with Image.open(png) as picture:
                assert picture.width > 0 and picture.height > 0 and picture.mode == "RGB"
        [grid] = tensorboard_images(output / "tensorboard")[f"explain/{method}"]
        assert grid.width > 0 and grid.height > 0

        result = attribute(predictor, pixels, method)
        assert result.attributions.shape == pixels.shape
        assert torch.isfinite(result.attributions).all()
        assert (result.attributions != 0).any(dim=(1, 2, 3)).all()  # every image has some attribution
        assert torch.equal(result.targets, result.probabilities.argmax(-1))


@pytest.mark.parametrize("network", ["mlp", pytest.param("cnn", marks=pytest.mark.slow), "lstm"])
def test_integrated_gradients_add_up_to_the_target_logits_change_from_black(
    compose_config, tmp_path, network
):
    """Completeness: the attributions sum to f(image) - f(black) for the target logit."""
    # A constant learning rate: the tuned one-cycle schedule barely moves in debug=fast's 5 steps,
    # leaving logits that hardly change from black, and nothing for completeness to account for.
    checkpoint = trained(compose_config, network, "scheduler=none")
    predictor = Predictor.from_checkpoint(checkpoint, device="cpu")
    pixels = pixels_of(predictor, labelled_pngs(tmp_path / "images", n=4))
    targets = torch.tensor([3, 1, 0, 2])  # any class, not only the predicted one
    result = attribute(predictor, pixels, "integrated_gradients", targets=targets, n_steps=64)

    forward = logits_of(predictor)
    with torch.no_grad():
        image_logits = forward(predictor.preprocess(pixels, training=False))
        black_logits = forward(predictor.preprocess(torch.zeros_like(pixels), training=False))
    change = (image_logits - black_logits)[torch.arange(4), targets]
    assert change.abs().min() > 1e-3  # a real change to account for
    totals = result.attributions.sum(dim=(1, 2, 3))
    # Captum's delta is measured on the same function, baseline and target as this independent check.
    assert result.delta == pytest.approx((totals - change).tolist(), abs=1e-5)
    # And it is small: a few percent from the ReLUs' kinks on the CNN, less on the others.
    assert (result.delta.abs() <= 0.1 * change.abs() + 1e-4).all()


def test_labels_give_the_true_class_target_and_max_images_bounds_the_work(compose_config, tmp_path, caplog):
    checkpoint = trained(compose_config, "mlp")
    csv_path = labelled_pngs(tmp_path / "images", n=5)
    (csv_path.parent / "image1.png").write_bytes(b"not a png")
    summary = explain_with(
        compose_config, checkpoint, csv_path, "method=saliency", "target=true", "max_images=3"
    )
    assert summary["images"] == 2 and summary["unreadable"] == 1 and "image1.png" in caplog.text
    run_dir = tmp_path / "explain"  # compose_config's run folder: the default output
    assert sorted(p.name for p in run_dir.glob("*.png")) == ["0_image0.png", "2_image2.png"]
    assert list(tensorboard_images(run_dir / "tensorboard")) == ["explain/saliency"]

    folder = csv_path.parent
    with pytest.raises(ConfigError, match="target=true needs labels"):
        explain_with(compose_config, checkpoint, folder, "target=true")
    with pytest.raises(ConfigError, match="method='lime'"):
        explain_with(compose_config, checkpoint, folder, "method=lime")
    with pytest.raises(ConfigError, match="last 1 rows and columns"):
        explain_with(compose_config, checkpoint, folder, "method=occlusion", "occlusion.window=5")


def test_the_default_occlusion_window_tiles_every_image_size_near_a_seventh_of_it():
    for size in range(1, 300):
        window, stride = occlusion_window(size)
        assert (size - window) % stride == 0 and max(1, window // 3) <= stride <= max(1, window // 2)
        assert abs(window - max(1, size // 7)) <= max(2, size // 28)  # within a quarter of it
        check_occlusion_window(size, window, stride)
    assert occlusion_window(28) == (4, 2) and occlusion_window(224) == (32, 16)
    with pytest.raises(ConfigError):
        check_occlusion_window(28, 29, 1)


def test_without_captum_one_line_says_how_to_install_it(compose_config, tmp_path, monkeypatch, caplog):
    monkeypatch.setitem(sys.modules, "captum", None)  # `import captum` now raises ImportError
    monkeypatch.setitem(sys.modules, "captum.attr", None)
    cfg = compose_config(
        [f"ckpt_path={tmp_path / 'never_read.ckpt'}", f"input={tmp_path}"], "explain", fast=False
    )
    with pytest.raises(CaptumMissingError, match=r'pip install -e "\.\[explain\]"'):
        explain(cfg)
    with pytest.raises(SystemExit), reported_errors("Explanation"):
        explain(cfg)
    [record] = [r for r in caplog.records if r.levelname == "ERROR"]
    assert "\n" not in record.getMessage() and 'pip install -e ".[explain]"' in record.getMessage()


@pytest.mark.slow
def test_explain_from_the_command_line(compose_config, tmp_path):
    checkpoint = trained(compose_config, "cnn")
    image = labelled_pngs(tmp_path / "images", n=1).parent / "image0.png"
    output = tmp_path / "explained"
    result = run(
        "explain.py", f"ckpt_path={checkpoint}", f"input={image}", "method=occlusion", f"output={output}"
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert [p.name for p in output.glob("*.png")] == ["0_image0.png"]
    assert "explain/occlusion" in tensorboard_images(output / "tensorboard")
