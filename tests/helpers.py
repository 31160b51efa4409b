"""Helpers shared by the tests: running the entry scripts as a user does, and injecting faults."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import lightning as L
from omegaconf import DictConfig, OmegaConf

from lightning_hydra_template.project import PROJECT_ROOT


def run(*args: str, data_dir: Path | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    """`python *args` from the project root, as a user types it; `data_dir` becomes DATA_DIR."""
    env = {**os.environ, **({"DATA_DIR": str(data_dir)} if data_dir else {})}
    return subprocess.run(
        [sys.executable, *args], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=timeout, env=env
    )


def read_metrics(run_dir: Path) -> dict[str, Any]:
    """A run's metrics.json, parsed strictly (NaN or Infinity literals would raise)."""

    def refuse(constant: str) -> None:
        raise ValueError(f"metrics.json holds {constant}: not strict JSON")

    return json.loads((run_dir / "metrics.json").read_text(), parse_constant=refuse)


class SignalAtStep(L.Callback):
    """Fault injection: the process sends itself `signum` once the optimizer has taken `step` steps.

    Added to a run as `+callbacks.fault._target_=tests.helpers.SignalAtStep +callbacks.fault.step=N`.
    SIGKILL is the `kill -9` nothing can catch; SIGTERM is what SLURM, Kubernetes and `timeout` send.
    """

    def __init__(self, step: int, signum: int = signal.SIGTERM) -> None:
        self.step, self.signum = step, signum

    def on_train_batch_end(self, trainer: L.Trainer, *args: Any) -> None:
        if trainer.global_step == self.step:
            os.kill(os.getpid(), self.signum)


def save_hydra_config(cfg: DictConfig) -> None:
    """What Hydra saves before every run, unresolved (in-process tests bypass hydra.main)."""
    run_dir = Path(cfg.hydra.runtime.output_dir)
    (run_dir / ".hydra").mkdir(parents=True)
    saved = OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"])
    OmegaConf.save(saved, run_dir / ".hydra" / "config.yaml")
