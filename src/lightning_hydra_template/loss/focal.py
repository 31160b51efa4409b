"""Focal loss (Lin et al., 2017): cross-entropy that down-weights the examples already classified well."""

import torch
import torch.nn.functional as F

from ..errors import ConfigError
from .weighted_loss import ClassWeightedLoss


class FocalLoss(ClassWeightedLoss):
    """Mean over the batch of -sum_k w_k t_k (1 - p_k)^gamma log p_k.

    t is the one-hot label (or the mixed label of mixup / cutmix), p the softmax of the logits,
    w the class weights (1 without). gamma = 0 is cross-entropy; the paper's default is 2.
    torchvision's `sigmoid_focal_loss` is the one-vs-all (sigmoid) form for detection; this is the
    softmax form for single-label classification, which torch and torchvision do not ship.
    """

    def __init__(self, gamma: float = 2.0, class_weights: list[float] | None = None) -> None:
        super().__init__(class_weights)
        if gamma < 0:
            raise ConfigError(f"loss.gamma must be >= 0, got {gamma}.")
        self.gamma = float(gamma)

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        log_p = F.log_softmax(logits.float(), dim=-1)
        if targets.ndim == 1:
            targets = F.one_hot(targets, logits.shape[-1]).to(log_p.dtype)
        per_class = -targets * (1.0 - log_p.exp()).pow(self.gamma) * log_p
        weight = self.weight_for(logits)
        if weight is not None:
            per_class = per_class * weight
        return per_class.sum(dim=-1).mean()
