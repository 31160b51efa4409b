"""train.py and eval.py run as a user runs them, in a subprocess."""

import json
import shutil
import time
from pathlib import Path

import pytest
import torch
import yaml

from .helpers import run


def test_help_lists_the_groups_without_importing_torch():
    started = time.perf_counter()
    result = run("-X", "importtime", "train.py", "--help")
    elapsed = time.perf_counter() - started
    assert result.returncode == 0
    assert (
        "experiment: cnn, cnn_best, cnn_reference, csv_cnn, csv_finetune, csv_lstm, csv_mlp, lstm, mlp"
        in (result.stdout)
    )
    imported = {line.split("|")[-1].strip() for line in result.stderr.splitlines() if "|" in line}
    assert not {"torch", "lightning"} & imported
    assert elapsed < 10  # generous: the budget of 1.5 s is checked by hand, machines here are shared


def test_cfg_job_prints_the_composed_experiment():
    result = run("train.py", "experiment=cnn", "--cfg", "job")
    assert result.returncode == 0, result.stderr
    assert "lightning_hydra_template.models.cnn.CNN" in result.stdout


def test_unknown_experiment_lists_the_available_ones():
    result = run("train.py", "experiment=no_such_experiment", "--cfg", "job")
    assert result.returncode != 0
    assert "Could not find 'experiment/no_such_experiment'" in result.stderr
    assert "cnn" in result.stderr and "mlp" in result.stderr


def test_missing_data_offline_says_where_to_put_the_files(tmp_path):
    result = run(
        "train.py", f"data.data_dir={tmp_path}", "data.download=false", f"hydra.run.dir={tmp_path / 'run'}"
    )
    output = result.stdout + result.stderr
    assert result.returncode == 1
    assert f"FashionMNIST files missing from {tmp_path / 'FashionMNIST' / 'raw'}" in output
    assert "t10k-labels-idx1-ubyte.gz" in output
    assert "Traceback" not in output  # the message is the whole story


@pytest.mark.slow
def test_train_then_eval_from_the_command_line(fake_data_dir, tmp_path):
    result = run(
        "train.py",
        "experiment=mlp",
        "debug=fast",
        "data.val_size=100",
        "model.net.hidden_sizes=[24]",
        "trainer.accelerator=cpu",
        f"hydra.run.dir={tmp_path / 'train'}",
        data_dir=fake_data_dir,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((tmp_path / "train" / "metrics.json").read_text())
    assert (tmp_path / "train" / ".hydra" / "config.yaml").is_file()
    log = (tmp_path / "train" / "train.log").read_text()
    assert "Training failed" not in log
    # Everything the run printed is in its log: the config tree, the model summary, a line per
    # epoch, the test results and the summary table.
    for printed in ("] - config\n", "hidden_sizes:", "] - model\n",
                    "Trainable params", "] - epoch 0: train/acc ", "val/acc ", "] - test: test/acc ",
                    "] - run summary\n", "best_checkpoint"):  # fmt: skip
        assert printed in log, printed
    hparams = yaml.safe_load((tmp_path / "train" / "tensorboard" / "hparams.yaml").read_text())
    assert hparams["model"]["net"]["hidden_sizes"] == [24] and hparams["optimizer"]["lr"] > 0

    # No overrides retyped: the 24-unit network comes from the run's saved config.
    result = run(
        "eval.py",
        f"ckpt_path={summary['best_checkpoint']}",
        f"hydra.run.dir={tmp_path / 'eval'}",
        "trainer.accelerator=cpu",
        data_dir=fake_data_dir,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    evaluated = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert evaluated["metrics"]["test/acc"] == pytest.approx(summary["metrics"]["test/acc"])


@pytest.mark.slow
def test_a_checkpoint_out_of_its_run_folder_still_evaluates_and_resumes(fake_data_dir, tmp_path):
    """The checkpoint file alone: no run folder beside it, nothing retyped."""
    training = ["experiment=mlp", "debug=fast", "data.val_size=100", "model.net.hidden_sizes=[24]"]
    result = run("train.py", *training, f"hydra.run.dir={tmp_path / 'train'}", data_dir=fake_data_dir)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((tmp_path / "train" / "metrics.json").read_text())
    alone = tmp_path / "shared_with_a_colleague"
    alone.mkdir()
    for name in ("best.ckpt", "last.ckpt"):
        shutil.copy(tmp_path / "train" / "checkpoints" / name, alone / name)
    assert torch.load(alone / "best.ckpt", weights_only=True)["run_overrides"] == training

    result = run(
        "eval.py",
        f"ckpt_path={alone / 'best.ckpt'}",
        f"hydra.run.dir={tmp_path / 'eval'}",
        data_dir=fake_data_dir,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    evaluated = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert evaluated["metrics"]["test/acc"] == pytest.approx(summary["metrics"]["test/acc"])

    # debug=fast trains 1 epoch: one more, from the copy, in a run folder of its own.
    result = run(
        "train.py", f"ckpt_path={alone / 'last.ckpt'}", "trainer.max_epochs=2",
        f"paths.log_dir={tmp_path / 'logs'}",
        data_dir=fake_data_dir,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    [resumed_dir] = (tmp_path / "logs" / "train" / "runs").iterdir()
    resumed = json.loads((resumed_dir / "metrics.json").read_text())
    assert resumed["status"] == "completed" and resumed["epochs"] == 2
    assert resumed["resumed_from"]["global_step"] == summary["global_step"] > 0
    assert "model.net.hidden_sizes=[24]" in (resumed_dir / ".hydra" / "overrides.yaml").read_text()


@pytest.mark.slow
@pytest.mark.real_data
def test_real_fashion_mnist_smoke(real_data_dir, tmp_path):
    result = run(
        "train.py",
        "experiment=cnn",
        "debug=fast",
        f"hydra.run.dir={tmp_path}",
        data_dir=real_data_dir,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((tmp_path / "metrics.json").read_text())["metrics"]
    assert metrics["test/acc"] > 0.1  # 5 batches of training beat chance on the real test set


def test_a_bad_config_value_stops_with_its_message_in_the_run_log(fake_data_dir, tmp_path):
    result = run(
        "train.py",
        "debug=fast",
        "model.net.channels=[8,8,8,8,8,8]",
        f"hydra.run.dir={tmp_path}",
        data_dir=fake_data_dir,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr
    log = (tmp_path / "train.log").read_text()
    assert "Training stopped" in log and "model.net.channels" in log


def test_an_unexpected_crash_keeps_its_traceback_in_the_run_log(fake_data_dir, tmp_path):
    # A bug, not a config value: a RuntimeError from inside the training loop.
    result = run(
        "train.py",
        "debug=fast",
        "data.val_size=100",
        "+callbacks.crash._target_=tests.helpers.CrashAtStep",
        "+callbacks.crash.step=1",
        f"hydra.run.dir={tmp_path}",
        data_dir=fake_data_dir,
    )
    assert result.returncode == 1
    log = (tmp_path / "train.log").read_text()
    assert "Training failed" in log and "Traceback" in log and "injected crash at step 1" in log


@pytest.mark.slow
def test_multirun_writes_one_folder_per_job(fake_data_dir, tmp_path):
    result = run(
        "train.py",
        "-m",
        "experiment=mlp",
        "debug=fast",
        "data.val_size=100",
        "model.net.hidden_sizes=[16]",
        "seed=1,2",
        "trainer.accelerator=cpu",
        f"hydra.sweep.dir={tmp_path}",
        data_dir=fake_data_dir,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    runs = [json.loads((tmp_path / str(job) / "metrics.json").read_text()) for job in (0, 1)]
    assert [Path(r["run_dir"]).name for r in runs] == ["0", "1"]
    assert all(Path(r["best_checkpoint"]).is_file() for r in runs)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("experiment", "small"),
    [
        ("csv_mlp", "model.net.hidden_sizes=[16]"),
        ("csv_cnn", "model.net.channels=[8,16]"),
        ("csv_lstm", "model.net.hidden_size=16"),
    ],
)
def test_each_network_trains_on_a_folder_of_your_own_images(experiment, small, tmp_path):
    from .helpers import class_folders

    images = class_folders(tmp_path / "images", per_class=10)
    tool = run("-m", "lightning_hydra_template.data.folder_to_csv", str(images), str(tmp_path / "labels.csv"))
    assert tool.returncode == 0, tool.stderr
    result = run(
        "train.py",
        f"experiment={experiment}",
        "debug=fast",
        small,
        "trainer.accelerator=cpu",
        f"data.csv_path={tmp_path / 'labels.csv'}",  # its paths are relative to its own folder
        "data.image_size=16",
        "data.val_ratio=0.2",
        "data.test_ratio=0.2",
        f"data.cache_dir={tmp_path / 'cache'}",
        f"hydra.run.dir={tmp_path / 'run'}",
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    summary = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert "test/acc/fox" in summary["metrics"]  # class names from the folders reach the model
