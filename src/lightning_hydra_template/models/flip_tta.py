"""Test-time augmentation by horizontal flip: the network's answer averaged with its mirror image's."""

import torch
from torch import nn


def flip_averaged_probabilities(net: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """Class probabilities `[B, K]`: the mean of softmax(net(x)) and softmax(net(x mirrored left-right)).

    Only for data whose classes look alike mirrored (clothes, photos; not digits or letters).
    The two passes run as one batch of 2B: one call, the network's batch norms in eval mode alike.
    """
    both = net(torch.cat([images, images.flip(-1)])).float().softmax(dim=-1)
    plain, mirrored = both.chunk(2)
    return (plain + mirrored) / 2


def flip_averaged_log_probabilities(net: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """log of `flip_averaged_probabilities`: logits whose softmax is the averaged probabilities,
    so the loss and the metrics take them as they take the network's own."""
    return flip_averaged_probabilities(net, images).clamp_min(torch.finfo(torch.float32).tiny).log()
