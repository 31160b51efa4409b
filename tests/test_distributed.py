"""DDP on CPU: two processes on this machine, the multirun guard, and two torchrun "nodes"."""

import json
import os
import socket
import subprocess
import sys

import pytest

from lightning_hydra_template.config.project import PROJECT_ROOT

from .helpers import run

SMALL = ["experiment=mlp", "debug=fast", "data.val_size=100", "model.net.hidden_sizes=[16]"]


@pytest.mark.slow
def test_ddp_sim_matches_a_single_process_evaluation(fake_data_dir, tmp_path):
    result = run(
        "train.py", *SMALL, "trainer=ddp_sim", f"hydra.run.dir={tmp_path / 'ddp'}", data_dir=fake_data_dir
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    ddp = json.loads((tmp_path / "ddp" / "metrics.json").read_text())
    assert ddp["world_size"] == 2
    assert sorted(p.name for p in (tmp_path / "ddp" / "checkpoints").iterdir()) == ["best.ckpt", "last.ckpt"]
    assert "It is recommended to use `self.log(" not in result.stderr  # epoch metrics are synchronised

    # The same checkpoint, tested by one process: the synchronised metrics must agree.
    result = run(
        "eval.py",
        f"ckpt_path={ddp['best_checkpoint']}",
        "trainer=cpu",
        f"hydra.run.dir={tmp_path / 'single'}",
        data_dir=fake_data_dir,
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    single = json.loads((tmp_path / "single" / "metrics.json").read_text())["metrics"]
    assert single["test/acc"] == pytest.approx(ddp["metrics"]["test/acc"], abs=1e-6)
    assert single["test/f1"] == pytest.approx(ddp["metrics"]["test/f1"], abs=1e-6)
    assert single["test/loss"] == pytest.approx(ddp["metrics"]["test/loss"], abs=1e-5)


def test_ddp_inside_a_multirun_is_refused_before_anything_trains(fake_data_dir, tmp_path):
    result = run(
        "train.py",
        "-m",
        *SMALL,
        "trainer=ddp_sim",
        "seed=1,2",
        f"hydra.sweep.dir={tmp_path}",
        data_dir=fake_data_dir,
    )
    assert result.returncode == 1
    assert "would re-run the whole sweep in every process" in result.stdout + result.stderr
    assert not list(tmp_path.rglob("*.ckpt"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_torchrun_nodes_train_as_one_world(fake_data_dir, tmp_path):
    port = free_port()
    nodes = [
        subprocess.Popen(
            [sys.executable, "-m", "torch.distributed.run", "--nnodes=2", "--nproc-per-node=1",
             f"--node-rank={rank}", "--master-addr=127.0.0.1", f"--master-port={port}",
             "train.py", *SMALL, "trainer=ddp_sim", "trainer.devices=1", "trainer.num_nodes=2",
             f"hydra.run.dir={tmp_path / f'node{rank}'}"],
            cwd=PROJECT_ROOT, env={**os.environ, "DATA_DIR": str(fake_data_dir)},
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        for rank in (0, 1)
    ]  # fmt: skip
    outputs = [node.communicate(timeout=300)[0] for node in nodes]
    assert [node.returncode for node in nodes] == [0, 0], outputs[0][-2000:] + outputs[1][-2000:]
    summary = json.loads((tmp_path / "node0" / "metrics.json").read_text())
    assert summary["world_size"] == 2
    assert not (tmp_path / "node1" / "metrics.json").exists()  # only global rank 0 reports
