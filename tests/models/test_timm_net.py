"""timm networks by name: local weights adapted to your classes and grey images, offline messages."""

import pytest
import torch

from lightning_hydra_template.errors import ConfigError, MissingFileError
from lightning_hydra_template.models.timm_net import timm_net

from ..helpers import timm_weights

# Two families, in timm's tiny test sizes (160 px): a CNN (ResNet) and a transformer (ViT), whose heads
# and first layers differ.
ARCHITECTURES = {"test_resnet": ("fc", "conv1.0.weight"), "test_vit": ("head", "patch_embed.proj.weight")}
SIZE = 160


@pytest.fixture(scope="module")
def weight_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("timm")
    return {name: timm_weights(folder / f"{name}.pth", name) for name in ARCHITECTURES}


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_weights_from_a_local_file_load_and_the_head_is_sized_for_your_classes(weight_files, name):
    head, _ = ARCHITECTURES[name]
    saved = torch.load(weight_files[name], weights_only=True)
    net = timm_net(name, num_classes=3, weights=str(weight_files[name])).eval()
    state = net.state_dict()
    assert net.get_classifier() is getattr(net, head) and net.get_classifier().out_features == 3
    assert all(torch.equal(state[k], v) for k, v in saved.items() if not k.startswith(f"{head}."))
    assert net(torch.randn(2, 3, SIZE, SIZE)).shape == (2, 3)


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_grey_images_go_through_the_first_layer_summed_over_rgb(weight_files, name):
    head, first = ARCHITECTURES[name]
    rgb = timm_net(name, num_classes=3, weights=str(weight_files[name])).eval()
    grey = timm_net(name, num_classes=3, in_channels=1, weights=str(weight_files[name])).eval()
    getattr(grey, head).load_state_dict(getattr(rgb, head).state_dict())
    assert grey.state_dict()[first].shape[1] == 1
    image = torch.rand(2, 1, SIZE, SIZE)
    with torch.no_grad():  # the same as the grey image repeated to RGB, as for torchvision nets
        torch.testing.assert_close(grey(image), rgb(image.expand(-1, 3, -1, -1)), rtol=1e-4, atol=1e-4)


def test_constructor_options_pass_through_and_random_initialisation_needs_no_weights():
    net = timm_net("test_vit", num_classes=5, weights=None, img_size=32)
    assert net(torch.randn(1, 3, 32, 32)).shape == (1, 5)


def test_offline_the_message_names_the_hub_cache_and_the_local_alternative(monkeypatch, tmp_path):
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", True)  # as HF_HUB_OFFLINE=1 does
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(MissingFileError) as error:
        timm_net("resnet18", num_classes=3, weights="DEFAULT")
    message = str(error.value)
    assert "\n" not in message and message.startswith("Cannot download timm's resnet18 weights")
    assert f"copy the hub's cache of timm/resnet18.a1_in1k into {tmp_path}" in message
    assert "model.net.weights=<state-dict file>" in message


@pytest.mark.parametrize(
    ("name", "weights", "says"),
    [
        ("resnet19", None, "model.net.name=resnet19 is not a timm model; did you mean resnet18"),
        ("resnet18", "/nowhere/resnet18.pth", "no such file"),
    ],
)
def test_a_wrong_name_or_weights_file_is_one_clear_error(name, weights, says):
    with pytest.raises((ConfigError, MissingFileError), match=says):
        timm_net(name, num_classes=3, weights=weights)
