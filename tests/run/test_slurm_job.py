"""A SLURM job requeues itself on the warning signal, up to `max_requeues` times (SLURM_RESTART_COUNT).

SLURM is played by its environment variables and an `scontrol` on PATH that records its arguments;
the real cluster's tests are in tests/test_slurm.py.
"""

import logging
import os
from pathlib import Path

import pytest

from lightning_hydra_template.run.slurm_job import requeue_this_job

from ..helpers import fake_scontrol


@pytest.fixture
def scontrol(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A job's environment (job 4242, first task) and an `scontrol` that writes what it was asked."""
    bin_folder, calls = fake_scontrol(tmp_path)
    monkeypatch.setenv("PATH", f"{bin_folder}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("SLURM_JOB_ID", "4242")
    monkeypatch.setenv("SLURM_PROCID", "0")
    return calls


@pytest.mark.parametrize(("restarts", "max_requeues"), [("0", 3), ("2", 3), ("7", None)])
def test_a_job_under_its_cap_asks_slurm_to_requeue_it(scontrol, monkeypatch, restarts, max_requeues):
    monkeypatch.setenv("SLURM_RESTART_COUNT", restarts)
    assert requeue_this_job(max_requeues) is True
    assert scontrol.read_text() == "requeue 4242\n"


@pytest.mark.parametrize(("restarts", "max_requeues"), [("3", 3), ("0", 0)])
def test_a_job_at_its_cap_stops_with_one_line(scontrol, monkeypatch, caplog, restarts, max_requeues):
    monkeypatch.setenv("SLURM_RESTART_COUNT", restarts)
    with caplog.at_level(logging.WARNING):
        assert requeue_this_job(max_requeues) is False
    assert not scontrol.exists()  # SLURM was not asked
    [line] = [r.getMessage() for r in caplog.records]
    assert f"SLURM job 4242 not requeued: it was requeued {restarts} times already" in line
    assert f"(max_requeues={max_requeues})" in line and "max_requeues=" in line.split("allow more")[1]


def test_only_the_first_task_asks(scontrol, monkeypatch):
    monkeypatch.setenv("SLURM_PROCID", "1")
    assert requeue_this_job(3) is False and not scontrol.exists()
