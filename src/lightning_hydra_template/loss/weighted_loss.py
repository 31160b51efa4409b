"""What every loss of `configs/loss/` shares: optional class weights, hard or soft targets."""

import torch
from torch import nn

from ..errors import ConfigError


class ClassWeightedLoss(nn.Module):
    """A loss of logits `[B, K]` against class indices `[B]` or class probabilities `[B, K]`.

    Probabilities are what mixup and cutmix make of the labels. `class_weights` (one per class) are
    resolved before the loss is built (`builders.build_loss` turns `auto` into the list). They are
    kept as a plain tensor, not a buffer: the weight-averaging callback (EMA) averages and swaps
    every buffer of the model, and class weights are no weights to average.
    """

    def __init__(self, class_weights: list[float] | None = None) -> None:
        super().__init__()
        if isinstance(class_weights, str):  # `auto` is resolved before the loss is built
            raise ConfigError(
                f"loss.class_weights={class_weights!r}: use auto (from the training split's counts), "
                "null, or a list of one weight per class."
            )
        weights = None if class_weights is None else [float(w) for w in class_weights]
        self.class_weights = None if weights is None else torch.tensor(weights)

    def weight_for(self, logits: torch.Tensor) -> torch.Tensor | None:
        """The class weights on the logits' device (moved once, then kept there)."""
        if self.class_weights is not None and self.class_weights.device != logits.device:
            self.class_weights = self.class_weights.to(logits.device)
        return self.class_weights

    def extra_repr(self) -> str:
        weights = None if self.class_weights is None else [round(w, 4) for w in self.class_weights.tolist()]
        return f"class_weights={weights}"
