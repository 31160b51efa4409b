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
