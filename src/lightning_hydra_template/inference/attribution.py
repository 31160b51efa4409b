"""Which input pixels a trained model's decision rests on: Captum attributions from a `Predictor`.

result = attribute(predictor, pixels, "integrated_gradients")   # pixels: uint8 [B, C, size, size]
result.attributions                                              # [B, C, size, size], per pixel

Attributions are taken with respect to what the network itself receives, the pixels after the
evaluation preprocessing (normalised), for the logit of a target class (the predicted one unless
given): the same forward pass as `Predictor.probabilities`, so they explain the prediction the
predict command makes. They keep the pixels' shape, so they are drawn over the pixels the model saw.
"""

from dataclasses import dataclass

import torch
from torch import nn

from ..errors import ConfigError, UserError
from .predictor import Predictor

METHODS = ("integrated_gradients", "saliency", "occlusion")


class CaptumMissingError(UserError, ImportError):
    """Captum, an optional extra, is not installed."""


def require_captum() -> None:
    """Raise the one-line install instruction when Captum is missing."""
    try:
        import captum.attr  # noqa: F401
    except ImportError:
        raise CaptumMissingError('Attributions need Captum: pip install -e ".[explain]"') from None


@dataclass
class Attribution:
    """Attributions of a batch and the prediction they explain."""

    attributions: torch.Tensor  # [B, C, size, size] float32, on the CPU
    probabilities: torch.Tensor  # [B, num_classes]
    targets: torch.Tensor  # [B], the class whose logit is explained
    delta: torch.Tensor | None  # [B] integrated gradients' completeness error; None for other methods


def occlusion_window(image_size: int) -> tuple[int, int]:
    """The default occlusion window and stride for `image_size` px images.

    A window near a seventh of the side (a sleeve, a heel on FashionMNIST) with a stride of about half
    of it: 13 to 20 positions a side at almost any image size (13 at 28 and 224 px), so the cost per
    image hardly grows with it, and every pixel is under a few windows, which smooths the map. Among
    the windows nearest that size, the first with such a stride (a half to a third of it) that tiles
    the image exactly: every pixel, the last rows and columns included, is under some window.
    """
    target = max(1, image_size // 7)
    for window in sorted(range(1, image_size + 1), key=lambda w: (abs(w - target), w)):
        for stride in range(max(1, window // 2), max(1, -(-window // 3)) - 1, -1):
            if (image_size - window) % stride == 0:
                return window, stride
    raise AssertionError("unreachable: a window of 1 with a stride of 1 tiles any image")


def occlusion_settings(image_size: int, window: int | None, stride: int | None) -> tuple[int, int]:
    """The window and stride to use: `occlusion_window`'s where not given, checked to tile the image."""
    if window is None:
        window, default_stride = occlusion_window(image_size)
        stride = default_stride if stride is None else stride
    stride = max(1, window // 2) if stride is None else stride
    check_occlusion_window(image_size, window, stride)
    return window, stride


def check_occlusion_window(image_size: int, window: int, stride: int) -> None:
    if not 1 <= window <= image_size or stride < 1:
        raise ConfigError(
            f"occlusion.window={window} and occlusion.stride={stride} must be positive, the window at most "
            f"the image size ({image_size})."
        )
    if (image_size - window) % stride:
        uncovered = (image_size - window) % stride
        raise ConfigError(
            f"occlusion.window={window} with occlusion.stride={stride} leaves the last {uncovered} rows and "
            f"columns of a {image_size} px image under no window; choose them so that "
            f"(image size - window) is a multiple of the stride, or null for {occlusion_window(image_size)}."
        )


def reads_rows_as_steps(model: nn.Module) -> bool:
    """True for a network that reads each image row as one time step (it says so with a
    `reads_rows_as_steps` attribute, as the row LSTM does): a per-row sum is then per step."""
    return bool(getattr(getattr(model, "net", model), "reads_rows_as_steps", False))


def attribute(
    predictor: Predictor,
    pixels: torch.Tensor,
    method: str,
    targets: torch.Tensor | None = None,
    n_steps: int = 32,
    window: int | None = None,
    stride: int | None = None,
    batch_size: int = 64,
) -> Attribution:
    """Attributions of `pixels` (uint8 `[B, C, size, size]`, as `Predictor.to_pixels` makes them).

    `targets`: the classes to explain, one per image; None: the predicted ones. `n_steps`: integrated
    gradients' steps from the baseline. `window`/`stride`: occlusion's square patch and step, None for
    `occlusion_window`. `batch_size`: inputs per forward/backward pass, which bounds memory (integrated
    gradients evaluates `n_steps` inputs per image, occlusion one per window position).
    """
    if method not in METHODS:
        raise ConfigError(f"method={method!r}: choose one of {', '.join(METHODS)}.")
    size, channels = predictor.image_size, predictor.channels
    if pixels.dim() != 4 or tuple(pixels.shape[1:]) != (channels, size, size):
        raise ValueError(f"pixels must be [B, {channels}, {size}, {size}] (to_pixels), got {pixels.shape}")
    probabilities = predictor.probabilities(pixels)
    targets = probabilities.argmax(-1) if targets is None else targets.to(probabilities.device)
    device = predictor.device
    inputs = predictor.preprocess(pixels.to(device), training=False).contiguous()
    # The normalised image of black pixels: "nothing there" (FashionMNIST's background), where a zero
    # in normalised space would be the dataset's mean grey, itself a pattern the network responds to.
    black = predictor.preprocess(torch.zeros_like(pixels, device=device), training=False).contiguous()
    with _backward_through_rnns(predictor.model):
        attributions, delta = _captum(
            method, logits_of(predictor), inputs, black, targets, n_steps, (window, stride), batch_size
        )
    return Attribution(
        attributions.detach().float().cpu(),
        probabilities.cpu(),
        targets.cpu(),
        None if delta is None else delta.detach().float().cpu(),
    )


def _captum(
    method: str,
    forward,
    inputs: torch.Tensor,
    black: torch.Tensor,
    targets: torch.Tensor,
    n_steps: int,
    occlusion: tuple[int | None, int | None],
    batch_size: int,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Captum's attributions of normalised `inputs` by one method, and integrated gradients' delta."""
    from captum.attr import IntegratedGradients, Occlusion, Saliency

    if method == "integrated_gradients":
        return IntegratedGradients(forward).attribute(
            inputs,
            baselines=black,
            target=targets,
            n_steps=n_steps,
            internal_batch_size=max(batch_size, len(inputs)),
            return_convergence_delta=True,
        )
    if method == "saliency":
        # |gradient|: how strongly each pixel moves the logit, whichever way (Captum's default).
        inputs.requires_grad_()  # Captum would set it itself, with a warning
        return Saliency(forward).attribute(inputs, target=targets, abs=True), None
    channels, size = inputs.shape[1], inputs.shape[-1]
    window, stride = occlusion_settings(size, *occlusion)
    attributions = Occlusion(forward).attribute(
        inputs,
        sliding_window_shapes=(channels, window, window),  # all channels of a patch at once
        strides=(channels, stride, stride),
        baselines=black,  # the patch blacked out
        target=targets,
        perturbations_per_eval=max(1, batch_size // len(inputs)),
    )
    return attributions, None


def logits_of(predictor: Predictor):
    """Normalised images -> logits, as `Predictor.probabilities` runs the model (before its softmax).

    Logits, not probabilities: a softmax output saturates near 1, and its gradient with it.
    """
    model = predictor.model

    def forward(images: torch.Tensor) -> torch.Tensor:
        if model.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        return model(images).float()

    return forward


def _backward_through_rnns(model: nn.Module):
    """cuDNN computes an RNN's backward pass only in training mode; the model stays in eval mode
    (dropout off, batch norms' running statistics), so cuDNN is left out for recurrent networks."""
    from contextlib import nullcontext

    if any(isinstance(m, nn.RNNBase) for m in model.modules()):
        return torch.backends.cudnn.flags(enabled=False)
    return nullcontext()
