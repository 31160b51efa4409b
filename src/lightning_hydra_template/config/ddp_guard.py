"""Refuse the one Hydra + Lightning combination that silently runs the wrong experiments."""

from ..errors import ConfigError


def refuse_script_relaunch_in_sweep(trainer, sweeping: bool) -> None:
    """Stop a multirun job whose DDP strategy would relaunch `train.py` for the other ranks.

    Lightning starts ranks 1..N-1 by re-running the original command line. Inside `-m` that line
    is the whole sweep, so every rank would run its own sweep, and the ranks of one DDP group
    could train with different hyperparameters while all exiting 0.

    One case is safe: a job of `hydra/launcher=slurm`. SLURM started every rank (the cluster
    environment creates the processes, so the launcher starts none), and each task runs the one
    run submitit pickled, not the sweep. `srun python train.py -m ...` is still refused: there
    every task would run the whole sweep.
    """
    import os

    from lightning.pytorch.strategies.launchers.subprocess_script import _SubprocessScriptLauncher

    launcher = getattr(trainer.strategy, "launcher", None)
    environment = getattr(trainer.strategy, "cluster_environment", None)
    started_outside = environment is not None and environment.creates_processes_externally
    # submitit's sbatch script exports SUBMITIT_EXECUTOR=slurm for the job it runs on every task.
    one_run_per_task = started_outside and os.environ.get("SUBMITIT_EXECUTOR") == "slurm"
    if sweeping and isinstance(launcher, _SubprocessScriptLauncher) and not one_run_per_task:
        raise ConfigError(
            "trainer.strategy=ddp starts its other processes by re-running the command line, which "
            "inside a multirun (-m) would re-run the whole sweep in every process. In a sweep use "
            "trainer.strategy=ddp_spawn, or launch each DDP run on its own (torchrun, SLURM), or "
            "sweep with one device per trial (trainer.devices=1)."
        )
