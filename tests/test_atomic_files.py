"""Files the template writes: the old version or the whole new one, never a fragment under the name."""

import errno
import json
import os
import subprocess
import sys

import pytest
import torch

from lightning_hydra_template.atomic_files import HOST, atomic_write_json, atomic_write_with
from lightning_hydra_template.checkpoints.atomic_io import AtomicCheckpointIO
from lightning_hydra_template.errors import StorageError


def full_disk():
    """A torch.save that writes part of the file, then fails as a full disk does."""

    def save(obj, f):
        f.write(b"PK" + b"\0" * 1000)
        raise OSError(errno.ENOSPC, "No space left on device")

    return save


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "best.ckpt"
    AtomicCheckpointIO().save_checkpoint({"state_dict": {"w": torch.ones(3)}}, path)
    monkeypatch.setattr(torch, "save", full_disk())
    with pytest.raises(StorageError, match="No space left"):
        AtomicCheckpointIO().save_checkpoint({"state_dict": {"w": torch.zeros(3)}}, path)
    assert torch.equal(torch.load(path)["state_dict"]["w"], torch.ones(3))
    assert [p.name for p in tmp_path.iterdir()] == ["best.ckpt"]


def test_a_checkpoint_too_big_for_its_file_system_never_replaces_the_good_one(small_file_system, monkeypatch):
    disk, elsewhere = small_file_system("256k"), small_file_system("16k")
    monkeypatch.setenv("TMPDIR", str(elsewhere))  # Lightning's own IO staged files here: not ours
    path = disk / "best.ckpt"
    io = AtomicCheckpointIO()
    io.save_checkpoint({"state_dict": {"w": torch.ones(1000)}}, path)  # 4 KB: fits
    with pytest.raises(StorageError, match="the previous best.ckpt is unchanged"):
        io.save_checkpoint({"state_dict": {"w": torch.ones(100_000)}}, path)  # 400 KB: does not
    assert torch.equal(torch.load(path)["state_dict"]["w"], torch.ones(1000))
    assert [p.name for p in disk.iterdir()] == ["best.ckpt"]


def test_an_interrupted_writer_leaves_nothing_under_the_real_name(tmp_path):
    def interrupted(f):
        f.write(b"half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write_with(tmp_path / "cache.npy", interrupted)
    assert list(tmp_path.iterdir()) == []


def test_metrics_are_strict_json_with_null_for_nan(tmp_path):
    atomic_write_json(tmp_path / "metrics.json", {"loss": float("nan"), "values": [1.0, float("inf")]})
    text = (tmp_path / "metrics.json").read_text()
    assert json.loads(text, parse_constant=lambda c: pytest.fail(f"{c} in metrics.json")) == {
        "loss": None,
        "values": [1.0, None],
    }


def test_temporary_files_of_dead_processes_are_removed_by_the_next_write(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # its process number now names no process (kill -9 during a write left its file)
    left = tmp_path / f".metrics.json.{HOST}.{dead.pid}.tmp"
    live = tmp_path / f".metrics.json.{HOST}.{os.getppid()}.tmp"  # a process still running
    other_host = tmp_path / f".metrics.json.elsewhere.{dead.pid}.tmp"  # another machine's: not ours to judge
    for path in (left, live, other_host):
        path.write_text("partial")
    atomic_write_json(tmp_path / "metrics.json", {"status": "completed"})
    assert not left.exists() and live.exists() and other_host.exists()
    assert json.loads((tmp_path / "metrics.json").read_text()) == {"status": "completed"}
