"""Resume in place: `train.py ckpt_path=<run>/checkpoints/last.ckpt` continues that run, in its folder.

The run's own overrides (`<run>/.hydra/overrides.yaml`) are replayed before the ones given now,
so the same experiment is rebuilt without retyping it, and keys given now win.
"""

from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from ..checkpoints.run_overrides import replayable
from ..errors import ConfigError, UserError

_CKPT_KEYS = ("ckpt_path", "+ckpt_path", "++ckpt_path")


def _key(argument: str) -> str:
    return argument.split("=", 1)[0].lstrip("+~")


def _value(argument: str) -> str:
    return argument.split("=", 1)[1].strip("'\"")


def run_folder_of(checkpoint: Path) -> Path | None:
    """The run folder a checkpoint was saved in (`<run>/checkpoints/`, beside `<run>/.hydra/`), if any."""
    folder = checkpoint.expanduser().resolve().parent
    run_dir = folder.parent
    return (
        run_dir if folder.name == "checkpoints" and (run_dir / ".hydra" / "config.yaml").is_file() else None
    )


def resume_arguments(argv: list[str]) -> list[str]:
    """`argv` with the checkpoint's run replayed into its own folder; unchanged when not resuming.

    Keys given now win for this invocation; a later resume replays the original ones again.

    Not for a sweep (-m), nor when `hydra.run.dir` is given (a new folder asked for on purpose,
    or a DDP rank that Lightning relaunched with the folder already chosen).
    """
    from omegaconf import OmegaConf

    arguments = argv[1:]
    given = [a for a in arguments if "=" in a and not a.startswith("-")]
    checkpoints = [a for a in given if a.split("=", 1)[0] in _CKPT_KEYS]
    if (
        not checkpoints
        or {"-m", "--multirun"} & set(arguments)
        or any(_key(a) == "hydra.run.dir" for a in given)
    ):
        return argv
    checkpoint = Path(_value(checkpoints[-1]))
    run_dir = run_folder_of(checkpoint)
    keys_given = {_key(a) for a in given}
    if run_dir is None or not (run_dir / ".hydra" / "overrides.yaml").is_file():
        # The checkpoint alone (copied out of its run): its recorded overrides, in a new run folder.
        saved = _overrides_in(checkpoint)
        if saved is None:
            return argv
        replayed = [o for o in saved if _key(o) not in keys_given]
        return [argv[0], *replayed, *arguments]
    saved = OmegaConf.load(run_dir / ".hydra" / "overrides.yaml")
    replayed = [str(o) for o in replayable([str(o) for o in saved]) if _key(str(o)) not in keys_given]
    # output_subdir=null: the run's .hydra/ keeps how it was started; this resume is logged instead.
    return [argv[0], *replayed, *arguments, f"hydra.run.dir={run_dir}", "hydra.output_subdir=null"]


def _overrides_in(checkpoint: Path) -> list[str] | None:
    """The overrides a checkpoint file recorded; None when it holds none or cannot be read (the
    task then names the problem with the file itself)."""
    from ..checkpoints.file import load_checkpoint
    from ..checkpoints.run_overrides import saved_overrides

    try:
        return saved_overrides(load_checkpoint(checkpoint))
    except UserError:  # a missing or damaged file: the task reports it, with the fix
        return None


class ResumePoint:
    """The checkpoint a run resumes from (`ckpt_path`), read once: every question about it is asked here.

    Lightning restores the trainer from the same dict (`AtomicCheckpointIO(already_read=...)`), so
    the file is read once per run.
    """

    def __init__(self, path: str, checkpoint: dict[str, Any]) -> None:
        from ..checkpoints.file import checkpoint_summary

        self.path = path
        self.checkpoint = checkpoint
        self.progress = checkpoint_summary(checkpoint)  # epoch, global_step, epoch_finished, completed_epochs

    @classmethod
    def of(cls, cfg: DictConfig) -> "ResumePoint | None":
        """The run's resume point; None for a fresh run. A missing or damaged file is one clear line."""
        if not cfg.get("ckpt_path"):
            return None
        from ..checkpoints.file import load_checkpoint

        return cls(str(cfg.ckpt_path), load_checkpoint(cfg.ckpt_path))

    @property
    def global_step(self) -> int:
        return self.progress["global_step"]

    @property
    def tensorboard_purge_step(self) -> int:
        """The logging step the resumed run continues from; TensorBoard hides events from there on."""
        loop = self.checkpoint.get("loops", {}).get("fit_loop", {}).get("epoch_loop.state_dict", {})
        return int(loop.get("_batches_that_stepped", self.global_step))

    def check_there_is_more_to_train(self, cfg: DictConfig) -> None:
        """A resume that would train nothing is an error, not a silent test of the old weights."""
        max_epochs, max_steps = cfg.trainer.get("max_epochs"), cfg.trainer.get("max_steps", -1)
        epochs_done = self.progress["completed_epochs"]
        out_of_epochs = max_epochs not in (None, -1) and epochs_done >= max_epochs
        out_of_steps = max_steps not in (None, -1) and self.global_step >= max_steps
        if out_of_epochs or out_of_steps:
            limit = f"trainer.max_epochs={max_epochs}" if out_of_epochs else f"trainer.max_steps={max_steps}"
            raise ConfigError(
                f"ckpt_path={self.path} has already trained {epochs_done} epochs ({limit}): nothing is "
                f"left to train. Ask for more (trainer.max_epochs={epochs_done + 5}), or test it with "
                f"python eval.py ckpt_path={self.path}."
            )

    def check_weights_fit(self, model) -> None:
        """Name the first mismatch between the checkpoint's tensors and the model built from config."""
        expected = model.state_dict()
        saved = self.checkpoint.get("state_dict", {})
        missing = sorted(set(expected) - set(saved))
        unexpected = sorted(set(saved) - set(expected))
        shapes = [k for k in expected if k in saved and tuple(expected[k].shape) != tuple(saved[k].shape)]
        if not (missing or unexpected or shapes):
            return
        if shapes:
            k = shapes[0]
            detail = f"{k} is {tuple(saved[k].shape)} in the checkpoint but {tuple(expected[k].shape)} here"
        else:
            detail = f"missing {missing[:3]}" if missing else f"unexpected {unexpected[:3]}"
        raise ConfigError(
            f"ckpt_path={self.path} does not fit the model this config builds ({detail}). Resume with the "
            "run's own config: it is reused while the checkpoint is in <run>/checkpoints/ beside "
            "<run>/.hydra/."
        )


def starting_weights(model, cfg: DictConfig, resume: ResumePoint | None) -> None:
    """The weights a run starts from: a resume's (checked to fit; Lightning loads them), or
    `init_from`'s network tensors for a new run. A resume has its weights already: init_from
    started the run it continues."""
    if resume is not None:
        resume.check_weights_fit(model)
    elif cfg.get("init_from"):
        from .init_from import initialise_from

        initialise_from(model, cfg.init_from)
