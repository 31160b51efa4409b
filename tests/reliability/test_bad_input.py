"""Bad input ends in one short message naming the key, file or row and the fix: never a traceback."""

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ..helpers import fill, run

pytestmark = pytest.mark.slow  # each case starts python train.py / eval.py


def assert_one_message(result, *expected: str) -> None:
    output = result.stdout + result.stderr
    assert result.returncode == 1, output[-2000:]
    assert "Traceback" not in output, output[-3000:]
    assert "weights_only=False" not in output  # torch's unsafe advice is never passed on
    for text in expected:
        assert text in output, (text, output[-2000:])


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ("data.loader.batch_size=abc", "data.loader.batch_size"),
        ("data.loader.batch_size=0", "data.loader.batch_size"),
        ("data.loader.batch_size=-4", "data.loader.batch_size"),
        ("trainer.max_epochs=-5", "trainer.max_epochs"),
        ("model.net.dropout=1.5", "model.net.dropout"),
        ("optimizer.lr=-1", "optimizer.lr"),
        ("trainer.precision=bogus", "trainer.precision"),
        ("data=csv_images", "data.csv_path=/path/to/labels.csv"),
        ("ckpt_path=/nowhere/last.ckpt", "/nowhere/last.ckpt"),
    ],
)
def test_a_bad_config_value_is_one_line_naming_the_key(fake_data_dir, tmp_path, override, named):
    result = run("train.py", override, f"hydra.run.dir={tmp_path}", data_dir=fake_data_dir)
    assert_one_message(result, named)
    assert not (tmp_path / "checkpoints").exists()  # stopped before anything heavy


def damaged_checkpoints(folder) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    files = {
        "empty": b"",
        "random": os.urandom(4096),
        "text": b"not a checkpoint\n",
        "truncated": b"PK\x03\x04" + os.urandom(300),
    }
    paths = {}
    for name, data in files.items():
        (folder / f"{name}.ckpt").write_bytes(data)
        paths[name] = folder / f"{name}.ckpt"
    return paths


@pytest.mark.parametrize("script", ["train.py", "eval.py"])
@pytest.mark.parametrize("kind", ["empty", "random", "text", "truncated"])
def test_a_damaged_checkpoint_is_named_with_the_fix(fake_data_dir, tmp_path, script, kind):
    checkpoint = damaged_checkpoints(tmp_path / "checkpoints")[kind]
    result = run(
        script, f"ckpt_path={checkpoint}", f"hydra.run.dir={tmp_path / 'run'}", data_dir=fake_data_dir
    )
    assert_one_message(result, str(checkpoint), "best.ckpt or last.ckpt")


def test_a_broken_test_file_stops_the_run_before_training(fake_data_dir, tmp_path):
    data = tmp_path / "data"
    raw = data / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    for path in (fake_data_dir / "FashionMNIST" / "raw").iterdir():
        content = path.read_bytes()
        (raw / path.name).write_bytes(
            content[: len(content) // 2] if path.name.startswith("t10k-images") else content
        )
    result = run(
        "train.py", "debug=fast", "data.val_size=100", f"hydra.run.dir={tmp_path / 'run'}", data_dir=data
    )
    assert_one_message(result, "t10k-images-idx3-ubyte.gz")
    assert not (tmp_path / "run" / "checkpoints").exists()  # found before a single epoch was trained


@pytest.fixture(scope="module")
def trained_run(fake_data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    run_dir = tmp_path_factory.mktemp("trained") / "train"
    small_cnn = ["experiment=cnn", "model.net.channels=[8,16]", "model.net.hidden_size=16"]
    result = run(
        "train.py", *small_cnn, "debug=fast", "data.val_size=100", "trainer.accelerator=cpu",
        f"hydra.run.dir={run_dir}", data_dir=fake_data_dir,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return run_dir


@pytest.fixture(scope="module")
def corrupted_checkpoint(trained_run: Path) -> Path:
    """A trained run's best.ckpt with 8 bytes overwritten in the middle, as a bad disk or copy leaves it.

    torch.load reads such a file without complaint (it does not check the zip's CRCs): the weights
    it gives are NaN or plausible but wrong.
    """
    checkpoint = trained_run / "checkpoints" / "corrupted.ckpt"
    shutil.copy(trained_run / "checkpoints" / "best.ckpt", checkpoint)
    with open(checkpoint, "r+b") as f:
        f.seek(checkpoint.stat().st_size // 2)
        f.write(b"\xff" * 8)
    return checkpoint


TASKS_LOADING_A_CHECKPOINT = {
    "train resume": ("train.py", "ckpt_path={ckpt}", "debug=fast", "data.val_size=100"),
    "train init_from": ("train.py", "init_from={ckpt}", "debug=fast", "data.val_size=100", "experiment=cnn"),
    "eval": ("eval.py", "ckpt_path={ckpt}"),
    "predict": ("predict.py", "ckpt_path={ckpt}", "input={image}"),
    "export": ("export.py", "ckpt_path={ckpt}", "output={tmp}/model.onnx"),
    "serve": ("serve.py", "ckpt_path={ckpt}"),
    "explain": ("explain.py", "ckpt_path={ckpt}", "input={image}"),
}


@pytest.mark.parametrize("task", TASKS_LOADING_A_CHECKPOINT)
def test_a_checkpoint_with_corrupted_bytes_stops_every_task_in_one_line(
    corrupted_checkpoint, fake_data_dir, tmp_path, task
):
    image = tmp_path / "shoe.png"
    Image.fromarray(np.zeros((28, 28), np.uint8), "L").save(image)
    script, *template = TASKS_LOADING_A_CHECKPOINT[task]
    args = [arg.format(ckpt=corrupted_checkpoint, image=image, tmp=tmp_path) for arg in template]
    result = run(script, *args, f"hydra.run.dir={tmp_path / 'run'}", data_dir=fake_data_dir)
    assert_one_message(result, f"{corrupted_checkpoint} is damaged")
    assert not (tmp_path / "model.onnx").exists()


@pytest.mark.parametrize(
    ("script", "output"),
    [("export.py", "model.onnx"), ("export.py", "model.pt2"), ("predict.py", "predictions.csv")],
)
def test_a_full_disk_is_one_line_naming_the_file(
    trained_run, fake_data_dir, tmp_path, small_file_system, script, output
):
    disk = small_file_system("1m")
    fill(disk)
    image = tmp_path / "shoe.png"
    Image.fromarray(np.zeros((28, 28), np.uint8), "L").save(image)
    args = [f"ckpt_path={trained_run / 'checkpoints' / 'best.ckpt'}", f"output={disk / output}"]
    args += (
        ["format=torch"] if output.endswith(".pt2") else [f"input={image}"] if script == "predict.py" else []
    )
    result = run(script, *args, f"hydra.run.dir={tmp_path / 'run'}", data_dir=fake_data_dir)
    assert_one_message(result, f"Could not write {disk}", "No space left on device")  # exit 1, not an abort
    assert sorted(p.name for p in disk.iterdir()) == ["filler"]


def test_a_checkpoint_on_a_full_disk_stops_training_in_one_line(fake_data_dir, tmp_path, small_file_system):
    # Room for the run folder's small files, not for a checkpoint of 784-256-10 with Adam's moments (2.4 MB).
    disk = small_file_system("1m")
    result = run(
        "train.py", "experiment=mlp", "model.net.hidden_sizes=[256]", "debug=fast", "data.val_size=100",
        f"hydra.run.dir={disk / 'run'}", data_dir=fake_data_dir,
    )  # fmt: skip
    # torch's zip writer says "unexpected pos 821568 vs 821460": the message says what it means.
    assert_one_message(result, f"Could not write {disk / 'run' / 'checkpoints'}", "No space left on device")
    assert "the checkpoint needs about 2.4 MB" in result.stdout + result.stderr
    assert "paths.log_dir=" in result.stdout + result.stderr  # where to point the run instead
    assert not list((disk / "run" / "checkpoints").glob("*")), "a partial checkpoint was left"


NO_GPU = pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
BAD_VALUES = [
    (
        "train.py",
        ["optimizer._target_=torch.optim.Nope"],
        "optimizer._target_=torch.optim.Nope cannot be imported",
    ),
    ("train.py", ["seed=abc"], "seed='abc' must be an integer"),
    pytest.param("train.py", ["trainer=gpu"], "accelerator", marks=NO_GPU),
    ("train.py", ["trainer.accelerator=tpu"], "tpu"),
    ("train.py", ["data.loader.num_workers=-1"], "data.loader.num_workers=-1 must be an integer >= 0"),
    (
        "train.py",
        ["optimizer=adamw", "optimizer.betas=[0.9]"],
        "optimizer.betas=[0.9] does not fit torch.optim.AdamW",
    ),
    ("train.py", ["+data.val_fraction=1.5"], "data.val_fraction is not a parameter of"),
    pytest.param("predict.py", ["device=cuda"], "device=cuda, but PyTorch sees no GPU", marks=NO_GPU),
    ("predict.py", ["batch_size=abc"], "batch_size='abc' must be a positive integer"),
    ("serve.py", ["port=abc"], "port='abc' must be an integer from 1024 to 65535"),
]


@pytest.mark.parametrize(("script", "overrides", "named"), BAD_VALUES)
def test_each_bad_value_is_one_message_naming_the_key(
    trained_run, fake_data_dir, tmp_path, script, overrides, named
):
    image = tmp_path / "shoe.png"
    Image.fromarray(np.zeros((28, 28), np.uint8), "L").save(image)
    given = [f"ckpt_path={trained_run / 'checkpoints' / 'best.ckpt'}", f"input={image}"]
    args = [*overrides, *({"predict.py": given, "serve.py": given[:1]}.get(script, []))]
    result = run(script, *args, f"hydra.run.dir={tmp_path / 'run'}", data_dir=fake_data_dir)
    assert_one_message(result, named)
    assert not (tmp_path / "run" / "checkpoints").exists()
