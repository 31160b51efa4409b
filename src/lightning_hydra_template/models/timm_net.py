"""Any timm network by name, pretrained or not, sized to your classes and channels.

`timm_net("convnext_atto", num_classes=3)` is timm's own module (parameter names stay timm's, so
`model.freeze` and `lr_multipliers` name them as timm does, e.g. `stem`, `stages.0`), built by
`timm.create_model`, which also adapts pretrained weights: the classifier is dropped when the
class count differs, and for 1-channel images the first convolution is summed over its RGB filters
(the output a grey image repeated to RGB would give), as `torchvision_net` does. `weights`:
- `DEFAULT`: the model's pretrained weights from the Hugging Face hub (cached in HF_HOME);
- a path to a local state-dict file (loaded here with `weights_only=True`, then adapted by timm);
- null: random initialisation.
"""

import difflib
import logging
from pathlib import Path
from typing import Any

from torch import nn

from ..errors import ConfigError, MissingFileError
from .torchvision_net import state_from_file

log = logging.getLogger(__name__)


def timm_net(
    name: str,
    num_classes: int,
    in_channels: int = 3,
    weights: str | None = "DEFAULT",
    image_size: int | None = None,
    **kwargs: Any,
) -> nn.Module:
    """timm's `name` with `weights`, its head sized to `num_classes`, taking `in_channels`.

    `kwargs` go to the model's constructor (e.g. `drop_path_rate`, or `img_size` for a ViT);
    `image_size`, the size the data is resized to, is checked against the weights' own.
    """
    import timm

    if not timm.is_model(name):
        close = difflib.get_close_matches(name, timm.list_models(), n=5)
        hint = f"did you mean {', '.join(close)}? " if close else ""
        raise ConfigError(
            f'model.net.name={name} is not a timm model; {hint}python -c "import timm; '
            f"print(timm.list_models('*{name.split('.')[0][:6]}*'))\" lists some."
        )
    if in_channels not in (1, 3):
        raise ConfigError(f"model.net.in_channels must be 1 or 3 for timm nets, got {in_channels}.")
    options = {"num_classes": num_classes, "in_chans": in_channels, **kwargs}
    if weights is None:
        return timm.create_model(name, pretrained=False, **options)
    if weights != "DEFAULT":
        # Loaded here with weights_only=True; timm then adapts it (head, first convolution, sizes).
        state = state_from_file(Path(str(weights)).expanduser())
        net = timm.create_model(
            name, pretrained=True, pretrained_cfg_overlay={"state_dict": state}, **options
        )
    else:
        try:
            net = timm.create_model(name, pretrained=True, **options)
        except OSError as error:  # the hub unreachable, offline, or its cache not writable
            raise MissingFileError(offline_message(name, error)) from None
    _check_image_size(name, image_size)
    return net


def offline_message(name: str, error: OSError) -> str:
    """Where the hub keeps `name`'s weights, and how to do without it; one line."""
    import timm
    from huggingface_hub.constants import HF_HUB_CACHE

    hub_id = timm.models.get_pretrained_cfg(name).hf_hub_id or name
    reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
    return (
        f"Cannot download timm's {name} weights from the Hugging Face hub ({reason}). Offline, copy the "
        f"hub's cache of {hub_id} into {HF_HUB_CACHE} (HF_HOME moves it) and set HF_HUB_OFFLINE=1, or "
        "pass model.net.weights=<state-dict file>."
    )


def _check_image_size(name: str, image_size: int | None) -> None:
    import timm

    cfg = timm.models.get_pretrained_cfg(name)
    if image_size is None or cfg is None or not cfg.input_size:
        return
    expected = cfg.input_size[-1]
    if image_size != expected:
        log.warning(
            "%s's weights were trained on %d px images; data.image_size=%d (set it to %d for the "
            "accuracy they were published with, or keep it smaller for speed).",
            name, expected, image_size, expected,
        )  # fmt: skip
