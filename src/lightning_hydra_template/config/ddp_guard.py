"""Refuse the one Hydra + Lightning combination that silently runs the wrong experiments."""

from ..errors import ConfigError


def refuse_script_relaunch_in_sweep(trainer, sweeping: bool) -> None:
    """Stop a multirun job whose DDP strategy would relaunch `train.py` for the other ranks.

    Lightning starts ranks 1..N-1 by re-running the original command line. Inside `-m` that line
    is the whole sweep, so every rank would run its own sweep, and the ranks of one DDP group
    could train with different hyperparameters while all exiting 0. Where the ranks were started
    already (`srun` with one task per device: SLURM's cluster environment creates the processes)
    the launcher starts nothing, and every task is one rank of the same job.
    """
    from lightning.pytorch.strategies.launchers.subprocess_script import _SubprocessScriptLauncher

    launcher = getattr(trainer.strategy, "launcher", None)
    environment = getattr(trainer.strategy, "cluster_environment", None)
    started_outside = environment is not None and environment.creates_processes_externally
    if sweeping and isinstance(launcher, _SubprocessScriptLauncher) and not started_outside:
        raise ConfigError(
            "trainer.strategy=ddp starts its other processes by re-running the command line, which "
            "inside a multirun (-m) would re-run the whole sweep in every process. In a sweep use "
            "trainer.strategy=ddp_spawn, or launch each DDP run on its own (torchrun, SLURM), or "
            "sweep with one device per trial (trainer.devices=1)."
        )
