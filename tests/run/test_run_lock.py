"""One writer per run folder: a second process is refused naming the holder; a killed holder's lock
is taken over with a warning. Each case is two real processes."""

import logging
import os
import socket
import subprocess
import sys

import pytest

from lightning_hydra_template.run.run_lock import LOCK_FILE, RunFolderInUse, run_folder_lock

HOLD = """
import sys
from pathlib import Path
from lightning_hydra_template.run.run_lock import run_folder_lock
with run_folder_lock(Path(sys.argv[1])):
    print("holding", flush=True)
    sys.stdin.read()  # until the test closes stdin
"""


@pytest.fixture
def holder(tmp_path):
    """Another process holding `tmp_path`'s lock until its stdin is closed (or it is killed)."""
    process = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(tmp_path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert process.stdout.readline() == "holding\n"
    yield process
    process.stdin.close()
    process.wait(60)


def test_a_second_writer_is_refused_in_one_line_naming_the_holder(tmp_path, holder):
    process = holder
    with pytest.raises(RunFolderInUse) as refused, run_folder_lock(tmp_path):
        pytest.fail("two writers in one folder")
    message = str(refused.value)
    assert (
        f"pid {process.pid}" in message and f"host {socket.gethostname()}" in message and "since " in message
    )
    assert "\n" not in message and "hydra.run.dir" in message


def test_the_lock_is_free_again_once_its_holder_ends(tmp_path, holder, caplog):
    process = holder
    process.stdin.close()
    process.wait(60)
    with caplog.at_level(logging.WARNING), run_folder_lock(tmp_path):
        assert f"pid {os.getpid()}" in (tmp_path / LOCK_FILE).read_text()
    assert not caplog.records  # ended cleanly: nothing to take over
    assert (tmp_path / LOCK_FILE).read_text() == ""


def test_the_lock_of_a_killed_holder_is_taken_over_with_a_warning(tmp_path, holder, caplog):
    process = holder
    process.kill()
    process.wait(60)
    with caplog.at_level(logging.WARNING), run_folder_lock(tmp_path):
        pass
    assert f"pid {process.pid}" in caplog.text and "ended without releasing it" in caplog.text
