"""Refuse the one Hydra + Lightning combination that silently runs the wrong experiments."""

from ..errors import ConfigError


def refuse_script_relaunch_in_sweep(trainer, sweeping: bool) -> None:
    """Stop a multirun job whose DDP strategy would relaunch `train.py` for the other ranks.

    Lightning starts ranks 1..N-1 by re-running the original command line. Inside `-m` that line
    is the whole sweep, so every rank would run its own sweep, and the ranks of one DDP group
    could train with different hyperparameters while all exiting 0.
    """
    from lightning.pytorch.strategies.launchers.subprocess_script import _SubprocessScriptLauncher

    if sweeping and isinstance(getattr(trainer.strategy, "launcher", None), _SubprocessScriptLauncher):
        raise ConfigError(
            "trainer.strategy=ddp starts its other processes by re-running the command line, which "
            "inside a multirun (-m) would re-run the whole sweep in every process. In a sweep use "
            "trainer.strategy=ddp_spawn, or launch each DDP run on its own (torchrun, SLURM), or "
            "sweep with one device per trial (trainer.devices=1)."
        )
