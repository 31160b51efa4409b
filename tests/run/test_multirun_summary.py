"""multirun_summary: every multirun ends with summary.csv and the mean +- std of each test metric."""

import csv
import json
from pathlib import Path

import pytest
import yaml

from lightning_hydra_template.run.multirun_summary import grouped, parsed_overrides, summarise_multirun

from ..helpers import run


def fake_run(sweep_dir: Path, job: int, overrides: list[str], status: str = "completed", **metrics) -> Path:
    """A run folder as a multirun job leaves it: its overrides and metrics.json."""
    run_dir = sweep_dir / str(job)
    (run_dir / ".hydra").mkdir(parents=True)
    (run_dir / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    best = str(run_dir / "checkpoints" / "best.ckpt")
    summary = {"status": status, "best_checkpoint": best, "metrics": {"test/acc/Bag": 0.5, **metrics}}
    (run_dir / "metrics.json").write_text(json.dumps(summary))
    return run_dir


def test_runs_become_rows_and_seeds_and_folds_become_a_spread(tmp_path):
    fake_run(
        tmp_path, 0, ["experiment=mlp", "optimizer=adam", "seed=1"], **{"test/acc": 0.80, "val/acc": 0.7}
    )
    fake_run(
        tmp_path, 1, ["experiment=mlp", "optimizer=adam", "seed=2"], **{"test/acc": 0.90, "val/acc": 0.7}
    )
    fake_run(tmp_path, 2, ["experiment=mlp", "optimizer=sgd", "seed=1"], **{"test/acc": 0.50})
    fake_run(tmp_path, 3, ["experiment=mlp", "optimizer=sgd", "seed=2"], status="failed")
    groups = summarise_multirun(tmp_path)

    with open(tmp_path / "summary.csv") as f:
        rows = list(csv.DictReader(f))
    assert [(r["job"], r["optimizer"], r["seed"], r["status"]) for r in rows] == [
        ("0", "adam", "1", "completed"),
        ("1", "adam", "2", "completed"),
        ("2", "sgd", "1", "completed"),
        ("3", "sgd", "2", "failed"),
    ]
    assert rows[0]["best_checkpoint"] == str(tmp_path / "0" / "checkpoints" / "best.ckpt")
    assert rows[0]["run_dir"] == str(tmp_path / "0") and rows[0]["test/acc"] == "0.8"
    assert "test/acc/Bag" not in rows[0]  # per-class figures stay in each run's metrics.json

    adam, sgd = groups  # the failed run is listed but counts in no mean
    # Named by what differs between the groups: experiment=mlp, common to all, is left out.
    assert adam["setting"] == {"optimizer": "adam"} and adam["runs"] == 2
    assert adam["metrics"]["test/acc"]["mean"] == pytest.approx(0.85)
    assert adam["metrics"]["test/acc"]["std"] == pytest.approx(0.0707107, abs=1e-6)  # sample std
    assert sgd["metrics"]["test/acc"] == {"mean": 0.5, "std": None, "n": 1}
    with open(tmp_path / "summary_by_group.csv") as f:
        by_group = list(csv.DictReader(f))
    assert by_group[0]["setting"] == "optimizer=adam" and by_group[0]["metric"] == "test/acc"
    assert float(by_group[0]["mean"]) == pytest.approx(0.85) and by_group[0]["n"] == "2"


def test_folds_group_together_and_trial_identities_are_left_out():
    runs = [
        {"overrides": parsed_overrides([f"data.fold={i}", "+pruning.trial_number=3", "data.folds=3"]),
         "status": "completed", "metrics": {"test/acc": 0.1 * i}}
        for i in range(3)
    ]  # fmt: skip
    [group] = grouped(runs)
    assert group["setting"] == {"data.folds": "3"} and group["metrics"]["test/acc"]["n"] == 3


@pytest.mark.slow
def test_a_seed_sweep_ends_with_its_summary(fake_data_dir, tmp_path):
    # The command docs/sweeps.md shows, made tiny.
    result = run(
        "train.py", "-m", "experiment=mlp", "seed=1,2", "data.folds=2", "data.fold=0,1", "debug=fast",
        "model.net.hidden_sizes=[16]", "trainer.accelerator=cpu", f"hydra.sweep.dir={tmp_path}",
        data_dir=fake_data_dir,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    with open(tmp_path / "summary.csv") as f:
        rows = list(csv.DictReader(f))
    assert [(r["seed"], r["data.fold"]) for r in rows] == [("1", "0"), ("1", "1"), ("2", "0"), ("2", "1")]
    assert all(Path(r["best_checkpoint"]).is_file() for r in rows)
    with open(tmp_path / "summary_by_group.csv") as f:
        [acc] = [r for r in csv.DictReader(f) if r["metric"] == "test/acc"]
    setting = "experiment=mlp data.folds=2 debug=fast model.net.hidden_sizes=[16] trainer.accelerator=cpu"
    assert acc["setting"] == setting
    assert acc["n"] == "4"
    assert float(acc["mean"]) == pytest.approx(sum(float(r["test/acc"]) for r in rows) / 4)
    assert "test metrics, mean +- std over seed, data.fold (4 runs)" in result.stdout
