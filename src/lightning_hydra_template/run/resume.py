"""Resume in place: `train.py ckpt_path=<run>/checkpoints/last.ckpt` continues that run, in its folder.

`ckpt_path=auto` continues the newest checkpoint of the run folder (or starts fresh): run the same
command again, after a crash or as a requeued SLURM job, and it goes on where it stopped.

The run folder is chosen while Hydra resolves `hydra.run.dir` (`${run_folder:...}` in
configs/hydra/train.yaml), from `ckpt_path`: no reading of the command line. The run's own
overrides (`<run>/.hydra/overrides.yaml`, or those the checkpoint file recorded) are replayed before
the ones given now, by composing the config again with Hydra, so the same experiment is rebuilt
without retyping it, and keys given now win.
"""

import logging
import os
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from ..checkpoints.run_overrides import replayable
from ..config.moved_keys import renamed_overrides
from ..config.run_folders import run_folder_of
from ..errors import ConfigError, UserError

log = logging.getLogger(__name__)

AUTO = "auto"
__all__ = ["run_folder_of"]  # where tasks ask for it (its home is config/run_folders.py, a resolver's)


def newest_checkpoint(run_dir: Path) -> Path | None:
    """The checkpoint holding the run's newest state: the last written `last*.ckpt` (or any)."""
    folder = run_dir / "checkpoints"
    found = sorted(folder.glob("last*.ckpt")) or sorted(folder.glob("*.ckpt"))
    return max(found, key=lambda p: p.stat().st_mtime_ns) if found else None


def requeued_job() -> bool:
    """This process is a SLURM job started again (requeued after a preemption or a time limit)."""
    return int(os.environ.get("SLURM_RESTART_COUNT", "0") or 0) > 0


def checkpoint_to_resume(ckpt_path: Any, run_dir: Path) -> str | None:
    """`ckpt_path` as a file: `auto` (or a requeued job) is the run folder's newest checkpoint.

    A new run (no `ckpt_path`) in a folder that holds another run's checkpoints is refused: it
    would mix two runs in one folder.
    """
    newest = newest_checkpoint(run_dir)
    if ckpt_path == AUTO or (ckpt_path is None and newest is not None and requeued_job()):
        if newest is None:
            log.info("ckpt_path=auto: no checkpoint in %s yet; starting fresh.", run_dir / "checkpoints")
            return None
        log.info("ckpt_path=auto: continuing %s", newest)
        return str(newest)
    if ckpt_path is None and newest is not None:
        raise ConfigError(
            f"{run_dir} already holds a run's checkpoints ({newest.name}): continue that run with "
            "ckpt_path=auto, or start a new one in a new folder (leave hydra.run.dir out)."
        )
    return None if ckpt_path is None else str(ckpt_path)


def replayed_config(
    cfg: DictConfig, run_dir: Path, given: list[str], config_name: str
) -> tuple[DictConfig, DictConfig | None]:
    """`cfg` composed again from the resumed run's overrides, then the ones given now; and the
    resumed run's own config (its overrides alone), to check what may change on a resume.

    Unchanged (and no run config) when the checkpoint holds no record of its overrides.
    """
    checkpoint = Path(str(cfg.ckpt_path))
    in_place = run_folder_of(checkpoint) == run_dir.resolve()
    if in_place:
        from omegaconf import OmegaConf

        saved = [str(o) for o in OmegaConf.load(run_dir / ".hydra" / "overrides.yaml")]
    else:  # the checkpoint alone (copied out of its run): its recorded overrides, in this new folder
        saved = _overrides_in(checkpoint)
    if not saved:
        return cfg, None
    saved = renamed_overrides(saved)  # a run recorded before data.loader / data.augment: today's keys
    overrides = [*_not_given(replayable(saved), given), *given]
    if cfg.ckpt_path != _ckpt_override(given):
        overrides.append(f"ckpt_path={quoted(str(cfg.ckpt_path))}")  # auto, resolved to its file
    from hydra import compose

    replayed = compose(config_name=config_name, overrides=overrides)
    if not in_place:
        _record_overrides(run_dir, replayed, overrides)
    return replayed, compose(config_name=config_name, overrides=replayable(saved))


def check_resume_changes(run_cfg: DictConfig, cfg: DictConfig, resumed: dict[str, Any]) -> None:
    """Refuse, in one line, what cannot change in the middle of a run; the rest is applied.

    The network: the checkpoint's weights are that network's (a new one starts with init_from).
    The batch size in the middle of an epoch: the rest of the epoch would be other batches than
    the ones not yet seen (Lightning resumes at a batch index).
    """
    from omegaconf import OmegaConf

    def plain(config: DictConfig, key: str) -> Any:
        value = OmegaConf.select(config, key)
        return OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else value

    changed = _first_difference(plain(run_cfg, "model.net"), plain(cfg, "model.net"), "model.net")
    if changed:
        raise ConfigError(
            f"{changed} cannot change when resuming ckpt_path={cfg.ckpt_path}: its weights belong to "
            "the run's network. Resume without it, or start a new run from these weights: "
            f"init_from={cfg.ckpt_path}."
        )
    key = "data.loader.batch_size"
    before, now = plain(run_cfg, key), plain(cfg, key)
    if resumed.get("epoch_finished") is False and before != now:
        raise ConfigError(
            f"{key}={now} cannot change in the middle of an epoch (ckpt_path={cfg.ckpt_path} "
            f"was saved at step {resumed['global_step']}, batch size {before}): resume with "
            f"{key}={before}, or from a checkpoint saved at the end of an epoch."
        )


def _first_difference(before: Any, now: Any, key: str) -> str | None:
    """The first dotted key (`key=<now>`) where `now` differs from `before`; None if equal."""
    if isinstance(before, dict) and isinstance(now, dict):
        for name in [*before, *(k for k in now if k not in before)]:
            found = _first_difference(before.get(name), now.get(name), f"{key}.{name}")
            if found:
                return found
        return None
    return None if before == now else f"{key}={now}"


def _not_given(saved: list[str], given: list[str]) -> list[str]:
    """The saved overrides whose key is not given now (keys compared by Hydra's override parser)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    keys_given = {o.key_or_group for o in parser.parse_overrides(given)}
    return [o.input_line for o in parser.parse_overrides(saved) if o.key_or_group not in keys_given]


def _ckpt_override(given: list[str]) -> str | None:
    from hydra.core.override_parser.overrides_parser import OverridesParser

    values = [
        o.value() for o in OverridesParser.create().parse_overrides(given) if o.key_or_group == "ckpt_path"
    ]
    return str(values[-1]) if values else None


def quoted(value: str) -> str:
    """`value` as a Hydra override value: quoted when it holds what Hydra's grammar would read
    (spaces, commas, brackets, quotes, `=`)."""
    if all((c.isascii() and c.isalnum()) or c in "/._-+~@:" for c in value):
        return value
    return "'" + value.replace("'", "\\'") + "'"


def _record_overrides(run_dir: Path, cfg: DictConfig, overrides: list[str]) -> None:
    """What Hydra saved in `.hydra/` before the replay, replaced by the replayed config: eval.py
    and a later resume read the model this folder really trained."""
    from lightning.pytorch.utilities import rank_zero_only
    from omegaconf import OmegaConf

    from ..atomic_files import atomic_write_text

    if rank_zero_only.rank != 0 or not (run_dir / ".hydra").is_dir():
        return
    atomic_write_text(run_dir / ".hydra" / "config.yaml", OmegaConf.to_yaml(cfg))
    atomic_write_text(run_dir / ".hydra" / "overrides.yaml", OmegaConf.to_yaml(OmegaConf.create(overrides)))


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

    def training_limit_reached(self, cfg: DictConfig) -> str | None:
        """The limit (`trainer.max_epochs=3`) this checkpoint has trained to; None when more is left."""
        max_epochs, max_steps = cfg.trainer.get("max_epochs"), cfg.trainer.get("max_steps", -1)
        out_of_epochs = max_epochs not in (None, -1) and self.progress["completed_epochs"] >= max_epochs
        out_of_steps = max_steps not in (None, -1) and self.global_step >= max_steps
        if out_of_epochs or out_of_steps:
            return f"trainer.max_epochs={max_epochs}" if out_of_epochs else f"trainer.max_steps={max_steps}"
        return None

    def check_there_is_more_to_train(self, cfg: DictConfig) -> None:
        """A resume that would train nothing is an error, not a silent test of the old weights."""
        limit = self.training_limit_reached(cfg)
        if limit is not None:
            epochs_done = self.progress["completed_epochs"]
            raise ConfigError(
                f"ckpt_path={self.path} has already trained {epochs_done} epochs ({limit}): nothing is "
                f"left to train. Ask for more (trainer.max_epochs={epochs_done + 5}), or test it with "
                f"python eval.py ckpt_path={self.path}."
            )

    def untested_run(self, cfg: DictConfig, run_dir: Path) -> dict[str, Any] | None:
        """The record (`metrics.json`) of the run this resume finishes by testing it, or None.

        A run stopped by a signal after its last training step (in the last validation, or while
        testing) has trained everything and still owes its test: resuming it in its own folder runs
        the test, where a finished run's resume is refused (check_there_is_more_to_train).
        """
        from ..run_status import METRICS_FILE, RunStatus

        record = run_dir / METRICS_FILE
        if not cfg.get("test") or self.training_limit_reached(cfg) is None or not record.is_file():
            return None
        if run_folder_of(Path(self.path)) != run_dir.resolve():
            return None  # a checkpoint copied out of its run: this folder holds no record of it
        import json

        summary = json.loads(record.read_text())
        return summary if summary.get("status") == RunStatus.INTERRUPTED else None

    def check_weights_fit(self, model) -> None:
        """Name the first mismatch between the checkpoint's tensors and the model built from config."""
        check_weights_fit(model, self.checkpoint, self.path, RESUME_FIX)


RESUME_FIX = (
    "Resume with the run's own config: it is reused while the checkpoint is in <run>/checkpoints/ beside "
    "<run>/.hydra/."
)


def check_weights_fit(model, checkpoint: dict[str, Any], path: str, fix: str) -> None:
    """A `ConfigError` naming the first mismatch between `checkpoint`'s tensors and `model`, and `fix`."""
    expected = model.state_dict()
    saved = checkpoint.get("state_dict", {})
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
    raise ConfigError(f"ckpt_path={path} does not fit the model this config builds ({detail}). {fix}")


def starting_weights(model, cfg: DictConfig, resume: ResumePoint | None) -> None:
    """The weights a run starts from: a resume's (checked to fit; Lightning loads them), or
    `init_from`'s network tensors for a new run. A resume has its weights already: init_from
    started the run it continues."""
    if resume is not None:
        resume.check_weights_fit(model)
    elif cfg.get("init_from"):
        from .init_from import initialise_from

        initialise_from(model, cfg.init_from)
