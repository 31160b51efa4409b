"""load_checkpoint: a usable checkpoint, or a message naming the file and another to use."""

import pickle
import random
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from torch.utils.data import DataLoader, TensorDataset

from lightning_hydra_template.checkpoints.file import CheckpointError, checkpoint_summary, load_checkpoint
from lightning_hydra_template.errors import MissingFileError, UserError

BATCHES_PER_EPOCH = 4


class TinyModel(L.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(4, 2)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        inputs, targets = batch
        return torch.nn.functional.cross_entropy(self.layer(inputs), targets)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.1)


class SaveAfterBatch(L.Callback):
    """Save `name` after batch `batch_idx` of `epoch`: where an interrupted run's last save lies."""

    def __init__(self, folder: Path, epoch: int, batch_idx: int, name: str) -> None:
        self.path, self.epoch, self.batch_idx = folder / name, epoch, batch_idx

    def on_train_batch_end(self, trainer: L.Trainer, *args: Any) -> None:
        if (trainer.current_epoch, args[-1]) == (self.epoch, self.batch_idx):
            trainer.save_checkpoint(self.path)


class Opaque:
    """Not a tensor, not a plain value: weights_only loading refuses it."""


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, L.Trainer]:
    """Two epochs of four batches, saved at each epoch end, mid-epoch, after a last batch and at the end."""
    folder = tmp_path_factory.mktemp("run")
    generator = torch.Generator().manual_seed(0)
    data = TensorDataset(torch.randn(16, 4, generator=generator), torch.arange(16) % 2)
    trainer = L.Trainer(
        max_epochs=2,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=True,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=folder,
        callbacks=[
            ModelCheckpoint(dirpath=folder, filename="{epoch}", save_top_k=-1),
            SaveAfterBatch(folder, epoch=1, batch_idx=1, name="mid_epoch.ckpt"),
            SaveAfterBatch(folder, epoch=0, batch_idx=BATCHES_PER_EPOCH - 1, name="after_last_batch.ckpt"),
        ],
    )
    trainer.fit(TinyModel(), DataLoader(data, batch_size=16 // BATCHES_PER_EPOCH))
    trainer.save_checkpoint(folder / "end.ckpt")
    return folder, trainer


def summary_of(path: Path) -> dict[str, Any]:
    return checkpoint_summary(load_checkpoint(path))


@pytest.mark.slow
def test_a_lightning_checkpoint_loads_as_its_dict_on_the_cpu(run: tuple[Path, L.Trainer]) -> None:
    folder, trainer = run
    checkpoint = load_checkpoint(str(folder / "end.ckpt"))
    assert torch.equal(checkpoint["state_dict"]["layer.weight"], trainer.lightning_module.layer.weight)
    assert checkpoint["state_dict"]["layer.weight"].device.type == "cpu"


@pytest.mark.slow
def test_the_final_checkpoint_counts_every_epoch_the_trainer_ran(run: tuple[Path, L.Trainer]) -> None:
    folder, trainer = run
    assert summary_of(folder / "end.ckpt") == {
        "epoch": trainer.current_epoch,
        "global_step": trainer.global_step,
        "epoch_finished": True,
        "completed_epochs": trainer.current_epoch,
    }
    assert trainer.current_epoch == 2 and trainer.global_step == 2 * BATCHES_PER_EPOCH


@pytest.mark.slow
def test_a_checkpoint_saved_at_an_epoch_end_counts_that_epoch(run: tuple[Path, L.Trainer]) -> None:
    folder, _ = run
    summary = summary_of(folder / "epoch=0.ckpt")
    assert summary == {
        "epoch": 0,
        "global_step": BATCHES_PER_EPOCH,
        "epoch_finished": True,
        "completed_epochs": 1,
    }


@pytest.mark.slow
def test_a_checkpoint_saved_mid_epoch_counts_only_the_epochs_before(run: tuple[Path, L.Trainer]) -> None:
    folder, _ = run
    summary = summary_of(folder / "mid_epoch.ckpt")
    step = BATCHES_PER_EPOCH + 2  # batches 0 and 1 of the second epoch
    assert summary == {"epoch": 1, "global_step": step, "epoch_finished": False, "completed_epochs": 1}


@pytest.mark.slow
def test_a_checkpoint_saved_after_an_epochs_last_batch_counts_that_epoch(run: tuple[Path, L.Trainer]) -> None:
    # Lightning resumes such a checkpoint at the next epoch: the epoch's batches all ran.
    folder, _ = run
    summary = summary_of(folder / "after_last_batch.ckpt")
    assert summary == {
        "epoch": 0,
        "global_step": BATCHES_PER_EPOCH,
        "epoch_finished": True,
        "completed_epochs": 1,
    }


@pytest.mark.slow
def test_without_loop_state_the_epochs_lightning_recorded_are_the_completed_ones(
    run: tuple[Path, L.Trainer],
) -> None:
    folder, _ = run
    checkpoint = load_checkpoint(folder / "mid_epoch.ckpt")
    del checkpoint["loops"]
    assert checkpoint_summary(checkpoint) == {
        "epoch": 1,
        "global_step": BATCHES_PER_EPOCH + 2,
        "epoch_finished": None,
        "completed_epochs": 1,
    }


def small_checkpoint() -> dict[str, Any]:
    return {"epoch": 0, "global_step": 1, "state_dict": {"layer.weight": torch.ones(64, 64)}}


def truncated(path: Path) -> None:
    torch.save(small_checkpoint(), path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def custom_object(path: Path) -> None:
    torch.save({**small_checkpoint(), "extra": Opaque()}, path)


def plain_pickle(path: Path) -> None:
    path.write_bytes(pickle.dumps({"model": Opaque()}))


def corrupted_bytes(path: Path) -> None:
    """8 bytes overwritten inside a tensor's data: torch.load alone reads it without complaint."""
    torch.save(small_checkpoint(), path)
    with open(path, "r+b") as f:
        f.seek(path.stat().st_size // 2)
        f.write(b"\x00\x00\x00\x40" * 2)  # 2.0s where 1.0s were: finite, plausible; only the CRC tells
    assert not torch.equal(
        torch.load(path, weights_only=True)["state_dict"]["layer.weight"], torch.ones(64, 64)
    )


def non_finite(path: Path) -> None:
    checkpoint = small_checkpoint()
    checkpoint["state_dict"]["net.layer.weight"] = torch.ones(8, 8)
    checkpoint["state_dict"]["net.layer.weight"][3, 5] = float("nan")
    checkpoint["state_dict"]["val_acc_best.max_value"] = torch.tensor(float("-inf"))  # a metric: may be
    torch.save(checkpoint, path)


def not_lightning(path: Path) -> None:
    torch.save({"layer.weight": torch.randn(2, 4)}, path)  # a bare state dict


BAD_FILES: dict[str, tuple[Callable[[Path], Any], str]] = {
    "empty": (lambda path: path.write_bytes(b""), "is empty"),
    "truncated": (truncated, "is damaged"),
    "random bytes": (
        lambda path: path.write_bytes(random.Random(0).randbytes(4096)),
        "is not a PyTorch checkpoint",
    ),
    "text": (lambda path: path.write_text("epoch,loss\n0,1.5\n"), "is not a PyTorch checkpoint"),
    "custom object": (custom_object, "is not a checkpoint this template wrote: it holds a Python object"),
    "plain pickle": (plain_pickle, "is a Python pickle, not a checkpoint this template wrote"),
    "not lightning": (not_lightning, "is a PyTorch file but not a Lightning checkpoint"),
    "corrupted bytes": (corrupted_bytes, "is damaged: the bytes of"),
    "non-finite weights": (non_finite, "holds non-finite weights (net.layer.weight has NaN or infinity)"),
}


@pytest.mark.parametrize("kind", BAD_FILES)
def test_a_bad_file_is_named_with_what_is_wrong_and_what_to_use(tmp_path: Path, kind: str) -> None:
    make, what = BAD_FILES[kind]
    path = tmp_path / "best.ckpt"
    make(path)
    with pytest.raises(CheckpointError) as raised:
        load_checkpoint(path)
    assert str(raised.value).startswith(f"{path} {what}")
    assert "Use another checkpoint, e.g. best.ckpt or last.ckpt" in str(raised.value)


@pytest.mark.parametrize("kind", BAD_FILES)
def test_torchs_advice_to_load_unsafely_is_never_passed_on(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "last.ckpt"
    BAD_FILES[kind][0](path)
    with pytest.raises(UserError) as raised:
        load_checkpoint(path)
    assert "weights_only" not in str(raised.value)
    # Nor beneath it, were the traceback shown: torch's error is not chained to it.
    assert "Weights only load failed" not in "".join(traceback.format_exception(raised.value))


def test_a_refused_object_is_named_by_its_class(tmp_path: Path) -> None:
    custom_object(tmp_path / "x.ckpt")
    with pytest.raises(CheckpointError, match=r"it holds a Python object \([\w.]*\.Opaque\)"):
        load_checkpoint(tmp_path / "x.ckpt")


def test_a_missing_file_lists_the_checkpoints_beside_it(tmp_path: Path) -> None:
    torch.save(small_checkpoint(), tmp_path / "last.ckpt")
    with pytest.raises(MissingFileError) as raised:
        load_checkpoint(tmp_path / "best.ckpt")
    assert (
        str(raised.value)
        == f"{tmp_path / 'best.ckpt'} does not exist. Checkpoints there: {tmp_path / 'last.ckpt'}"
    )


def test_a_missing_file_in_an_empty_folder_says_where_checkpoints_are(tmp_path: Path) -> None:
    with pytest.raises(
        MissingFileError, match=r"logs/train/runs/<run>/checkpoints/ \(best.ckpt or last.ckpt\)"
    ):
        load_checkpoint(tmp_path / "nowhere" / "best.ckpt")


def test_a_run_folder_is_refused_with_its_checkpoints(tmp_path: Path) -> None:
    (tmp_path / "checkpoints").mkdir()
    torch.save(small_checkpoint(), tmp_path / "checkpoints" / "best.ckpt")
    with pytest.raises(CheckpointError) as raised:
        load_checkpoint(tmp_path)
    inside = tmp_path / "checkpoints" / "best.ckpt"
    assert str(raised.value) == f"{tmp_path} is a folder, not a checkpoint file. Checkpoints there: {inside}"
