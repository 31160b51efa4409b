"""Split a module's parameters into optimizer groups: weight-decay exemptions and lr multipliers."""

from collections.abc import Mapping

from torch import nn

from ..errors import ConfigError


def _multiplier(name: str, lr_multipliers: Mapping[str, float]) -> float:
    """The multiplier of the longest prefix (`features`, `features.0`...) that owns `name`."""
    owners = [p for p in lr_multipliers if name == p or name.startswith(p + ".")]
    return lr_multipliers[max(owners, key=len)] if owners else 1.0


def param_groups(
    module: nn.Module,
    decay_norm_and_bias: bool = False,
    lr_multipliers: Mapping[str, float] | None = None,
) -> list[dict]:
    """Parameter groups keyed by (lr multiplier, weight decay or not).

    Biases and normalisation weights (every parameter with fewer than 2 dimensions) get no weight
    decay unless `decay_norm_and_bias`: decaying them only pulls activations towards zero.
    `lr_multipliers` maps submodule names (e.g. `{"features": 0.1}`) to a factor on the base lr;
    each group carries it as `lr_multiplier` for `apply_lr_multipliers`.
    """
    lr_multipliers = dict(lr_multipliers or {})
    names = dict(module.named_parameters())
    unmatched = [p for p in lr_multipliers if not any(n == p or n.startswith(p + ".") for n in names)]
    if unmatched:
        children = ", ".join(name for name, _ in module.named_children())
        raise ConfigError(
            f"model.lr_multipliers names {unmatched}, which own no parameters; "
            f"use submodule names such as: {children}."
        )
    groups: dict[tuple[float, bool], list[nn.Parameter]] = {}
    for name, param in names.items():
        if not param.requires_grad:
            continue
        decay = decay_norm_and_bias or param.ndim >= 2
        groups.setdefault((_multiplier(name, lr_multipliers), decay), []).append(param)
    return [
        {"params": params, "lr_multiplier": mult, **({} if decay else {"weight_decay": 0.0})}
        for (mult, decay), params in groups.items()
    ]


def apply_lr_multipliers(optimizer) -> None:
    """Scale each group's lr by its `lr_multiplier`, once, before a scheduler records `initial_lr`."""
    for group in optimizer.param_groups:
        group["lr"] = group["lr"] * group.get("lr_multiplier", 1.0)
