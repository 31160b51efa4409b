"""The train and eval tasks end to end, in process, on the small generated dataset."""

import json
from pathlib import Path

import pytest
import torch
import yaml

from lightning_hydra_template.errors import ConfigError
from lightning_hydra_template.run.run_summary import COMPARED_FIRST
from lightning_hydra_template.tasks.evaluate import evaluate
from lightning_hydra_template.tasks.train import objective, train

from ..helpers import save_hydra_config

# Small versions of each experiment's network, so a run takes a second or two.
SMALL = {
    "mlp": ["model.net.hidden_sizes=[32]"],
    "cnn": ["model.net.channels=[8,16]", "model.net.hidden_size=16"],
    "lstm": ["model.net.hidden_size=16"],
    "csv_mlp": ["model.net.hidden_sizes=[16]"],
}


def run_train(compose_config, experiment: str, *overrides: str) -> dict:
    cfg = compose_config([f"experiment={experiment}", *SMALL[experiment], *overrides])
    return train(cfg)


@pytest.mark.parametrize("experiment", ["mlp", "cnn", "lstm"])
def test_a_few_batches_write_checkpoint_events_and_metrics(compose_config, experiment):
    summary = run_train(compose_config, experiment)
    run_dir = Path(summary["run_dir"])
    assert Path(summary["best_checkpoint"]) == run_dir / "checkpoints" / "best.ckpt"
    assert (run_dir / "checkpoints" / "last.ckpt").is_file()
    assert list((run_dir / "tensorboard").glob("events.out.tfevents.*"))
    assert (run_dir / "resolved_config.yaml").is_file()
    written = json.loads((run_dir / "metrics.json").read_text())
    assert written == json.loads(json.dumps(summary))
    for name in ("val/acc", "val/acc_best", "val/f1", "train/loss", "test/acc", "test/f1", "test/loss"):
        assert 0.0 <= summary["metrics"][name] < 100, name
    assert "test/acc/Ankle boot" in summary["metrics"]


def test_tensorboard_gets_curves_and_the_hparams_tab(compose_config):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    cfg = compose_config(["experiment=mlp", *SMALL["mlp"]])
    summary = train(cfg)
    events = EventAccumulator(str(Path(summary["run_dir"]) / "tensorboard"))
    events.Reload()
    scalars = events.Tags()["scalars"]
    assert {"train/loss_step", "val/acc", "val/acc_best", "test/acc"} <= set(scalars)
    # The HParams tab's metrics sit on the curves' own last step: no single-point card of their own.
    assert not [tag for tag in scalars if tag.startswith("hp/")]
    # test/acc has its one step (the last); val/acc_best ends with its final value there, no point at 0.
    (last_step,) = {event.step for event in events.Scalars("test/acc")}
    best = events.Scalars("val/acc_best")
    assert best[-1].step == last_step and best[-1].value == best[-2].value and best[0].step > 0
    from tensorboard.plugins.hparams.plugin_data_pb2 import HParamsPluginData

    content = events.PluginTagToContent("hparams")
    start = HParamsPluginData.FromString(content["_hparams_/session_start_info"]).session_start_info
    shown = {key: value.ListFields()[0][1] for key, value in start.hparams.items()}
    # A single run: the keys people compare first, and those it was given; no constant config dump.
    given = {key.lstrip("+~").split("=")[0] for key in cfg.hydra.overrides.task}
    assert set(shown) == set(COMPARED_FIRST) | given
    assert shown["experiment"] == "mlp" and shown["model.net.hidden_sizes"] == "[32]"
    assert shown["optimizer"] == "adamw" and shown["optimizer.lr"] == cfg.optimizer.lr
    experiment = HParamsPluginData.FromString(content["_hparams_/experiment"]).experiment
    assert experiment.metric_infos[0].name.tag == "val/acc_best"  # train.yaml's optimized_metric


def test_checkpoints_load_with_torchs_safe_default(compose_config):
    summary = run_train(compose_config, "mlp", "scheduler=cosine", "logger=tensorboard_csv")
    checkpoint = torch.load(summary["best_checkpoint"])  # weights_only=True since torch 2.6
    assert "state_dict" in checkpoint and "lr_schedulers" in checkpoint
    # The best validation accuracy so far travels with the weights, for resumed runs.
    assert "val_acc_best.max_value" in checkpoint["state_dict"]


@pytest.mark.parametrize(
    ("experiment", "overrides"),
    [
        # A non-default width: eval must rebuild it from the run's config, not from model/cnn.yaml.
        ("cnn", ["model.net.hidden_size=24"]),
        # num_classes is counted from the CSV again; class names come with it.
        ("csv_mlp", ["data.image_size=12", "data.val_ratio=0.2", "data.test_ratio=0.2"]),
    ],
)
def test_eval_reuses_the_runs_config_and_reproduces_its_test_metrics(compose_config, experiment, overrides):
    train_cfg = compose_config([f"experiment={experiment}", *SMALL[experiment], *overrides])
    save_hydra_config(train_cfg)
    summary = train(train_cfg)
    cfg = compose_config([f"ckpt_path={summary['best_checkpoint']}"], config_name="eval", fast=False)
    result = evaluate(cfg)
    for name in ("test/acc", "test/f1", "test/loss"):
        assert result["metrics"][name] == pytest.approx(summary["metrics"][name], abs=1e-6)
    assert json.loads((Path(result["run_dir"]) / "metrics.json").read_text())["checkpoint"]


def test_eval_of_a_checkpoint_that_does_not_fit_the_model_is_one_line_naming_the_tensor(compose_config):
    train_cfg = compose_config(["experiment=cnn", *SMALL["cnn"]])
    save_hydra_config(train_cfg)
    checkpoint = train(train_cfg)["best_checkpoint"]
    cfg = compose_config([f"ckpt_path={checkpoint}", "model.net.hidden_size=24"], "eval", fast=False)
    with pytest.raises(ConfigError) as raised:
        evaluate(cfg)
    message = str(raised.value)
    assert f"ckpt_path={checkpoint} does not fit the model" in message and "(16, " in message
    assert "drop the model overrides that differ from training" in message and "\n" not in message


def test_a_run_its_checkpoints_and_its_evaluation_say_where_they_came_from(compose_config):
    train_cfg = compose_config(["experiment=mlp", *SMALL["mlp"]])
    save_hydra_config(train_cfg)
    summary = train(train_cfg)
    run_dir = Path(summary["run_dir"])
    [start] = json.loads((run_dir / "provenance.json").read_text())["starts"]
    assert start["run_dir"] == str(run_dir) and start["packages"]["lightning"]
    checkpoint = torch.load(summary["best_checkpoint"])
    assert checkpoint["run_provenance"]["run_dir"] == str(run_dir)
    assert checkpoint["run_provenance"]["git_commit"] == (start["git"] or {}).get("commit")

    cfg = compose_config([f"ckpt_path={summary['best_checkpoint']}"], config_name="eval", fast=False)
    result = evaluate(cfg)
    assert result["trained_by"]["run_dir"] == str(run_dir)
    [evaluated] = json.loads((Path(result["run_dir"]) / "provenance.json").read_text())["starts"]
    assert evaluated["trained_by"] == checkpoint["run_provenance"]
    assert evaluated["checkpoint"] == summary["best_checkpoint"]


def test_eval_of_a_missing_checkpoint_says_where_checkpoints_are(compose_config, tmp_path):
    cfg = compose_config([f"ckpt_path={tmp_path / 'nope.ckpt'}"], config_name="eval", fast=False)
    with pytest.raises(FileNotFoundError, match="checkpoints/"):
        evaluate(cfg)


def test_resume_from_last_checkpoint_continues_the_epoch_count(compose_config):
    first = run_train(compose_config, "mlp", "test=false")
    # A resumed run gets a folder of its own, as a new `python train.py ckpt_path=...` would.
    first_dir = Path(first["run_dir"]).rename(Path(first["run_dir"]).with_name("first"))
    last = first_dir / "checkpoints" / "last.ckpt"
    resumed = run_train(compose_config, "mlp", f"ckpt_path={last}", "trainer.max_epochs=2", "test=false")
    assert (first["epochs"], resumed["epochs"]) == (1, 2)
    assert resumed["metrics"]["val/acc_best"] >= first["metrics"]["val/acc_best"]


def reads_of(path: Path, monkeypatch) -> list[str]:
    """Every `torch.load` of `path` from now on (the template's reads and Lightning's)."""
    reads, real_load = [], torch.load

    def counting_load(f, *args, **kwargs):
        if Path(str(f)).resolve() == path.resolve():
            reads.append(str(f))
        return real_load(f, *args, **kwargs)

    monkeypatch.setattr(torch, "load", counting_load)
    return reads


def test_a_resume_and_an_eval_read_their_checkpoint_once(compose_config, monkeypatch):
    cfg = compose_config(["experiment=mlp", *SMALL["mlp"], "test=false"])
    save_hydra_config(cfg)  # eval.py reads the run's config beside its checkpoint
    run_dir = Path(train(cfg)["run_dir"])
    last = run_dir.rename(run_dir.with_name("first")) / "checkpoints" / "last.ckpt"
    reads = reads_of(last, monkeypatch)
    resumed = run_train(compose_config, "mlp", f"ckpt_path={last}", "trainer.max_epochs=2", "test=false")
    assert resumed["epochs"] == 2 and len(reads) == 1
    reads.clear()
    evaluate(compose_config([f"ckpt_path={last}"], config_name="eval", fast=False))
    assert len(reads) == 1


def test_objective_is_the_named_metric_or_a_clear_error():
    summary = {"metrics": {"val/acc_best": 0.9, "test/acc": 0.8}}
    assert objective(summary, "val/acc_best") == 0.9
    assert objective(summary, None) is None
    with pytest.raises(ConfigError, match="choose one of: val/acc_best, test/acc"):
        objective(summary, "val/accuracy")
    assert objective(summary, "val/accuracy", sweeping=False) is None  # a single run only warns


def test_a_sweeps_job_shows_its_swept_keys_in_hparams_and_the_objective_first(compose_config):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams.plugin_data_pb2 import HParamsPluginData

    cfg = compose_config(["experiment=mlp", *SMALL["mlp"], "optimizer=sgd", "optimizer.lr=0.02"])
    summary = train(cfg, sweeping=True)
    events = EventAccumulator(str(Path(summary["run_dir"]) / "tensorboard"))
    events.Reload()
    content = events.PluginTagToContent("hparams")
    start = HParamsPluginData.FromString(content["_hparams_/session_start_info"]).session_start_info
    shown = {key: value.ListFields()[0][1] for key, value in start.hparams.items()}
    # The keys this job was given, as the run used them; not the hundreds of constant config values.
    given = {key.lstrip("+~").split("=")[0] for key in cfg.hydra.overrides.task}
    assert set(shown) == given
    assert {k: shown[k] for k in ("experiment", "model.net.hidden_sizes", "optimizer", "optimizer.lr")} == {
        "experiment": "mlp", "model.net.hidden_sizes": "[32]", "optimizer": "sgd", "optimizer.lr": 0.02
    }  # fmt: skip
    experiment = HParamsPluginData.FromString(content["_hparams_/experiment"]).experiment
    assert experiment.metric_infos[0].name.tag == "val/acc_best"  # train.yaml's optimized_metric
    # hparams.yaml keeps the whole config.
    assert (
        "net"
        in yaml.safe_load((Path(summary["run_dir"]) / "tensorboard" / "hparams.yaml").read_text())["model"]
    )
