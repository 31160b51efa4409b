"""StepTimer: the timestamps benchmarks/throughput.py turns into training rates."""

import json
import time

import lightning as L

from lightning_hydra_template.callbacks.step_timer import StepTimer

from ..helpers import fit_on_random_images, frozen_cnn

# Long beside a step of the tiny network (milliseconds), so that a step charged with it stands out
# even on a loaded machine.
EPOCH_END_SECONDS = 2.0


class SlowEpochEnd(L.Callback):
    """Stands in for the epoch-end work (checkpoint, plots) that is not part of any step."""

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        time.sleep(EPOCH_END_SECONDS)


def test_a_start_per_step_then_the_end_of_the_last_step_not_of_the_epoch_end_hooks():
    timer = StepTimer()
    fit_on_random_images(frozen_cnn(), epochs=1, callbacks=[timer, SlowEpochEnd()])
    assert len(timer.step_starts) == 4 + 1 and timer.batch_sizes == [8, 8, 8, 8]
    steps = [end - start for start, end in zip(timer.step_starts, timer.step_starts[1:])]
    assert all(seconds >= 0 for seconds in steps)
    assert steps[-1] < EPOCH_END_SECONDS / 2  # the sleep after the last step is not charged to it


def test_writes_the_timings_with_peak_memory(tmp_path):
    timer = StepTimer(str(tmp_path / "run" / "step_times.json"))
    fit_on_random_images(frozen_cnn(), epochs=1, callbacks=[timer])
    written = json.loads((tmp_path / "run" / "step_times.json").read_text())
    assert written["step_starts"] == timer.step_starts and written["test_seconds"] is None
    assert written["peak_rss_mb"] > 0


def test_a_fit_without_training_steps_records_no_end():
    timer = StepTimer()
    timer.on_train_end(trainer=None, pl_module=None)  # as when limit_train_batches=0
    assert timer.step_starts == []


def test_each_validation_is_timed_from_the_fits_start_with_its_accuracy(tmp_path):
    timer = StepTimer(str(tmp_path / "step_times.json"))
    fit_on_random_images(frozen_cnn(), epochs=2, callbacks=[timer, SlowEpochEnd()])
    assert [v["epoch"] for v in timer.validations] == [0, 1]
    assert 0 < timer.validations[0]["seconds"] < timer.validations[1]["seconds"] <= timer.fit_seconds
    assert timer.fit_seconds >= 2 * EPOCH_END_SECONDS  # the epoch-end work is part of the fit
    assert all(0.0 <= v["val_acc"] <= 1.0 for v in timer.validations)
    written = json.loads((tmp_path / "step_times.json").read_text())
    assert written["validations"] == timer.validations and written["fit_seconds"] == timer.fit_seconds
