"""configs/logger/: each logger, any combination, or none; hyperparameters and metrics reach each one."""

import time

import pytest

from lightning_hydra_template.tasks.train import train

MLP = ["experiment=mlp", "model.net.hidden_sizes=[16]"]


def test_no_logger_trains_with_the_default_callbacks(compose_config):
    summary = train(compose_config([*MLP, "logger=none"]))
    assert summary["status"] == "completed" and "test/acc" in summary["metrics"]


def test_loggers_combine_as_a_list_of_options(compose_config):
    cfg = compose_config([*MLP, "logger=[tensorboard,mlflow]"])
    assert set(cfg.logger) == {"tensorboard", "mlflow"}
    assert set(compose_config([*MLP, "logger=many"]).logger) == {"tensorboard", "csv", "mlflow", "wandb"}


@pytest.mark.slow
def test_mlflow_keeps_the_runs_hyperparameters_and_metrics_in_a_local_sqlite_store(compose_config, tmp_path):
    from mlflow.tracking import MlflowClient

    summary = train(compose_config([*MLP, "logger=mlflow", f"paths.log_dir={tmp_path / 'logs'}"]))

    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'logs' / 'mlflow.db'}")
    [run] = client.search_runs([client.get_experiment_by_name("train").experiment_id])
    assert run.data.params["model/net/hidden_sizes"] == "[16]"
    assert run.data.params["optimizer/lr"] == str(compose_config(MLP).optimizer.lr)
    assert run.data.metrics["test/acc"] == pytest.approx(summary["metrics"]["test/acc"])


@pytest.mark.slow
def test_wandb_offline_keeps_the_run_in_the_run_folder_without_an_account(
    compose_config, tmp_path, monkeypatch
):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    cfg = compose_config([*MLP, "logger=wandb"])
    summary = train(cfg)
    import wandb

    wandb.finish()  # written out in full: the template leaves the run open for the user's own code
    [run_dir] = (tmp_path / "train" / "wandb").glob("offline-run-*")
    # `wandb sync` uploads this file later; its records (protobuf, uncompressed) hold the run's
    # config and metrics as JSON text. (wandb ships no Python reader for it any more.)
    [records] = run_dir.glob("run-*.wandb")
    deadline = time.monotonic() + 30  # wandb's writer is another process: give it time to flush
    while b"test/acc" not in (data := records.read_bytes()) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert b"hidden_sizes" in data and b"optimizer" in data and b"test/acc" in data
    assert summary["status"] == "completed"


@pytest.mark.slow
def test_logger_none_on_the_command_line_and_null_refused_in_one_line(fake_data_dir, tmp_path):
    from .helpers import run

    result = run(
        "train.py",
        *MLP,
        "debug=fast",
        "data.val_size=100",
        "logger=none",
        f"hydra.run.dir={tmp_path / 'run'}",
        data_dir=fake_data_dir,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "the learning-rate monitor is off" in (tmp_path / "run" / "train.log").read_text()

    refused = run("train.py", *MLP, "logger=null", data_dir=fake_data_dir)
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert refused.stderr.strip().splitlines()[-1] == (
        "logger=null: a config group cannot be null in Hydra; write logger=none"
    )
