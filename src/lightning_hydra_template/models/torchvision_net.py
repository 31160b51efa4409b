"""Any torchvision classification network by name, pretrained or not, sized to your classes and channels.

`torchvision_net("resnet18", num_classes=3)` is torchvision's own module (parameter names stay
`conv1`, `layer1`, `fc`, so `model.freeze` and `init_from` name them as torchvision does), with:
- its pretrained weights: `DEFAULT`, a weights enum name (`IMAGENET1K_V1`), a path to a local
  state-dict file, or null for random initialisation;
- its head, the last `nn.Linear`, replaced by a fresh one for `num_classes`;
- for 1-channel images, its first convolution summed over the RGB filters: the output a grey image
  repeated to RGB would give (with one mean and std for all three), for a third of the input.
"""

import logging
import os
from pathlib import Path
from urllib.parse import urlparse

import torch
from torch import nn

from ..errors import ConfigError, MissingFileError

log = logging.getLogger(__name__)

# torchvision's classification weights are all trained on ImageNet, normalised with these.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def torchvision_net(
    name: str,
    num_classes: int,
    in_channels: int = 3,
    weights: str | None = "DEFAULT",
    image_size: int | None = None,
) -> nn.Module:
    """torchvision's `name`, with `weights` loaded, its head sized to `num_classes`, taking `in_channels`.

    `image_size`, the size the data is resized to, is checked against the weights' own.
    """
    import torchvision

    names = torchvision.models.list_models(module=torchvision.models)
    if name not in names:
        listed = ", ".join(names)
        raise ConfigError(f"model.net.name={name} is not a torchvision classification model: {listed}.")
    if in_channels not in (1, 3):
        raise ConfigError(f"model.net.in_channels must be 1 or 3 for torchvision nets, got {in_channels}.")
    net = torchvision.models.get_model(name, weights=None)
    state = pretrained_state(name, weights)
    if state is not None:
        net.load_state_dict(state)
        _check_image_size(name, weights, image_size)
    _replace_head(net, num_classes)
    if in_channels == 1:
        _sum_first_conv_over_rgb(net)
    return net


def pretrained_state(name: str, weights: str | None) -> dict[str, torch.Tensor] | None:
    """The state dict `weights` names: a local file, or torchvision's download (cached in TORCH_HOME)."""
    if weights is None:
        return None
    if os.sep in str(weights) or Path(str(weights)).suffix:
        return state_from_file(Path(str(weights)).expanduser())
    from torchvision.models import get_model_weights

    choices = get_model_weights(name)
    if weights not in choices.__members__:  # the names, and DEFAULT: an alias of the best of them
        raise ConfigError(
            f"model.net.weights={weights} is not a weights name of {name}; "
            f"use DEFAULT, one of {[w.name for w in choices]}, a path to a state-dict file, or null."
        )
    entry = choices[weights]
    try:
        return entry.get_state_dict(progress=True, check_hash=True)
    except OSError as error:  # URLError and every other failure to reach or write the file
        cached = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urlparse(entry.url).path)
        raise MissingFileError(
            f"Cannot download {name}'s {weights} weights ({getattr(error, 'reason', error)}). Offline, put "
            f"{entry.url} at {cached} (TORCH_HOME moves it), or pass model.net.weights=<state-dict file>."
        ) from None


def _check_image_size(name: str, weights: str, image_size: int | None) -> None:
    from torchvision.models import get_model_weights

    if image_size is None or weights not in get_model_weights(name).__members__:
        return
    entry = get_model_weights(name)[weights]
    expected = entry.transforms().crop_size[0]
    if image_size != expected:
        log.warning(
            "%s's %s weights were trained on %d px images; data.image_size=%d (set it to %d for the "
            "accuracy they were published with, or keep it smaller for speed).",
            name, weights, expected, image_size, expected,
        )  # fmt: skip


def state_from_file(path: Path) -> dict[str, torch.Tensor]:
    """The state dict saved at `path`, loaded with `weights_only=True`; a one-line error if it is not one."""
    if not path.is_file():
        raise MissingFileError(f"model.net.weights={path}: no such file (a state-dict file).")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # not a torch file, damaged, or holding Python objects
        raise ConfigError(f"model.net.weights={path} does not load as a state dict ({error}).") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ConfigError(f"model.net.weights={path} is not a state dict (names -> tensors).")
    return state


def _replace_head(net: nn.Module, num_classes: int) -> None:
    """The last `nn.Linear` in the network, replaced by a fresh one with `num_classes` outputs."""
    heads = [name for name, module in net.named_modules() if isinstance(module, nn.Linear)]
    if not heads:
        raise ConfigError(f"{type(net).__name__} has no Linear head to size for {num_classes} classes.")
    parent_name, _, child = heads[-1].rpartition(".")
    parent = net.get_submodule(parent_name)
    old = getattr(parent, child)
    setattr(parent, child, nn.Linear(old.in_features, num_classes, bias=old.bias is not None))


def _sum_first_conv_over_rgb(net: nn.Module) -> None:
    """The first convolution takes 1 channel: its RGB filters summed, as for a grey image in RGB."""
    for parent in net.modules():
        for child, conv in parent.named_children():
            if isinstance(conv, nn.Conv2d) and conv.in_channels == 3:
                grey = nn.Conv2d(
                    1,
                    conv.out_channels,
                    conv.kernel_size,
                    conv.stride,
                    conv.padding,
                    conv.dilation,
                    conv.groups,
                    conv.bias is not None,
                    conv.padding_mode,
                )
                with torch.no_grad():
                    grey.weight.copy_(conv.weight.sum(dim=1, keepdim=True))
                    if conv.bias is not None:
                        grey.bias.copy_(conv.bias)
                setattr(parent, child, grey)
                return
    raise ConfigError(f"{type(net).__name__} has no 3-channel first convolution to adapt to grey images.")
