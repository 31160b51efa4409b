"""Evaluation task: test a checkpoint with the config its run was trained with.

python eval.py ckpt_path=logs/train/runs/<run>/checkpoints/best.ckpt
"""

import logging
import signal
import warnings
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict

from ..config.entry import task_main
from ..config.moved_keys import renamed_overrides, with_moved_keys

log = logging.getLogger(__name__)

# The parts of a training run's config that decide what the checkpoint means.
RUN_SECTIONS = ("data", "model", "loss")
EVAL_FIX = (
    "eval.py builds the model from the training run's config: drop the model overrides that differ from "
    "training, or evaluate a checkpoint of this model."
)


def command_line_keys() -> list[str]:
    """The keys (or groups) this invocation set on the command line."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.core.override_parser.overrides_parser import OverridesParser

    overrides = OverridesParser.create().parse_overrides(list(HydraConfig.get().overrides.task))
    return [o.key_or_group for o in overrides]


def with_run_config(
    cfg: DictConfig, checkpoint: Path, given: list[str], overrides: list[str] | None
) -> DictConfig:
    """Replace `data`, `model` and `loss` by the training run's, keeping what `given` set explicitly.

    The run's config is its saved `.hydra/config.yaml` beside the checkpoint, or, for a checkpoint
    out of its folder, the train config composed again from the `overrides` the checkpoint recorded.
    """
    saved_path = checkpoint.parent.parent / ".hydra" / "config.yaml"
    if saved_path.is_file():
        saved, source = with_moved_keys(OmegaConf.load(saved_path)), str(saved_path)
    elif overrides is not None:
        from hydra import compose

        replayed = renamed_overrides(overrides)  # recorded before data.loader / data.augment: today's keys
        saved, source = compose(config_name="train", overrides=replayed), f"the overrides in {checkpoint}"
    else:
        log.warning("No training config at %s: using eval.yaml's data and model as composed.", saved_path)
        return cfg
    for section in RUN_SECTIONS:
        if section in given or section not in saved:  # a whole group chosen here, or nothing saved
            continue
        merged = saved[section]
        for key in given:
            if key.startswith(section + "."):
                OmegaConf.update(merged, key[len(section) + 1 :], OmegaConf.select(cfg, key), merge=False)
        with open_dict(cfg):
            cfg[section] = merged
    # The precision the run tested in (bf16 autocast changes the figures): eval reproduces them.
    precision = OmegaConf.select(saved, "trainer.precision")
    if precision is not None and not {"trainer", "trainer.precision"} & set(given):
        with open_dict(cfg):
            cfg.trainer.precision = precision
    log.info("Data and model config from %s", source)
    return cfg


def evaluate(cfg: DictConfig) -> dict[str, Any]:
    """Test `cfg.ckpt_path`; return the summary also written to this run's `metrics.json`."""
    import lightning as L
    from hydra.core.hydra_config import HydraConfig
    from lightning.pytorch.utilities import rank_zero_only

    from ..checkpoints.file import load_checkpoint
    from ..checkpoints.run_overrides import PROVENANCE_KEY, saved_overrides
    from ..config.startup import begin
    from ..run.provenance import collect_provenance, versions_line, write_provenance
    from ..run.run_summary import print_summary, write_metrics
    from ..run_status import scalar_metrics

    checkpoint = Path(cfg.ckpt_path).expanduser().resolve()
    # A missing or damaged file is named here, before anything is built; Lightning gets the same dict.
    saved = load_checkpoint(checkpoint)
    trained_by = saved.get(PROVENANCE_KEY)  # the training run, as the checkpoint recorded it
    cfg = with_run_config(cfg, checkpoint, command_line_keys(), saved_overrides(saved))
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    begin(cfg, is_writer=rank_zero_only.rank == 0, save_dir=run_dir)
    if rank_zero_only.rank == 0:
        evaluated = {"checkpoint": str(checkpoint), "trained_by": trained_by}
        record = write_provenance(run_dir, {**collect_provenance(), **evaluated})
        log.info("Provenance in %s: %s", run_dir / "provenance.json", versions_line(record))
    if cfg.get("seed") is not None:
        L.seed_everything(cfg.seed, workers=True)

    trainer = tested(cfg, checkpoint, saved)
    summary = {
        "run_dir": str(run_dir),
        "checkpoint": str(checkpoint),
        # None for checkpoints written before runs recorded their provenance.
        "trained_by": trained_by,
        "metrics": scalar_metrics(trainer.callback_metrics),
    }
    if trainer.is_global_zero:
        write_metrics(run_dir, summary)
        print_summary(summary)
    return summary


def tested(cfg: DictConfig, checkpoint: Path, saved: dict[str, Any]):
    """The Trainer that tested the checkpoint (`saved`, its dict, already read) on the config's data."""
    import lightning as L

    from ..checkpoints.atomic_io import AtomicCheckpointIO
    from ..config.builders import build_datamodule, build_each, build_lightning_trainer, build_model
    from ..run.resume import check_weights_fit

    datamodule = build_datamodule(cfg)
    model = build_model(cfg, datamodule)
    check_weights_fit(model, saved, str(checkpoint), EVAL_FIX)
    trainer: L.Trainer = build_lightning_trainer(
        cfg,
        callbacks=build_each(cfg.get("callbacks")),
        logger=build_each(cfg.get("logger")) or False,
        plugins=[AtomicCheckpointIO(already_read={checkpoint: saved})],
    )
    _test_unless_stopped(trainer, model, datamodule, checkpoint)
    return trainer


def _test_unless_stopped(trainer, model, datamodule, checkpoint: Path) -> None:
    """`trainer.test` of `checkpoint`, with SIGTERM, SIGINT, SIGUSR1 and SIGUSR2 going through the
    one stop path (run/interruption.py): a signal, even in the last batch, which Lightning lets
    finish, exits with 128 + its number and writes no metrics.json, where Lightning alone exited 0."""
    from lightning.pytorch.utilities.exceptions import SIGTERMException

    from ..run.interruption import RunInterrupted, handled_signals

    with handled_signals() as signals, warnings.catch_warnings():
        # Lightning asks for the callbacks that wrote the checkpoint; testing needs none of them.
        warnings.filterwarnings("ignore", message="Be aware that when using `ckpt_path`")
        try:
            trainer.test(model, datamodule=datamodule, ckpt_path=str(checkpoint))
        except (SIGTERMException, RunInterrupted):
            signals.signum = signals.signum or signal.SIGTERM
    if signals.signum is not None:
        log.error("Evaluation interrupted by %s: nothing written; run the same command again.", signals.name)
        raise SystemExit(signals.exit_code)


main = task_main(evaluate, config_name="eval", what="Evaluation")

if __name__ == "__main__":  # python -m lightning_hydra_template.tasks.evaluate, as from a wheel
    main()
