"""torchvision networks by name: local weights, a head for your classes, grey images, offline messages."""

from urllib.error import URLError

import pytest
import torch
from torch import nn

from lightning_hydra_template.errors import ConfigError, MissingFileError
from lightning_hydra_template.models.torchvision_net import torchvision_net


def test_weights_from_a_local_file_load_and_the_head_is_sized_for_your_classes(resnet18_weights):
    saved = torch.load(resnet18_weights, weights_only=True)
    net = torchvision_net("resnet18", num_classes=3, weights=str(resnet18_weights))
    state = net.state_dict()
    assert net.fc.out_features == 3 and state["fc.weight"].shape == (3, 512)
    assert all(torch.equal(state[k], v) for k, v in saved.items() if not k.startswith("fc."))
    assert net(torch.randn(2, 3, 64, 64)).shape == (2, 3)


def test_grey_images_go_through_the_first_convolution_summed_over_rgb(resnet18_weights):
    rgb = torchvision_net("resnet18", num_classes=3, weights=str(resnet18_weights)).eval()
    grey = torchvision_net("resnet18", num_classes=3, in_channels=1, weights=str(resnet18_weights)).eval()
    grey.fc.load_state_dict(rgb.fc.state_dict())
    assert grey.conv1.in_channels == 1
    image = torch.rand(2, 1, 32, 32)
    with torch.no_grad():  # the same as the grey image repeated to RGB, on a third of the input
        torch.testing.assert_close(grey(image), rgb(image.expand(-1, 3, -1, -1)), rtol=1e-4, atol=1e-5)


def test_random_initialisation_needs_no_weights():
    net = torchvision_net("mobilenet_v3_small", num_classes=5, weights=None)
    assert isinstance(net.classifier[-1], nn.Linear) and net.classifier[-1].out_features == 5


def test_offline_the_message_names_the_cache_file_and_the_local_alternative(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))

    def offline(*args, **kwargs):
        raise URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr("torchvision.models._api.load_state_dict_from_url", offline)
    with pytest.raises(MissingFileError) as error:
        torchvision_net("resnet18", num_classes=3, weights="DEFAULT")
    message = str(error.value)
    assert str(tmp_path / "hub" / "checkpoints" / "resnet18-f37072fd.pth") in message
    assert "https://download.pytorch.org/models/resnet18-f37072fd.pth" in message
    assert "model.net.weights=<state-dict file>" in message and "name resolution" in message


@pytest.mark.parametrize(
    ("name", "weights", "says"),
    [
        ("resnet19", None, "not a torchvision classification model"),
        ("resnet18", "IMAGENET22K", "use DEFAULT, one of ['IMAGENET1K_V1']"),
        ("resnet18", "/nowhere/resnet18.pth", "no such file"),
    ],
)
def test_a_wrong_name_or_weights_is_one_clear_error(name, weights, says):
    with pytest.raises((ConfigError, MissingFileError), match=says.replace("[", r"\[").replace("]", r"\]")):
        torchvision_net(name, num_classes=3, weights=weights)


def test_a_file_that_is_not_a_state_dict_is_refused(tmp_path):
    path = tmp_path / "notes.pth"
    torch.save({"epochs": 3}, path)
    with pytest.raises(ConfigError, match="is not a state dict"):
        torchvision_net("resnet18", num_classes=3, weights=str(path))
