"""optuna-dashboard (the `dashboard` extra, in `dev`) opens a sweep's study, as docs/sweeps.md shows."""

import json
import time
import tomllib
import urllib.request
from importlib.metadata import entry_points

import pytest

from lightning_hydra_template.config.project import PROJECT_ROOT

from .helpers import free_port, start, stop
from .test_hparams_search import sweep


def dashboard_command(*args: str) -> list[str]:
    """`optuna-dashboard *args` as its console script runs it, with this interpreter (any venv layout)."""
    [script] = entry_points(group="console_scripts", name="optuna-dashboard")
    module, function = script.value.split(":")
    return ["-c", f"import sys; from {module} import {function}; sys.argv[0] = 'optuna-dashboard'; "
                  f"sys.exit({function}())", *args]  # fmt: skip


def get_json(url: str, wait_s: float = 90) -> dict:
    """GET `url` as JSON, retrying while the server starts."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return json.loads(response.read())
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


@pytest.mark.slow
def test_the_dashboard_serves_a_sweeps_study_on_localhost(fake_data_dir, tmp_path):
    trials = sweep(fake_data_dir, tmp_path, "sweep", trials=2)
    storage = f"sqlite:///{tmp_path / 'study.db'}"  # what the sweep wrote to (hydra.sweeper.storage)
    port = free_port()
    server = start(*dashboard_command(storage, "--host", "127.0.0.1", "--port", str(port)),
                   output=tmp_path / "dashboard.log")  # fmt: skip
    try:
        [study] = get_json(f"http://127.0.0.1:{port}/api/studies")["study_summaries"]
        assert study["study_name"] == "mlp_optuna" and study["directions"] == ["maximize"]
        served = get_json(f"http://127.0.0.1:{port}/api/studies/{study['study_id']}?after=0")
    finally:
        code, left_running = stop(server)
    assert left_running == []
    assert [t["number"] for t in served["trials"]] == [int(t["number"]) for t in trials]
    for shown, written in zip(served["trials"], trials):
        assert shown["state"] == "Complete" and shown["values"] == [pytest.approx(float(written["value"]))]
        assert {p["name"] for p in shown["params"]} >= {"optimizer.lr", "data.loader.batch_size"}
        # The trial's run folder, as trials.csv names it, is on its page too.
        assert {"key": "run_dir", "value": written["run_dir"]} in shown["user_attrs"]


def test_the_dashboard_is_installed_with_the_dev_extra():
    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]
    assert any(r.startswith("optuna-dashboard") for r in project["optional-dependencies"]["dashboard"])
    assert any(
        "dashboard" in r and r.startswith("lightning-hydra-template[")
        for r in project["optional-dependencies"]["dev"]
    )
    assert list(entry_points(group="console_scripts", name="optuna-dashboard"))
