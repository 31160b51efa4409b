"""Cross-entropy with label smoothing and class weights."""

import torch
import torch.nn.functional as F

from ..errors import ConfigError
from .weighted_loss import ClassWeightedLoss


class CrossEntropy(ClassWeightedLoss):
    """`torch.nn.functional.cross_entropy`, its definitions unchanged.

    With class weights and class indices the batch mean is weighted (sum of w_y * loss / sum of w_y);
    with probability targets (mixup, cutmix) it is the plain mean of -sum_k w_k t_k log p_k.
    `label_smoothing` eps mixes the target with the uniform distribution: (1 - eps) t + eps / K.
    """

    def __init__(self, label_smoothing: float = 0.0, class_weights: list[float] | None = None) -> None:
        super().__init__(class_weights)
        if not 0.0 <= label_smoothing < 1.0:
            raise ConfigError(f"loss.label_smoothing must be in [0, 1), got {label_smoothing}.")
        self.label_smoothing = float(label_smoothing)

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(
            logits, targets, weight=self.weight_for(logits), label_smoothing=self.label_smoothing
        )
