"""The trial/sweeper contract: who the trial is (overrides), and how it ended (its metrics.json)."""

import json
import logging

import optuna
import pytest
from optuna.trial import TrialState

from lightning_hydra_template.run_status import RunStatus
from lightning_hydra_template.sweeps.trial import (
    TrialOutcome,
    study_storage,
    trial_identity,
    trial_outcome,
    trial_overrides,
)


def test_the_overrides_a_sweeper_passes_are_the_identity_a_trial_reads(compose_config):
    storage = "sqlite:////tmp/studies/a b.db"
    pruner = {"_target_": "optuna.pruners.PercentilePruner", "percentile": 25.0, "n_warmup_steps": 2}
    cfg = compose_config(trial_overrides("mlp_optuna", 7, storage, pruner))
    assert trial_identity(cfg) == {
        "study_name": "mlp_optuna",
        "trial_number": 7,
        "storage": storage,
        "pruner": pruner,
    }


def test_a_run_that_is_no_trial_has_no_identity(compose_config):
    assert trial_identity(compose_config([])) is None


def outcome_of(tmp_path, summary: dict) -> TrialOutcome:
    (tmp_path / "metrics.json").write_text(json.dumps(summary))
    return trial_outcome(tmp_path, "val/acc_best")


@pytest.mark.parametrize("status", [{"status": "completed"}, {}], ids=["completed", "no status recorded"])
def test_a_completed_run_gives_its_value(tmp_path, status):
    best = str(tmp_path / "checkpoints" / "best.ckpt")
    summary = {**status, "best_checkpoint": best, "metrics": {"val/acc_best": 0.75}}
    # Where the trial ran travels with its value: the study keeps it (trials.csv, best.json).
    assert outcome_of(tmp_path, summary) == TrialOutcome(RunStatus.COMPLETED, 0.75, "", str(tmp_path), best)


def test_a_pruned_run_is_a_pruned_trial(tmp_path):
    assert outcome_of(tmp_path, {"status": "pruned", "metrics": {"val/acc": 0.1}}).state == RunStatus.PRUNED


@pytest.mark.parametrize(
    ("summary", "reason"),
    [
        (
            {"status": "failed", "error": "CUDA out of memory", "metrics": {"val/acc_best": 0.5}},
            "out of memory",
        ),
        ({"status": "completed", "metrics": {"val/acc_best": None}}, "not a number"),  # NaN, written as null
        ({"status": "completed", "metrics": {"val/loss": 0.5}}, "logged no 'val/acc_best'"),
    ],
    ids=["run failed", "value null", "value missing"],
)
def test_a_run_without_a_completed_value_is_a_failed_trial_with_the_reason(tmp_path, summary, reason):
    outcome = outcome_of(tmp_path, summary)
    assert outcome.state == RunStatus.FAILED and reason in outcome.reason and outcome.value is None


def test_no_metrics_json_or_a_corrupt_one_fails_the_trial(tmp_path):
    assert "wrote no metrics.json" in trial_outcome(tmp_path, "val/acc").reason
    (tmp_path / "metrics.json").write_text('{"status": "compl')
    assert "not JSON" in trial_outcome(tmp_path, "val/acc").reason


def test_a_journal_url_is_one_study_file_every_process_opens_alike(tmp_path):
    import optuna

    url = f"journal://{tmp_path / 'optuna' / 'study.log'}"
    sweeper_side = optuna.create_study(study_name="s", storage=study_storage(url))
    trial = sweeper_side.ask()
    # What a trial in another process does (sweeps/pruning.py): its own storage object.
    trial_side = optuna.load_study(study_name="s", storage=study_storage(url))
    optuna.trial.Trial(trial_side, trial._trial_id).report(0.5, step=1)
    sweeper_side.tell(trial, 0.7)
    [frozen] = optuna.load_study(study_name="s", storage=study_storage(url)).trials
    assert (frozen.value, frozen.intermediate_values) == (0.7, {1: 0.5})


def test_a_relative_journal_path_is_refused(tmp_path):
    # Trials on other nodes run in other folders: a relative path would be another file there.
    with pytest.raises(ValueError, match="absolute path"):
        study_storage("journal://logs/study.log")


def test_no_url_is_a_study_in_memory_and_a_database_url_a_database():
    import optuna

    assert study_storage(None) is None
    assert isinstance(study_storage("sqlite://", heartbeat_s=5), optuna.storages.RDBStorage)


def journal_with_two_trials(path) -> None:
    study = optuna.create_study(study_name="s", storage=study_storage(f"journal://{path}"))
    for value in (1.0, 2.0):
        study.tell(study.ask(), value)


def test_a_journal_cut_mid_record_is_repaired_before_anything_is_appended(tmp_path, caplog):
    path = tmp_path / "j.log"
    journal_with_two_trials(path)
    with open(path, "rb+") as f:  # what a node killed while appending leaves
        f.truncate(path.stat().st_size - 60)
    with caplog.at_level(logging.WARNING):
        study = optuna.load_study(study_name="s", storage=study_storage(f"journal://{path}"))
    assert "its last record was cut short" in caplog.text and str(path) in caplog.text
    study.tell(study.ask(), 3.0)  # appended after the repair, on a line of its own
    again = optuna.load_study(study_name="s", storage=study_storage(f"journal://{path}"))
    assert [t.value for t in again.trials if t.state == TrialState.COMPLETE][0] == 1.0
    assert again.trials[-1].value == 3.0 and len(again.trials) == 3


def test_an_intact_journal_is_left_as_it_is(tmp_path, caplog):
    path = tmp_path / "j.log"
    journal_with_two_trials(path)
    before = path.read_bytes()
    with caplog.at_level(logging.WARNING):
        study_storage(f"journal://{path}")
    assert path.read_bytes() == before and not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_a_run_stopped_by_a_signal_is_an_interrupted_trial_not_a_failed_one(tmp_path):
    outcome = outcome_of(tmp_path, {"status": "interrupted", "signal": "SIGINT", "metrics": {}})
    assert (outcome.state, outcome.reason) == ("interrupted", "interrupted by SIGINT")
