"""Optuna searches through `python train.py -m hparams_search=...` (hydra/sweeper=optuna_study)."""

import csv
import json
import shlex

import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf

from hydra_plugins.optuna_study_sweeper.optuna_study_sweeper import distribution

from .helpers import config_options, run

QUICK = ["debug=fast", "data.val_size=100", "trainer.max_epochs=2", "trainer.limit_train_batches=3"]


def sweep(data_dir, tmp_path, name: str, *overrides: str, trials: int = 3) -> list[dict]:
    """Run a small search into `tmp_path/name`; return its trials.csv rows."""
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    result = run(
        "train.py", "-m", "hparams_search=mlp_optuna", *QUICK, f"hydra.sweeper.n_trials={trials}",
        "hydra.sweeper.sampler.n_startup_trials=1", f"hydra.sweeper.storage={storage}",
        f"hydra.sweep.dir={tmp_path / name}", *overrides, data_dir=data_dir,
    )  # fmt: skip
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    with open(tmp_path / name / "trials.csv") as f:
        return list(csv.DictReader(f))


@pytest.mark.slow
def test_a_search_writes_its_summary_and_the_same_command_continues_the_study(
    fake_data_dir, tmp_path, compose_config
):
    trials = sweep(fake_data_dir, tmp_path, "first")
    assert [t["state"] for t in trials] == ["COMPLETE"] * 3
    assert {
        "optimizer",
        "optimizer.lr",
        "optimizer.weight_decay",
        "model.net.dropout",
        "data.loader.batch_size",
    } <= set(trials[0])
    best = json.loads((tmp_path / "first" / "best.json").read_text())
    assert best["best_value"] == max(float(t["value"]) for t in trials)
    assert best["trials"] == {"completed": 3, "pruned": 0, "failed": 0}
    assert (tmp_path / "first" / "history.png").stat().st_size > 0
    assert (tmp_path / "first" / "importances.png").stat().st_size > 0
    # Each trial is a normal run: its metrics.json holds the value the study recorded.
    run0 = json.loads((tmp_path / "first" / "0" / "metrics.json").read_text())
    assert run0["metrics"]["val/acc_best"] == pytest.approx(float(trials[0]["value"]))

    # Each trial names its run folder and best checkpoint; so does the best one, with the commands
    # that retrain it as a single run and evaluate its checkpoint.
    for t in trials:
        assert t["run_dir"] == str(tmp_path / "first" / t["number"])
        assert t["best_checkpoint"] == str(tmp_path / "first" / t["number"] / "checkpoints" / "best.ckpt")
    best_row = next(t for t in trials if t["number"] == str(best["best_trial"]))
    assert (
        best["best_run_dir"] == best_row["run_dir"] and best["best_checkpoint"] == best_row["best_checkpoint"]
    )
    assert best["evaluate"] == f"python eval.py ckpt_path={best['best_checkpoint']}"
    retrain = shlex.split(best["retrain"])
    assert retrain[:3] == ["python", "train.py", "hparams_search=mlp_optuna"]
    assert not [o for o in retrain if o.startswith("+pruning.")]  # a single run, not a trial
    retrained = compose_config(retrain[2:])
    for key, value in best["best_params"].items():
        got = retrained.hydra.runtime.choices[key] if key == "optimizer" else OmegaConf.select(retrained, key)
        assert str(got).replace(" ", "") == str(value).replace(" ", ""), key
    # Every multirun's summary, an Optuna sweep's too: one row per trial.
    with open(tmp_path / "first" / "summary.csv") as f:
        assert [r["run_dir"] for r in csv.DictReader(f)] == [t["run_dir"] for t in trials]

    again = sweep(fake_data_dir, tmp_path, "second", trials=2)
    assert [t["number"] for t in again] == ["0", "1", "2", "3", "4"]
    # Trials 3 and 4 ran in the second sweep's folders 0 and 1: named, not guessed from numbers.
    assert [t["run_dir"] for t in again[3:]] == [str(tmp_path / "second" / str(i)) for i in (0, 1)]


@pytest.mark.slow
@pytest.mark.parametrize(
    "where",
    [[], ["hydra.sweeper.devices=[a]"], ["hydra/launcher=submitit_local", "hydra.sweeper.n_jobs=2"]],
    ids=["in process", "own process", "submitit job"],
)
def test_a_pruned_trial_is_recorded_as_pruned(fake_data_dir, tmp_path, where):
    # A pruner that stops every trial after its first epoch (accuracy is always below 2).
    trials = sweep(
        fake_data_dir, tmp_path, "pruned", "hydra.sweeper.pruner._target_=optuna.pruners.ThresholdPruner",
        "~hydra.sweeper.pruner.n_startup_trials", "+hydra.sweeper.pruner.lower=2.0", *where, trials=1,
    )  # fmt: skip
    assert json.loads((tmp_path / "pruned" / "0" / "metrics.json").read_text())["status"] == "pruned"
    assert trials[0]["state"] == "PRUNED" and trials[0]["last_reported_step"] == "1"
    # Nothing completed, so no best; but pruning is the pruner's choice, not a failure (exit 0).
    best = json.loads((tmp_path / "pruned" / "best.json").read_text())
    assert best == {"study": "mlp_optuna", "trials": {"completed": 0, "pruned": 1, "failed": 0}}


@pytest.mark.parametrize("search", config_options("hparams_search"))
def test_every_search_space_is_valid_for_optuna(compose_config, search):
    params = compose_config([f"hparams_search={search}"]).hydra.sweeper.params
    overrides = OverridesParser.create().parse_overrides([f"{k}={v}" for k, v in params.items()])
    spaces = {o.get_key_element(): distribution(o) for o in overrides}
    assert {"optimizer", "optimizer.lr", "optimizer.weight_decay", "data.loader.batch_size"} <= set(spaces)
    assert spaces["optimizer.lr"].log


@pytest.mark.parametrize(
    ("network", "knob"),
    [("mlp", "hidden_sizes"), ("cnn", "channels"), ("lstm", "hidden_size")],
)
def test_a_networks_search_is_the_shared_one_plus_its_own_knobs(compose_config, network, knob):
    shared = compose_config(["hparams_search=optuna"]).hydra.sweeper
    own = compose_config([f"hparams_search={network}_optuna"])
    assert own.model.net._target_ == compose_config([f"experiment={network}"]).model.net._target_
    assert own.hydra.sweeper.study_name == f"{network}_optuna"
    assert {k: own.hydra.sweeper.params[k] for k in shared.params} == shared.params
    assert set(own.hydra.sweeper.params) - set(shared.params) == {"model.net.dropout", f"model.net.{knob}"}


@pytest.mark.slow
def test_parallel_trials_each_get_a_device_of_their_own(fake_data_dir, tmp_path):
    trials = sweep(fake_data_dir, tmp_path, "parallel", "hydra.sweeper.devices=[gpu-a,gpu-b]", trials=4)
    assert [t["state"] for t in trials] == ["COMPLETE"] * 4
    with open(tmp_path / "parallel" / "slots.csv") as f:
        runs = [(int(r["trial"]), r["slot"], float(r["start"]), float(r["end"])) for r in csv.DictReader(f)]
    assert len(runs) == 4
    for a in runs:
        overlapping = [b for b in runs if b is not a and b[2] < a[3] and a[2] < b[3]]
        assert all(b[1] != a[1] for b in overlapping), f"trials {a} and {overlapping} shared a device"
        assert len(overlapping) >= 1  # two devices: trials did run side by side
    # Each trial process saw only its own device.
    for number, device, _, _ in runs:
        summary = json.loads((tmp_path / "parallel" / str(number) / "metrics.json").read_text())
        assert summary["visible_devices"] == device
