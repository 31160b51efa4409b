"""Fine-tuning a pretrained torchvision network: frozen first, unfrozen later, loadable offline."""

import pytest
import torch

from lightning_hydra_template.models.classifier import ImageClassifier
from lightning_hydra_template.tasks.train import train

BACKBONE = ["conv1", "bn1", "layer1", "layer2", "layer3", "layer4"]


def offline_download_of(monkeypatch, state_file):
    """torchvision's download, answered from a local file (the tests never reach the network)."""
    served = []

    def download(url, *args, **kwargs):
        served.append(url)
        return torch.load(state_file, weights_only=True)

    monkeypatch.setattr("torchvision.models._api.load_state_dict_from_url", download)
    return served


def test_a_pretrained_resnet_fine_tunes_on_grey_images_and_its_checkpoint_loads_without_a_download(
    compose_config, resnet18_weights, monkeypatch, caplog
):
    served = offline_download_of(monkeypatch, resnet18_weights)
    cfg = compose_config(
        ["model=torchvision", "model.net.weights=DEFAULT", f"model.freeze=[{','.join(BACKBONE)}]",
         "callbacks=finetune", "callbacks.unfreeze.at_epoch=1", "trainer.max_epochs=2", "data.image_size=32"]
    )  # fmt: skip
    summary = train(cfg)

    assert summary["status"] == "completed" and summary["epochs"] == 2
    assert served == ["https://download.pytorch.org/models/resnet18-f37072fd.pth"]
    assert "trained on 224 px images; data.image_size=32" in caplog.text  # told, not silently wrong
    pretrained = torch.load(resnet18_weights, weights_only=True)
    trained = torch.load(summary["best_checkpoint"], weights_only=True)["state_dict"]
    assert trained["net.conv1.weight"].shape == (64, 1, 7, 7)  # grey: the RGB filters summed
    assert not torch.equal(trained["net.layer4.1.conv2.weight"], pretrained["layer4.1.conv2.weight"])

    served.clear()
    model = ImageClassifier.load_from_checkpoint(summary["best_checkpoint"], map_location="cpu")
    assert served == [] and model.hparams.net["weights"] is None  # the tensors come from the file
    assert model.hparams.freeze == BACKBONE


def test_the_weights_preprocessing_is_the_datas_unless_the_command_line_says_otherwise(compose_config):
    cfg = compose_config(["model=torchvision"])
    assert cfg.data.image_size == 224 and list(cfg.data.mean) == [0.485, 0.456, 0.406]
    assert compose_config(["model=torchvision", "data.image_size=96"]).data.image_size == 96


@pytest.mark.parametrize("channels", [1, 3])
def test_imagenet_statistics_fit_grey_and_rgb_data(compose_config, channels):
    from lightning_hydra_template.config.builders import build_datamodule

    datamodule = build_datamodule(compose_config(["model=torchvision", f"data.channels={channels}"]))
    images = datamodule.preprocess(torch.full((2, 1, 28, 28), 128, dtype=torch.uint8), training=False)
    assert images.shape == (2, channels, 224, 224)
    expected = (128 / 255 - torch.tensor([0.485, 0.456, 0.406])) / torch.tensor([0.229, 0.224, 0.225])
    expected = expected.mean().reshape(1) if channels == 1 else expected
    torch.testing.assert_close(images[0, :, 0, 0], expected, rtol=0.02, atol=0.02)


@pytest.mark.parametrize("name", ["test_resnet", pytest.param("test_vit", marks=pytest.mark.slow)])
def test_a_timm_backbone_trains_frozen_on_grey_images_and_exports(compose_config, tmp_path, name):
    from lightning_hydra_template.tasks.export import export

    from ..helpers import save_hydra_config, timm_weights

    weights = timm_weights(tmp_path / f"{name}.pth", name)
    frozen = {"test_resnet": ["conv1", "bn1", "layer1"], "test_vit": ["patch_embed", "blocks.0"]}[name]
    image_size = {"test_resnet": 32, "test_vit": 160}[name]  # a ViT's patch grid is fixed by its weights
    cfg = compose_config(
        ["model=timm", f"model.net.name={name}", f"model.net.weights={weights}",
         f"model.freeze=[{','.join(frozen)}]", f"data.image_size={image_size}", "trainer.max_epochs=1"]
    )  # fmt: skip
    save_hydra_config(cfg)
    summary = train(cfg)
    assert summary["status"] == "completed"

    pretrained = torch.load(weights, weights_only=True)
    trained = torch.load(summary["best_checkpoint"], weights_only=True)["state_dict"]
    for key, tensor in trained.items():
        inside = key.removeprefix("net.")
        if any(inside.startswith(f"{module}.") for module in frozen) and tensor.dtype.is_floating_point:
            if tensor.shape[1:2] == (1,):  # the grey first layer: the RGB filters summed, then kept
                torch.testing.assert_close(tensor, pretrained[inside].sum(dim=1, keepdim=True))
            elif "running_" not in inside:
                assert torch.equal(tensor, pretrained[inside]), key  # frozen: as the file had it

    # What serve.py and predict.py load: the checkpoint alone rebuilds the timm network, offline.
    from PIL import Image

    from lightning_hydra_template.inference.predictor import Predictor

    predictor = Predictor.from_checkpoint(summary["best_checkpoint"], device="cpu")
    [answer] = predictor.classify([Image.new("L", (28, 28), 128)])
    assert answer["label"] in cfg.data.class_names and 0 <= answer["confidence"] <= 1

    export_cfg = compose_config([f"ckpt_path={summary['best_checkpoint']}"], "export", fast=False)
    result = export(export_cfg)
    assert result["max_abs_diff"] <= 1e-4 and result["top1_agree"] == result["parity_images"]
