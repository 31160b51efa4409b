"""Gradual unfreezing: train the head first, then, from `at_epoch`, the frozen layers at a lower rate."""

import logging

import lightning as L
from lightning.pytorch.callbacks import BaseFinetuning
from torch.optim import Optimizer

from ..errors import ConfigError

log = logging.getLogger(__name__)

# Group keys that are learning rates: the unfrozen layers get them times `lr_factor`.
LR_KEYS = ("lr", "initial_lr", "max_lr", "min_lr")


class Unfreeze(BaseFinetuning):
    """Unfreezes what `model.freeze` froze, at the start of epoch `at_epoch`, at `lr_factor` x the rate.

    Not Lightning's `BackboneFinetuning`: that one needs a `backbone` attribute and adds a param
    group no LR scheduler knows of (one-cycle then fails on its missing `max_lr`). Here the new
    groups copy the schedule's per-group settings, scaled, and each scheduler learns their base
    rate, so every schedule carries on over all groups. What is frozen stays one fact,
    `model.freeze`; BaseFinetuning brings the added groups back on resume.
    """

    def __init__(self, at_epoch: int = 5, lr_factor: float = 0.1) -> None:
        super().__init__()
        if at_epoch < 0 or not 0 < lr_factor <= 1:
            raise ConfigError(
                f"callbacks.unfreeze needs at_epoch >= 0 and 0 < lr_factor <= 1, got {at_epoch}, {lr_factor}."
            )
        self.at_epoch, self.lr_factor = at_epoch, lr_factor

    def freeze_before_training(self, pl_module: L.LightningModule) -> None:
        if not pl_module.hparams.get("freeze"):
            raise ConfigError(
                "callbacks.unfreeze has nothing to unfreeze: set model.freeze=[<module names>]."
            )

    def finetune_function(self, pl_module: L.LightningModule, epoch: int, optimizer: Optimizer) -> None:
        if epoch < self.at_epoch:
            return
        frozen = [p for p in pl_module.parameters() if not p.requires_grad]
        if not frozen:
            return
        for param in frozen:
            param.requires_grad_(True)
        known = {id(p) for group in optimizer.param_groups for p in group["params"]}
        new = [p for p in frozen if id(p) not in known]  # on resume, the groups are back already
        if new:
            self._add_groups(pl_module, optimizer, new)
        rates = ", ".join(f"{group['lr']:.3g}" for group in optimizer.param_groups)
        log.info(
            "Epoch %d: unfroze %s (%d tensors) at %g x the learning rate; the groups' rates are now %s",
            epoch, ", ".join(pl_module.hparams["freeze"]), len(frozen), self.lr_factor, rates,
        )  # fmt: skip

    def _add_groups(self, pl_module: L.LightningModule, optimizer: Optimizer, params: list) -> None:
        template = {k: v for k, v in optimizer.param_groups[0].items() if k != "params"}
        scaled = {k: template[k] * self.lr_factor for k in LR_KEYS if k in template}
        decay_all = pl_module.hparams.get("decay_norm_and_bias", False)
        # As optim/param_groups.py does: no weight decay on biases and norms.
        decayed = [p for p in params if p.ndim >= 2 or decay_all]
        undecayed = [p for p in params if p.ndim < 2 and not decay_all]
        for group_params, decay in ((decayed, True), (undecayed, False)):
            if not group_params:
                continue
            group = {**template, **scaled, "params": group_params}
            group["lr_multiplier"] = template.get("lr_multiplier", 1.0) * self.lr_factor
            if not decay:
                group["weight_decay"] = 0.0
            optimizer.add_param_group(group)
            for config in pl_module.trainer.lr_scheduler_configs:
                scheduler = config.scheduler
                for attribute in ("base_lrs", "_last_lr", "min_lrs"):  # per-group lists (plateau: min_lrs)
                    values = getattr(scheduler, attribute, None)
                    if isinstance(values, list) and len(values) < len(optimizer.param_groups):
                        values.append(values[0] * self.lr_factor)
