"""An LR scheduler factory together with how Lightning should step it."""

from collections.abc import Callable

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler, ReduceLROnPlateau

from ..errors import ConfigError


class LRSchedule:
    """What a `scheduler/*.yaml` config builds.

    `factory` is a `_partial_` torch scheduler still missing its optimizer. Schedules laid out over
    the whole run (one-cycle, cosine in steps) name in `total_steps_arg` the argument that receives
    `trainer.estimated_stepping_batches`, so no config has to know the dataset size.
    (A plain class, not a dataclass: Hydra would turn a dataclass passed to `instantiate` back
    into a config.)
    """

    def __init__(
        self,
        factory: Callable[..., LRScheduler | ReduceLROnPlateau],
        interval: str = "epoch",
        frequency: int = 1,
        monitor: str | None = None,
        total_steps_arg: str | None = None,
    ) -> None:
        if interval not in ("step", "epoch"):
            raise ConfigError(f"scheduler.interval must be 'step' or 'epoch', got {interval!r}.")
        if total_steps_arg and interval != "step":
            raise ConfigError(
                f"scheduler.total_steps_arg={total_steps_arg!r} counts optimizer steps, "
                "so scheduler.interval must be 'step'."
            )
        self.factory = factory
        self.interval = interval
        self.frequency = frequency
        self.monitor = monitor
        self.total_steps_arg = total_steps_arg

    def build(self, optimizer: Optimizer, total_steps: int) -> dict:
        """The `lr_scheduler` dict Lightning expects from `configure_optimizers`."""
        extra = {self.total_steps_arg: int(total_steps)} if self.total_steps_arg else {}
        extra.update(per_group_peaks(self.factory, optimizer))
        scheduler = self.factory(optimizer, **extra)
        config = {"scheduler": scheduler, "interval": self.interval, "frequency": self.frequency}
        if self.monitor:
            config["monitor"] = self.monitor
        return config


# Scheduler arguments that set a rate for every group at once (one-cycle's and cyclic's peaks):
# given one number, they would undo the per-group rates of `model.lr_multipliers`.
PEAK_ARGS = ("max_lr", "base_lr")


def per_group_peaks(factory: Callable, optimizer: Optimizer) -> dict[str, list[float]]:
    """`max_lr` (and `base_lr`) as one value per param group, scaled by the group's `lr_multiplier`."""
    given = getattr(factory, "keywords", {})
    return {
        arg: [float(given[arg]) * group.get("lr_multiplier", 1.0) for group in optimizer.param_groups]
        for arg in PEAK_ARGS
        if isinstance(given.get(arg), int | float)
    }


def check_schedule_covers_run(trainer) -> None:
    """Refuse to train past the end of a schedule laid out over a fixed number of steps.

    A finished one-cycle run asked for more epochs would die a few steps in with torch's
    `Tried to step N times`; say so before training, with the ways forward.
    """
    for config in trainer.lr_scheduler_configs:
        total = getattr(config.scheduler, "total_steps", None)
        if total is not None and trainer.estimated_stepping_batches > total:
            raise ConfigError(
                f"The run's {type(config.scheduler).__name__} schedule was laid out for {total} steps and "
                f"cannot be extended to {int(trainer.estimated_stepping_batches)}; resume with the original "
                "trainer.max_epochs, or start a new run from these weights with a new schedule."
            )
