"""Promises about a training run under faults: its folder, its checkpoints, its resume, its status.

Each test injects the fault for real (kill -9, SIGTERM, SIGINT, a full file system, NaN) and checks
what a user would rely on afterwards.
"""

import multiprocessing
import os
import signal
import socket
import time
from pathlib import Path

import pytest
import torch

from lightning_hydra_template.config.run_folders import claim_new_dir
from lightning_hydra_template.run.resume import quoted

from ..helpers import fake_scontrol, read_metrics, run, start

# A CNN with augmentation (crop, flip), dropout and a one-cycle schedule: every random stream and
# every piece of optimizer state a resume must restore. 300 training images: 10 batches per epoch.
SMALL_RUN = [
    "experiment=cnn",
    "model.net.channels=[8,16]",
    "model.net.hidden_size=16",
    "data.val_size=100",
    "data.loader.batch_size=32",
    "trainer.max_epochs=3",
    "trainer.accelerator=cpu",
    "trainer.log_every_n_steps=2",
    "test=false",
    "callbacks.rich_progress_bar=null",
    "callbacks.rich_model_summary=null",
]


def fault_at(step: int, signum: int) -> list[str]:
    return [
        "+callbacks.fault._target_=tests.helpers.SignalAtStep",
        f"+callbacks.fault.step={step}",
        f"+callbacks.fault.signum={int(signum)}",
    ]


def weights(run_dir: Path) -> dict[str, torch.Tensor]:
    return torch.load(run_dir / "checkpoints" / "last.ckpt")["state_dict"]


def tensorboard_steps(run_dir: Path) -> dict[str, list[int]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run_dir / "tensorboard"))
    events.Reload()
    return {tag: [e.step for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


@pytest.fixture(scope="module")
def uninterrupted(fake_data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    run_dir = tmp_path_factory.mktemp("uninterrupted") / "run"
    result = run("train.py", *SMALL_RUN, f"hydra.run.dir={run_dir}", data_dir=fake_data_dir)
    assert result.returncode == 0, result.stderr[-3000:]
    return run_dir


def resume(run_dir: Path, data_dir: Path, *overrides: str):
    """What the user types: the checkpoint, and nothing else of the original command.

    Overrides given here compose first on their own (Hydra's command line), then on top of the run's:
    a key only the run's overrides added (the fault callback) is changed with `++`.
    """
    return run(
        "train.py", f"ckpt_path={run_dir / 'checkpoints' / 'last.ckpt'}", *overrides, data_dir=data_dir
    )


# --- 1. One run, one folder --------------------------------------------------------------------


def _claim_when_all_are_ready(
    name: str, start: "multiprocessing.Barrier", out: "multiprocessing.Queue"
) -> None:
    start.wait()
    out.put(claim_new_dir(name))


def test_processes_claiming_one_folder_name_at_once_each_get_their_own(tmp_path):
    name = str(tmp_path / "runs" / "2026-12-03_07-00-00")  # eight runs started in the same second
    context = multiprocessing.get_context("fork")
    start, out = context.Barrier(8), context.Queue()
    processes = [context.Process(target=_claim_when_all_are_ready, args=(name, start, out)) for _ in range(8)]
    for process in processes:
        process.start()
    claimed = [out.get(timeout=60) for _ in processes]
    for process in processes:
        process.join()
    assert len(set(claimed)) == 8
    assert min(claimed) == name and sorted(claimed)[1] == f"{name}_2"  # still sorted by start time
    assert sorted(claimed) == sorted(str(p) for p in (tmp_path / "runs").iterdir())


def test_a_second_claim_in_one_process_is_the_same_folder(tmp_path):
    name = str(tmp_path / "runs" / "t")
    assert claim_new_dir(name) == claim_new_dir(name) == name


@pytest.mark.slow
def test_two_runs_started_together_never_share_a_folder(fake_data_dir, tmp_path):
    import subprocess
    import sys

    from lightning_hydra_template.config.project import PROJECT_ROOT

    command = [sys.executable, "train.py", *SMALL_RUN, "trainer.max_epochs=1", f"paths.log_dir={tmp_path}"]
    env = {**__import__("os").environ, "DATA_DIR": str(fake_data_dir)}
    runs = [
        subprocess.Popen([*command, f"seed={seed}"], cwd=PROJECT_ROOT, env=env, stdout=subprocess.DEVNULL)
        for seed in (1, 2)
    ]
    assert [r.wait(timeout=300) for r in runs] == [0, 0]
    folders = sorted((tmp_path / "train" / "runs").iterdir())
    assert len(folders) == 2
    for folder in folders:  # each folder's config, resolved config and metrics belong to one run
        seed = (folder / ".hydra" / "overrides.yaml").read_text().split("seed=")[1].split()[0]
        assert f"seed: {seed}" in (folder / "resolved_config.yaml").read_text()
        assert read_metrics(folder)["run_dir"] == str(folder)


@pytest.mark.slow
def test_a_second_training_in_a_busy_run_folder_is_refused_and_a_killed_ones_folder_taken_over(
    fake_data_dir, tmp_path
):
    command = [
        "train.py",
        *SMALL_RUN,
        "trainer.max_epochs=1",
        f"hydra.run.dir={tmp_path / 'run'}",
        "ckpt_path=auto",
    ]
    first = start(
        *command, *fault_at(3, signal.SIGSTOP), output=tmp_path / "first.log", data_dir=fake_data_dir
    )
    try:
        while "T" not in Path(f"/proc/{first.pid}/stat").read_text().rpartition(")")[2].split()[0]:
            time.sleep(0.2)  # until it has stopped itself mid-training, holding the folder
        second = run(*command, data_dir=fake_data_dir)
        output = second.stdout + second.stderr
        assert second.returncode == 1 and "Traceback" not in output
        assert f"is in use by another training (host {socket.gethostname()}, pid {first.pid}, since" in output
    finally:
        first.kill()
        first.wait()
    third = run(*command, data_dir=fake_data_dir)
    assert third.returncode == 0, third.stderr[-3000:]
    assert f"Took over the lock of {tmp_path / 'run'}" in third.stdout + third.stderr
    assert read_metrics(tmp_path / "run")["status"] == "completed"


def test_a_read_only_log_folder_is_one_line_naming_the_key(fake_data_dir, small_file_system):
    read_only = small_file_system("64k", read_only=True)
    result = run("train.py", f"paths.log_dir={read_only / 'logs'}", data_dir=fake_data_dir)
    output = result.stdout + result.stderr
    assert result.returncode == 1
    assert "Cannot create the run folder" in output and "paths.log_dir=" in output
    assert "Traceback" not in output


# --- 2, 4, 5. last.ckpt, exact resume in place, signals -----------------------------------------


@pytest.mark.slow
def test_killed_with_sigkill_and_resumed_in_place_ends_with_the_same_weights(
    uninterrupted, fake_data_dir, tmp_path
):
    run_dir = tmp_path / "run"
    killed = run(
        "train.py",
        *SMALL_RUN,
        f"hydra.run.dir={run_dir}",
        *fault_at(15, signal.SIGKILL),
        data_dir=fake_data_dir,
    )
    assert killed.returncode == -signal.SIGKILL
    assert torch.load(run_dir / "checkpoints" / "last.ckpt")["global_step"] == 10  # the end of epoch 0

    resumed = resume(run_dir, fake_data_dir, "++callbacks.fault=null")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert read_metrics(run_dir)["status"] == "completed"
    assert list(tmp_path.iterdir()) == [run_dir]  # no second run folder
    for name, tensor in weights(uninterrupted).items():
        assert torch.equal(tensor, weights(run_dir)[name]), name  # bit for bit on CPU
    assert tensorboard_steps(run_dir) == tensorboard_steps(uninterrupted)  # appended, no duplicates


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGUSR2])
def test_a_signal_saves_the_batch_it_stopped_after_and_the_resume_goes_on_from_there(
    uninterrupted, fake_data_dir, tmp_path, signum
):
    run_dir = tmp_path / "run"
    stopped = run(
        "train.py", *SMALL_RUN, f"hydra.run.dir={run_dir}", *fault_at(14, signum), data_dir=fake_data_dir
    )
    assert stopped.returncode == 128 + signum  # not 0: a scheduler must not count it as done
    summary = read_metrics(run_dir)
    assert summary["status"] == "interrupted" and summary["signal"] == signal.Signals(signum).name
    assert 0 <= summary["metrics"]["val/acc"] <= 1  # epoch 0 was validated: a fact the record keeps
    assert summary["best_checkpoint"] == str(run_dir / "checkpoints" / "best.ckpt")
    assert torch.load(run_dir / "checkpoints" / "last.ckpt")["global_step"] == 14  # mid-epoch, nothing lost
    last = run_dir / "checkpoints" / "last.ckpt"
    assert f"resume with: python train.py ckpt_path={last}" in stopped.stdout + stopped.stderr

    resumed = resume(run_dir, fake_data_dir, "++callbacks.fault=null")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    for name, tensor in weights(uninterrupted).items():
        assert torch.equal(tensor, weights(run_dir)[name]), name
    assert tensorboard_steps(run_dir) == tensorboard_steps(uninterrupted)


@pytest.mark.slow
def test_the_same_command_with_ckpt_path_auto_continues_a_killed_run(uninterrupted, fake_data_dir, tmp_path):
    command = ["train.py", *SMALL_RUN, f"hydra.run.dir={tmp_path / 'run'}", "ckpt_path=auto"]
    killed = run(*command, *fault_at(15, signal.SIGKILL), data_dir=fake_data_dir)
    assert killed.returncode == -signal.SIGKILL
    again = run(
        *command, "++callbacks.fault=null", data_dir=fake_data_dir
    )  # the run's overrides are replayed
    assert again.returncode == 0, again.stderr[-3000:]
    run_dir = tmp_path / "run"
    assert (
        f"ckpt_path=auto: continuing {run_dir / 'checkpoints' / 'last.ckpt'}" in again.stdout + again.stderr
    )
    assert read_metrics(run_dir)["resumed_from"]["global_step"] == 10
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir()) == ["best.ckpt", "last.ckpt"]
    for name, tensor in weights(uninterrupted).items():
        assert torch.equal(tensor, weights(run_dir)[name]), name


@pytest.mark.slow
def test_a_moved_run_folder_resumes_into_its_own_files(uninterrupted, fake_data_dir, tmp_path):
    first = tmp_path / "run"
    stopped = run(
        "train.py",
        *SMALL_RUN,
        f"hydra.run.dir={first}",
        *fault_at(14, signal.SIGTERM),
        data_dir=fake_data_dir,
    )
    assert stopped.returncode == 128 + signal.SIGTERM
    moved = first.rename(tmp_path / "moved here, [too]")  # a path Hydra's grammar must not parse
    last = quoted(str(moved / "checkpoints" / "last.ckpt"))  # as the resume hint quotes it
    resumed = run("train.py", f"ckpt_path={last}", "++callbacks.fault=null", data_dir=fake_data_dir)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert sorted(p.name for p in (moved / "checkpoints").iterdir()) == ["best.ckpt", "last.ckpt"]  # no -v1
    assert read_metrics(moved)["status"] == "completed" and read_metrics(moved)["run_dir"] == str(moved)
    for name, tensor in weights(uninterrupted).items():
        assert torch.equal(tensor, weights(moved)[name]), name


@pytest.mark.slow
def test_a_spent_time_budget_stops_cleanly_and_ckpt_path_auto_continues(
    uninterrupted, fake_data_dir, tmp_path
):
    command = ["train.py", *SMALL_RUN, f"hydra.run.dir={tmp_path}", "ckpt_path=auto"]
    # A millisecond: spent before the first step ends, whatever the machine, so it stops there.
    stopped = run(*command, "time_budget=0.001", data_dir=fake_data_dir)
    assert stopped.returncode == 128 + signal.SIGUSR1, stopped.stderr[-3000:]
    assert "Time budget of 0.001s reached at step 1" in stopped.stdout + stopped.stderr
    assert read_metrics(tmp_path)["status"] == "interrupted"
    assert torch.load(tmp_path / "checkpoints" / "last.ckpt")["global_step"] == 1

    again = run(*command, "time_budget=null", data_dir=fake_data_dir)
    assert again.returncode == 0, again.stderr[-3000:]
    assert read_metrics(tmp_path)["status"] == "completed"
    for name, tensor in weights(uninterrupted).items():
        assert torch.equal(tensor, weights(tmp_path)[name]), name


@pytest.mark.slow
def test_last_ckpt_is_the_newest_epoch_even_when_the_best_is_older(fake_data_dir, tmp_path):
    # mode=min on accuracy: the "best" is an early, bad epoch, so Lightning alone left last.ckpt there.
    result = run(
        "train.py",
        *SMALL_RUN,
        "callbacks.model_checkpoint.mode=min",
        f"hydra.run.dir={tmp_path}",
        data_dir=fake_data_dir,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    last = torch.load(tmp_path / "checkpoints" / "last.ckpt")
    assert (last["epoch"], last["global_step"]) == (2, 30)
    assert torch.load(tmp_path / "checkpoints" / "best.ckpt")["global_step"] < 30


@pytest.mark.slow
def test_a_finished_run_resumed_says_nothing_is_left_and_fails(uninterrupted, fake_data_dir):
    before = read_metrics(uninterrupted)
    result = resume(uninterrupted, fake_data_dir)
    assert result.returncode == 1
    output = result.stdout + result.stderr
    assert "nothing is left to train" in output and "trainer.max_epochs=" in output
    assert "Traceback" not in output
    assert read_metrics(uninterrupted) == before  # the refused resume left the run's record as it was


@pytest.mark.slow
def test_a_one_cycle_run_cannot_be_extended_and_says_how_to_proceed(uninterrupted, fake_data_dir):
    before = read_metrics(uninterrupted)
    result = resume(uninterrupted, fake_data_dir, "trainer.max_epochs=4")
    output = result.stdout + result.stderr
    assert result.returncode == 1 and "cannot be extended" in output and "Traceback" not in output
    assert read_metrics(uninterrupted) == before
    assert "trainer.max_epochs=4" not in (uninterrupted / ".hydra" / "overrides.yaml").read_text()


@pytest.mark.slow
def test_more_epochs_continue_a_finished_run_without_a_fixed_schedule(fake_data_dir, tmp_path):
    first = run(
        "train.py",
        *SMALL_RUN,
        "scheduler=none",
        "trainer.max_epochs=1",
        f"hydra.run.dir={tmp_path}",
        data_dir=fake_data_dir,
    )
    assert first.returncode == 0, first.stderr[-3000:]
    more = resume(tmp_path, fake_data_dir, "trainer.max_epochs=2")
    assert more.returncode == 0, more.stderr[-3000:]
    assert read_metrics(tmp_path)["epochs"] == 2
    assert torch.load(tmp_path / "checkpoints" / "last.ckpt")["global_step"] == 20


@pytest.mark.slow
def test_a_new_learning_rate_given_on_resume_is_the_one_training_uses(fake_data_dir, tmp_path):
    first = run(
        "train.py", *SMALL_RUN, "scheduler=none", "trainer.max_epochs=1", f"hydra.run.dir={tmp_path}",
        data_dir=fake_data_dir,
    )  # fmt: skip
    assert first.returncode == 0, first.stderr[-3000:]
    more = resume(tmp_path, fake_data_dir, "trainer.max_epochs=2", "optimizer.lr=0.0001")
    assert more.returncode == 0, more.stderr[-3000:]
    rates = {k: v for k, v in read_metrics(tmp_path)["metrics"].items() if k.startswith("lr-")}
    assert rates and all(v == pytest.approx(1e-4) for v in rates.values()), rates  # the monitor's reading


# --- 6. Divergence -----------------------------------------------------------------------------


@pytest.mark.slow
def test_a_diverging_run_stops_with_one_line_and_saves_no_nan(fake_data_dir, tmp_path):
    result = run(
        "train.py", *SMALL_RUN, "optimizer.lr=1e10", f"hydra.run.dir={tmp_path}", data_dir=fake_data_dir
    )
    output = result.stdout + result.stderr
    assert result.returncode == 1
    assert "Training diverged" in output and "optimizer.lr" in output and "Traceback" not in output
    summary = read_metrics(tmp_path)  # strict JSON: a NaN literal would raise here
    assert summary["status"] == "failed" and "diverged" in summary["error"]
    for checkpoint in (
        (tmp_path / "checkpoints").glob("*.ckpt") if (tmp_path / "checkpoints").exists() else []
    ):
        for name, tensor in torch.load(checkpoint)["state_dict"].items():
            if name.startswith("net."):
                assert torch.isfinite(tensor).all(), (checkpoint.name, name)


@pytest.mark.slow
def test_a_run_that_diverges_after_its_best_checkpoint_records_it_and_its_metrics(fake_data_dir, tmp_path):
    nan_in_epoch_1 = ["+callbacks.fault._target_=tests.helpers.NaNWeightsAtStep", "+callbacks.fault.step=15"]
    result = run("train.py", *SMALL_RUN, *nan_in_epoch_1, f"hydra.run.dir={tmp_path}", data_dir=fake_data_dir)
    assert result.returncode == 1 and "Training diverged" in result.stdout + result.stderr
    summary = read_metrics(tmp_path)
    assert summary["status"] == "failed" and summary["epochs"] == 1
    best = tmp_path / "checkpoints" / "best.ckpt"
    assert summary["best_checkpoint"] == str(best) and torch.load(best)["epoch"] == 0
    assert 0 <= summary["metrics"]["val/acc"] <= 1  # epoch 0's validation


# --- 8. Signals after the last training step: in the last validation, in the test ------------------

# Tested too, and 4 evaluation batches of 25 images: a signal can come mid-validation or mid-test.
TESTED_RUN = [*SMALL_RUN, "test=true", "data.loader.eval_batch_size=25"]


def in_evaluation(stage: str, signum: int, batch: int = 0, epoch: int | None = None) -> list[str]:
    return [
        "+callbacks.fault._target_=tests.helpers.SignalInEvaluation",
        f"+callbacks.fault.stage={stage}",
        f"+callbacks.fault.batch={batch}",
        f"+callbacks.fault.epoch={'null' if epoch is None else epoch}",
        f"+callbacks.fault.signum={int(signum)}",
    ]


@pytest.fixture(scope="module")
def tested(fake_data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    run_dir = tmp_path_factory.mktemp("tested") / "run"
    result = run("train.py", *TESTED_RUN, f"hydra.run.dir={run_dir}", data_dir=fake_data_dir)
    assert result.returncode == 0, result.stderr[-3000:]
    return run_dir


def figures_of_the_test(run_dir: Path) -> dict[str, float]:
    return {k: v for k, v in read_metrics(run_dir)["metrics"].items() if k.startswith("test/")}


def assert_finished_like(run_dir: Path, tested: Path) -> None:
    """`run_dir` ended as the run left alone: completed, same weights, same test metrics, no -vN files."""
    summary = read_metrics(run_dir)
    assert summary["status"] == "completed" and (summary["epochs"], summary["global_step"]) == (3, 30)
    assert figures_of_the_test(run_dir) == figures_of_the_test(tested) != {}
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir()) == ["best.ckpt", "last.ckpt"]
    for name, tensor in weights(tested).items():
        assert torch.equal(tensor, weights(run_dir)[name]), name


@pytest.mark.slow
@pytest.mark.parametrize(
    ("signum", "batch"),
    [(signal.SIGTERM, 0), (signal.SIGINT, 3)],  # mid-test; in its last batch, which Lightning finishes
    ids=["sigterm-mid-test", "sigint-last-test-batch"],
)
def test_a_signal_while_testing_is_an_interruption_and_ckpt_path_auto_runs_the_test(
    tested, fake_data_dir, tmp_path, signum, batch
):
    command = ["train.py", *TESTED_RUN, f"hydra.run.dir={tmp_path}", "ckpt_path=auto"]
    stopped = run(*command, *in_evaluation("test", signum, batch), data_dir=fake_data_dir)
    assert stopped.returncode == 128 + signum, stopped.stderr[-3000:]  # not 0: the test never finished
    summary = read_metrics(tmp_path)
    assert summary["status"] == "interrupted" and summary["signal"] == signal.Signals(signum).name
    # Mid-test nothing of the test is on record; after its last batch the test had measured it all.
    assert figures_of_the_test(tmp_path) == ({} if batch < 3 else figures_of_the_test(tested))
    assert summary["metrics"]["val/acc"] == read_metrics(tested)["metrics"]["val/acc"]
    assert "resume with: python train.py ckpt_path=" in stopped.stdout + stopped.stderr

    again = run(*command, "++callbacks.fault=null", data_dir=fake_data_dir)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "has trained the whole run; its test is left: testing it now" in again.stdout + again.stderr
    assert_finished_like(tmp_path, tested)
    assert read_metrics(tmp_path)["metrics"]["val/acc"] == read_metrics(tested)["metrics"]["val/acc"]


@pytest.mark.slow
def test_a_signal_in_the_last_validation_lets_it_finish_and_ckpt_path_auto_runs_the_test(
    tested, fake_data_dir, tmp_path
):
    command = ["train.py", *TESTED_RUN, f"hydra.run.dir={tmp_path}", "ckpt_path=auto"]
    stopped = run(*command, *in_evaluation("validate", signal.SIGTERM, 0, epoch=2), data_dir=fake_data_dir)
    assert stopped.returncode == 128 + signal.SIGTERM, stopped.stderr[-3000:]
    assert "Signal SIGTERM during validation: stopping once it ends" in stopped.stdout + stopped.stderr
    summary = read_metrics(tmp_path)
    assert summary["status"] == "interrupted" and figures_of_the_test(tmp_path) == {}
    # The whole last validation ran: its figures and its best.ckpt are the uninterrupted run's.
    validated = {k: v for k, v in read_metrics(tested)["metrics"].items() if k.startswith("val/")}
    assert {k: summary["metrics"][k] for k in validated} == validated
    best = torch.load(tmp_path / "checkpoints" / "best.ckpt")["state_dict"]
    for name, tensor in torch.load(tested / "checkpoints" / "best.ckpt")["state_dict"].items():
        assert torch.equal(tensor, best[name]), name

    again = run(*command, "++callbacks.fault=null", data_dir=fake_data_dir)
    assert again.returncode == 0, again.stderr[-3000:]  # not refused as "nothing left to train"
    assert_finished_like(tmp_path, tested)


@pytest.mark.slow
def test_a_signal_in_the_last_training_batch_leaves_a_run_that_ckpt_path_auto_finishes(
    tested, fake_data_dir, tmp_path
):
    # Step 30 of 30: a preemption just before the run's end (a requeued SLURM job must not be refused).
    command = ["train.py", *TESTED_RUN, f"hydra.run.dir={tmp_path}", "ckpt_path=auto"]
    stopped = run(*command, *fault_at(30, signal.SIGTERM), data_dir=fake_data_dir)
    assert stopped.returncode == 128 + signal.SIGTERM, stopped.stderr[-3000:]
    assert read_metrics(tmp_path)["status"] == "interrupted"

    again = run(*command, "++callbacks.fault=null", data_dir=fake_data_dir)
    assert again.returncode == 0, again.stderr[-3000:]
    assert_finished_like(tmp_path, tested)  # 3 epochs, 30 steps, the same weights and test figures


@pytest.mark.slow
@pytest.mark.parametrize(("restarts", "requeued"), [(2, True), (3, False)])
def test_a_slurm_job_warned_at_every_start_requeues_itself_at_most_max_requeues_times(
    fake_data_dir, tmp_path, monkeypatch, restarts, requeued
):
    # The environment SLURM gives a job's first task on its (restarts + 1)-th start; scontrol faked.
    bin_folder, scontrol_calls = fake_scontrol(tmp_path)
    monkeypatch.setenv("PATH", f"{bin_folder}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("SLURM_JOB_ID", "4242")
    monkeypatch.setenv("SLURM_RESTART_COUNT", str(restarts))
    command = ["train.py", *SMALL_RUN, f"hydra.run.dir={tmp_path / 'run'}", "max_requeues=3"]
    warned = run(*command, *fault_at(14, signal.SIGUSR2), data_dir=fake_data_dir)
    assert warned.returncode == 128 + signal.SIGUSR2, warned.stderr[-3000:]
    assert read_metrics(tmp_path / "run")["status"] == "interrupted"
    output = warned.stdout + warned.stderr
    if requeued:
        assert scontrol_calls.read_text() == "requeue 4242\n"
    else:
        assert not scontrol_calls.exists() and "Traceback" not in output
        assert "SLURM job 4242 not requeued: it was requeued 3 times already (max_requeues=3)" in output


# --- 9. torchrun restarts a killed worker ---------------------------------------------------------


@pytest.mark.slow
def test_torchrun_restarts_a_killed_worker_which_continues_its_run_from_last_ckpt(
    uninterrupted, fake_data_dir, tmp_path
):
    marker = tmp_path / "killed-once"
    result = run(
        *("-m", "torch.distributed.run", "--nproc_per_node=1", "--max-restarts=1"),  # torchrun
        *("train.py", *SMALL_RUN, f"paths.log_dir={tmp_path / 'logs'}", "ckpt_path=auto"),
        "+callbacks.fault._target_=tests.helpers.KillOnceAtStep",
        "+callbacks.fault.step=15",
        f"+callbacks.fault.marker={marker}",
        data_dir=fake_data_dir,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert marker.read_text() == "killed at step 15\n"  # the first worker died of kill -9
    [run_dir] = (tmp_path / "logs" / "train" / "runs").iterdir()  # one folder across the restart
    assert run_dir.name.startswith("torchrun-")
    log = (run_dir / "train.log").read_text()
    assert f"ckpt_path=auto: continuing {run_dir / 'checkpoints' / 'last.ckpt'}" in log
    assert log.count("epoch 0: ") == 1  # trained once: the restart went on from the end of epoch 0
    summary = read_metrics(run_dir)
    assert summary["status"] == "completed" and summary["resumed_from"]["global_step"] == 10
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir()) == ["best.ckpt", "last.ckpt"]
    for name, tensor in weights(uninterrupted).items():
        assert torch.equal(tensor, weights(run_dir)[name]), name


@pytest.mark.slow
@pytest.mark.parametrize(
    ("signum", "batch"),
    [(signal.SIGTERM, 0), (signal.SIGINT, 3)],
    ids=["sigterm-mid-test", "sigint-last-batch"],
)
def test_a_signal_while_eval_py_tests_exits_with_it_and_writes_no_metrics(
    tested, fake_data_dir, tmp_path, signum, batch
):
    best = tested / "checkpoints" / "best.ckpt"  # its run tested in 4 batches of 25 images
    stopped = run(
        "eval.py", f"ckpt_path={best}", f"paths.log_dir={tmp_path}", "callbacks=none",
        *in_evaluation("test", signum, batch),
        data_dir=fake_data_dir,
    )  # fmt: skip
    output = stopped.stdout + stopped.stderr
    assert stopped.returncode == 128 + signum, output[-3000:]  # Lightning alone exited 0
    assert f"Evaluation interrupted by {signal.Signals(signum).name}" in output and "Traceback" not in output
    assert not list(tmp_path.rglob("metrics.json"))  # no figures of a test that did not finish
