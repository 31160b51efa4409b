"""Class weights for a loss: given as a list, or derived from the training split's class counts."""

from collections.abc import Sequence

import torch

from ..errors import ConfigError


def balanced_class_weights(counts: torch.Tensor, class_names: Sequence[str]) -> list[float]:
    """N / (K * n_k) for each class k: every class then weighs as much in the loss as any other.

    (scikit-learn's `class_weight="balanced"`.) A class without training images has no weight that
    would mean anything, so it is refused rather than given an infinite one.
    """
    counts = torch.as_tensor(counts, dtype=torch.float64)
    missing = [name for name, count in zip(class_names, counts.tolist()) if count == 0]
    if missing:
        raise ConfigError(
            f"loss.class_weights=auto: the training split has no images of {missing}; "
            "give loss.class_weights as a list of one weight per class instead."
        )
    return (counts.sum() / (len(counts) * counts)).tolist()


def check_class_weights(weights: Sequence[float], num_classes: int) -> None:
    """One positive weight per class, or a one-line error naming the key."""
    values = [float(w) for w in weights]
    if len(values) != num_classes or min(values, default=0.0) <= 0:
        raise ConfigError(
            f"loss.class_weights lists {len(values)} weights {values} for {num_classes} classes; "
            "give one positive weight per class (or auto, or null)."
        )
