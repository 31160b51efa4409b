"""A resumed run trains with the learning rate its config asks for, not the one its checkpoint saved.

Lightning restores the optimizer's state after the optimizer is built from the config, so
`train.py ckpt_path=... optimizer.lr=1e-4` would go on at the checkpoint's rate while the printed
config says 1e-4. This callback notes each group's configured base rate before the restore and,
after it, rescales the restored groups (and the scheduler's base rates) to it: a schedule keeps
its shape and its position, at the new height.
"""

import logging

import lightning as L

log = logging.getLogger(__name__)

# What a group or scheduler holds in units of the learning rate (OneCycleLR keeps max_lr and min_lr).
LR_KEYS = ("lr", "initial_lr", "max_lr", "min_lr")


def base_lr(group: dict) -> float:
    """The group's rate before any schedule: schedulers keep it as `initial_lr`."""
    return float(group.get("initial_lr", group["lr"]))


class ConfiguredLearningRate(L.Callback):
    """Rescale the restored optimizer groups to the configured base rates, once, at the start of fit."""

    def __init__(self) -> None:
        self.configured: list[list[float]] | None = None

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # Before Lightning restores the checkpoint's optimizer state (it does so after this hook).
        self.configured = [[base_lr(g) for g in opt.param_groups] for opt in trainer.optimizers]

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.configured is None:
            return
        schedulers = {id(c.scheduler.optimizer): c.scheduler for c in trainer.lr_scheduler_configs}
        for optimizer, configured in zip(trainer.optimizers, self.configured):
            restored = [base_lr(g) for g in optimizer.param_groups]
            if restored == configured or len(restored) != len(configured):
                continue
            scheduler = schedulers.get(id(optimizer))
            for i, (group, new, old) in enumerate(zip(optimizer.param_groups, configured, restored)):
                ratio = new / old if old else 1.0
                for key in LR_KEYS:
                    if key in group:
                        group[key] *= ratio
                if scheduler is not None and hasattr(scheduler, "base_lrs"):
                    scheduler.base_lrs[i] *= ratio
            log.info(
                "Learning rate from the config, not the checkpoint: base rates %s (were %s).",
                configured,
                restored,
            )
        self.configured = None
