"""Helpers shared by the tests: running the entry scripts as a user does, injecting faults, and small
datasets written into temporary folders (FashionMNIST-shaped IDX files, image folders with CSVs)."""

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf
from PIL import Image

from lightning_hydra_template.config.project import CONFIG_DIR, PROJECT_ROOT
from lightning_hydra_template.data.idx import write_idx


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


class SignalInEvaluation(L.Callback):
    """Fault injection: the process sends itself `signum` after batch `batch` of the test stage
    (`stage="test"`) or of epoch `epoch`'s validation (`stage="validate"`; sanity checks excluded).

    Added to a run as `+callbacks.fault._target_=tests.helpers.SignalInEvaluation
    +callbacks.fault.stage=test`: a signal while `trainer.test` runs, or in the last validation.
    """

    def __init__(
        self, stage: str, batch: int = 0, epoch: int | None = None, signum: int = signal.SIGTERM
    ) -> None:
        self.stage, self.batch, self.epoch, self.signum = stage, batch, epoch, signum

    def on_test_batch_end(
        self, trainer: L.Trainer, module: L.LightningModule, outputs, batch, batch_idx, *args
    ) -> None:
        if self.stage == "test" and batch_idx == self.batch:
            os.kill(os.getpid(), self.signum)

    def on_validation_batch_end(
        self, trainer: L.Trainer, module: L.LightningModule, outputs, batch, batch_idx, *args
    ) -> None:
        at_epoch = self.epoch is None or trainer.current_epoch == self.epoch
        if self.stage == "validate" and not trainer.sanity_checking and at_epoch and batch_idx == self.batch:
            os.kill(os.getpid(), self.signum)


class KillOnceAtStep(L.Callback):
    """Fault injection: `kill -9` of the process once the optimizer has taken `step` steps, the first
    time only: it writes `marker` first, and a process that finds it (a restarted worker) goes on.

    Added to a run as `+callbacks.fault._target_=tests.helpers.KillOnceAtStep
    +callbacks.fault.step=N +callbacks.fault.marker=<file>`, e.g. under `torchrun --max-restarts=1`.
    """

    def __init__(self, step: int, marker: str) -> None:
        self.step, self.marker = step, Path(marker)

    def on_train_batch_end(self, trainer: L.Trainer, *args: Any) -> None:
        if trainer.global_step == self.step and not self.marker.exists():
            self.marker.write_text(f"killed at step {self.step}\n")
            os.kill(os.getpid(), signal.SIGKILL)


class RecordTrainingBatches(L.Callback):
    """Writes `<folder>/rank<N>-epoch<E>.json`: a digest of each training image, batch by batch.

    Added to a run as `+callbacks.record._target_=tests.helpers.RecordTrainingBatches
    +callbacks.record.folder=...`, to see which samples each DDP process was given (with
    augmentation off, a sample's prepared image is the same in every process).
    """

    def __init__(self, folder: str) -> None:
        self.folder, self.batches = Path(folder), []

    def on_train_batch_start(self, trainer: L.Trainer, module: L.LightningModule, batch: Any, *args) -> None:
        import hashlib

        self.batches.append([hashlib.sha1(image.cpu().numpy().tobytes()).hexdigest() for image in batch[0]])

    def on_train_epoch_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        name = f"rank{trainer.global_rank}-epoch{trainer.current_epoch}.json"
        (self.folder / name).write_text(json.dumps(self.batches))
        self.batches = []


class CrashAtStep(L.Callback):
    """Fault injection: a bug, not a user's mistake: a RuntimeError once the optimizer took `step` steps."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_end(self, trainer: L.Trainer, *args: Any) -> None:
        if trainer.global_step == self.step:
            raise RuntimeError(f"injected crash at step {self.step}")


class NaNWeightsAtStep(L.Callback):
    """Fault injection: the network's first weight becomes NaN before the optimizer's step `step`,
    as a bad batch or a too-high learning rate leaves it; the run then diverges."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, *args: Any) -> None:
        if trainer.global_step == self.step:
            with torch.no_grad():
                next(pl_module.parameters()).fill_(float("nan"))


class RequeueAtStep(L.Callback):
    """Fault injection on a SLURM cluster: once the optimizer has taken `step` steps, the job's first
    start is preempted (`how="requeue"`: `scontrol requeue`, SIGTERM now and the job started again)
    or warned that its time is up (`how="warn"`: SIGUSR2, what `--signal` sends before a time limit;
    the job must save and requeue itself).

    Writes the time of the fault, and of the first training batch after the restart, to `times`.
    """

    def __init__(self, step: int, times: str, how: str = "requeue") -> None:
        self.step, self.times, self.how, self.resumed = step, Path(times), how, False

    def on_train_batch_start(self, trainer: L.Trainer, *args: Any) -> None:
        if os.environ.get("SLURM_RESTART_COUNT", "0") != "0" and not self.resumed:
            self.resumed = True
            with open(self.times, "a") as f:
                f.write(f"training again {time.time()}\n")

    def on_train_batch_end(self, trainer: L.Trainer, *args: Any) -> None:
        if trainer.global_step == self.step and os.environ.get("SLURM_RESTART_COUNT", "0") == "0":
            with open(self.times, "a") as f:
                f.write(f"fault {time.time()}\n")
            job = os.environ["SLURM_JOB_ID"]
            command = (
                ["scontrol", "requeue", job] if self.how == "requeue" else ["scancel", "-s", "USR2", job]
            )
            subprocess.run(command, check=True)
            time.sleep(5)  # the signal arrives meanwhile: this batch is the last before the stop


def fake_scontrol(folder: Path) -> tuple[Path, Path]:
    """An `scontrol` in `folder/bin` that appends its arguments to `folder/scontrol-calls`: SLURM's
    side of a job asking to be requeued, without a cluster. Returns (the bin folder, the calls file)."""
    calls, fake = folder / "scontrol-calls", folder / "bin" / "scontrol"
    fake.parent.mkdir(parents=True, exist_ok=True)
    fake.write_text(f'#!/bin/sh\necho "$@" >> {calls}\n')
    fake.chmod(0o755)
    return fake.parent, calls


class SlowFirstStart(L.Callback):
    """A job's first start trains slowly (`seconds` a batch), so that it is still training when SLURM's
    time limit comes; a requeued start (SLURM_RESTART_COUNT > 0) trains at full speed. Sleeping
    changes no weight. Writes the time of the first batch of each start to `times`.
    """

    def __init__(self, seconds: float, times: str) -> None:
        self.seconds, self.times, self.started = seconds, Path(times), False

    def on_train_batch_start(self, trainer: L.Trainer, *args: Any) -> None:
        if not self.started:
            self.started = True
            with open(self.times, "a") as f:
                f.write(f"start {os.environ.get('SLURM_RESTART_COUNT', '0')} {time.time()}\n")

    def on_train_batch_end(self, trainer: L.Trainer, *args: Any) -> None:
        if os.environ.get("SLURM_RESTART_COUNT", "0") == "0":
            time.sleep(self.seconds)


def save_hydra_config(cfg: DictConfig) -> None:
    """What Hydra saves before every run, unresolved (in-process tests bypass hydra.main)."""
    run_dir = Path(cfg.hydra.runtime.output_dir)
    (run_dir / ".hydra").mkdir(parents=True)
    saved = OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"])
    OmegaConf.save(saved, run_dir / ".hydra" / "config.yaml")


def config_options(group: str) -> list[str]:
    """The names of the configs in `configs/<group>/`."""
    return sorted(p.stem for p in (CONFIG_DIR / group).glob("*.yaml"))


IDX_NAMES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}


def fake_images(labels: np.ndarray, seed: int) -> np.ndarray:
    """28x28 uint8 images whose class is learnable: a bright band at a row set by the label."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 60, size=(len(labels), 28, 28), dtype=np.uint8)
    for i, label in enumerate(labels):
        images[i, 2 + 2 * label : 4 + 2 * label, 4:24] = 250
    return images


def write_fake_fashion_mnist(root: Path, n_train: int = 400, n_test: int = 100) -> Path:
    """Write gzipped IDX files in torchvision's layout under `root/FashionMNIST/raw`."""
    raw = root / "FashionMNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for split, n, seed in (("train", n_train, 0), ("test", n_test, 1)):
        labels = np.arange(n, dtype=np.uint8) % 10
        images_name, labels_name = IDX_NAMES[split]
        write_idx(raw / images_name, fake_images(labels, seed))
        write_idx(raw / labels_name, labels)
    return root


COLOURS = {"cat": (220, 40, 40), "dog": (40, 220, 40), "fox": (40, 40, 220)}


def write_image(path: Path, rgb: tuple[int, int, int], size: tuple[int, int], grey: bool, seed: int) -> None:
    """A flat colour with noise, so each class is easy to tell apart."""
    rng = np.random.default_rng(seed)
    pixels = np.clip(np.array(rgb) + rng.integers(-30, 30, size=(size[1], size[0], 3)), 0, 255).astype(
        np.uint8
    )
    image = Image.fromarray(pixels, "RGB")
    path.parent.mkdir(parents=True, exist_ok=True)
    (image.convert("L") if grey else image).save(path)


def rgb_jpegs_with_names(root: Path, per_class: int = 10) -> Path:
    """`labels.csv` with a header (`image,species`) and string labels; RGB JPEGs of varying sizes."""
    lines = ["image,species"]
    for c, (name, rgb) in enumerate(COLOURS.items()):
        for i in range(per_class):
            file = f"images/{name}{i}.jpg"
            write_image(root / file, rgb, (20 + 3 * i, 24 + 2 * c), grey=False, seed=10 * c + i)
            lines.append(f"{file},{name}")
    (root / "labels.csv").write_text("\n".join(lines) + "\n")
    return root / "labels.csv"


def grey_pngs_headerless(root: Path, per_class: int = 10) -> Path:
    """The tutorial's form: no header, a space after each comma, integer labels; grey PNGs."""
    lines = []
    for c, rgb in enumerate(COLOURS.values()):
        for i in range(per_class):
            file = f"img_{c}_{i}.png"
            write_image(root / "images" / file, rgb, (28, 28), grey=True, seed=100 + 10 * c + i)
            lines.append(f"{file}, {c}")
    (root / "annotations.csv").write_text("\n".join(lines) + "\n")
    return root / "annotations.csv"


def class_folders(root: Path, per_class: int = 4) -> Path:
    """`root/<class>/<file>` in mixed formats: PNG, JPEG and BMP, grey and colour."""
    formats = ["png", "jpg", "bmp"]
    for c, (name, rgb) in enumerate(COLOURS.items()):
        for i in range(per_class):
            write_image(
                root / name / f"{i}.{formats[i % 3]}", rgb, (16 + i, 16), grey=i % 2 == 1, seed=c * 7 + i
            )
    return root


def write_csv(path: Path, header: str | None, lines: list[str]) -> Path:
    """A CSV of `lines` (after `header`, when given) at `path`."""
    path.write_text("\n".join([header, *lines] if header else lines) + "\n")
    return path


def torchvision_weights(path: Path, name: str = "resnet18") -> Path:
    """A state-dict file of torchvision's `name` (seeded random weights): pretrained weights, offline."""
    import torch
    import torchvision

    torch.manual_seed(0)
    torch.save(torchvision.models.get_model(name, weights=None).state_dict(), path)
    return path


def frozen_cnn(**kwargs):
    """A small CNN classifier (`features`, then `head`), seeded, with AdamW; `freeze=[...]` as given."""
    import torch

    from lightning_hydra_template.models.classifier import ImageClassifier
    from lightning_hydra_template.models.cnn import CNN

    torch.manual_seed(0)
    net = CNN(1, 28, 10, channels=[4, 8], hidden_size=16, dropout=0.0)  # no randomness: exact resumes
    return ImageClassifier(net, num_classes=10, optimizer=lambda p: torch.optim.AdamW(p, lr=1e-2), **kwargs)


def fit_on_random_images(model, epochs: int = 1, callbacks=(), ckpt_path=None) -> L.Trainer:
    """A quiet CPU fit on 32 seeded random 28x28 images (4 batches an epoch, no shuffling)."""
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    generator = torch.Generator().manual_seed(0)
    data = TensorDataset(torch.randn(32, 1, 28, 28, generator=generator), torch.arange(32) % 10)
    quiet = {"logger": False, "enable_checkpointing": False, "enable_progress_bar": False}
    trainer = L.Trainer(
        accelerator="cpu", max_epochs=epochs, enable_model_summary=False, num_sanity_val_steps=0,
        callbacks=list(callbacks), **quiet,
    )  # fmt: skip
    trainer.fit(model, DataLoader(data, batch_size=8), DataLoader(data, batch_size=8), ckpt_path=ckpt_path)
    return trainer


def start(*args: str, output: Path, data_dir: Path | None = None) -> subprocess.Popen:
    """`python *args` in the background, as `run` does it, stdout and stderr to the file `output`.

    In a session of its own, so that `stop` finds every process it started (LitServe's workers too).
    """
    env = {**os.environ, **({"DATA_DIR": str(data_dir)} if data_dir else {})}
    with open(output, "wb") as log:
        return subprocess.Popen(
            [sys.executable, *args],
            cwd=PROJECT_ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )


def stop(process: subprocess.Popen, timeout: float = 60) -> tuple[int, list[int]]:
    """SIGTERM, as `kill` sends it; then SIGKILL for whatever of its session still runs.

    Returns the exit code, and the processes of the session that were still alive (not zombies)
    `timeout` seconds after the first process ended: the ones the SIGKILL ended.
    """
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    deadline = time.monotonic() + timeout
    while (left := live_processes_in_session(process.pid)) and time.monotonic() < deadline:
        time.sleep(0.2)
    for pid in left:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return process.returncode, left


def live_processes_in_session(session: int) -> list[int]:
    """The processes of session `session` that still run (zombies excluded), from /proc (Linux)."""
    alive = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            # After "pid (name) ": state, ppid, pgrp, session; the name may hold spaces and brackets.
            state, _, _, sid = stat.read_text().rpartition(")")[2].split()[:4]
            if int(sid) == session and state != "Z":
                alive.append(int(stat.parent.name))
    return alive


def free_port() -> int:
    """A TCP port nothing listens on now, for a server a test starts."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def labelled_pngs(root: Path, n: int = 4, seed: int = 3) -> Path:
    """`n` grey 28x28 PNGs of `fake_images` and `labels.csv` (`file,label` rows, class indices)."""
    labels = np.arange(n) % 10
    lines = ["file,label"]
    root.mkdir(parents=True, exist_ok=True)
    for i, (image, label) in enumerate(zip(fake_images(labels, seed), labels)):
        Image.fromarray(image, "L").save(root / f"image{i}.png")
        lines.append(f"image{i}.png,{label}")
    return write_csv(root / "labels.csv", None, lines)


def tensorboard_images(log_dir: Path) -> dict[str, list]:
    """The image summaries TensorBoard would show for `log_dir`, by tag."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(log_dir), size_guidance={"images": 0})  # 0: keep every one
    events.Reload()
    return {tag: events.Images(tag) for tag in events.Tags()["images"]}


def fashion_mnist_datamodule(data_dir: Path | str, **overrides: Any):
    """FashionMNIST's datamodule as `configs/data/fashion_mnist.yaml` describes it (its facts live there)."""
    from lightning_hydra_template.data.idx_datamodule import IDXDataModule
    from lightning_hydra_template.data.loader_options import LoaderOptions

    cfg = OmegaConf.to_container(OmegaConf.load(CONFIG_DIR / "data" / "fashion_mnist.yaml"), resolve=False)
    facts = {key: cfg[key] for key in ("dataset", "class_names", "mean", "std")}
    loader = LoaderOptions(**{k: v for k, v in cfg["loader"].items() if k != "_target_"})
    return IDXDataModule(str(data_dir), **{**facts, "loader": loader, **overrides})


def fill(folder: Path) -> None:
    """Fill the file system of `folder` to the last byte (a small tmpfs: a full disk, for real)."""
    with open(folder / "filler", "wb", buffering=0) as f:
        for block in (65536, 1):  # big writes, then the last partial block byte by byte
            with contextlib.suppress(OSError):
                while f.write(b"\0" * block):
                    pass


def timm_weights(path: Path, name: str) -> Path:
    """A state-dict file of timm's `name` (seeded random weights, its 1000-class head): offline weights."""
    import timm
    import torch

    torch.manual_seed(0)
    torch.save(timm.create_model(name, pretrained=False).state_dict(), path)
    return path
