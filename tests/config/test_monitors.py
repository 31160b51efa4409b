"""A misspelled monitor key stops the run before its first batch, naming the key and the metric meant."""

from pathlib import Path

import pytest

from lightning_hydra_template.errors import ConfigError
from lightning_hydra_template.tasks.train import train

SMALL_MLP = ["experiment=mlp", "model.net.hidden_sizes=[16]"]
EARLY_STOPPING = "+callbacks.early_stopping._target_=lightning.pytorch.callbacks.EarlyStopping"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            ["callbacks.model_checkpoint.monitor=val/acc_bset"],
            "callbacks.model_checkpoint.monitor=val/acc_bset is not a metric this model logs each epoch "
            r"\(train/acc, .*\); e.g. callbacks.model_checkpoint.monitor=val/acc_best",
        ),
        (
            [EARLY_STOPPING, "+callbacks.early_stopping.monitor=val/accuracy"],
            "e.g. callbacks.early_stopping.monitor=val/acc",
        ),
        (["scheduler=plateau", "scheduler.monitor=val/lss"], "e.g. scheduler.monitor=val/loss"),
    ],
)
def test_a_monitor_the_model_does_not_log_is_refused_before_training(compose_config, overrides, message):
    cfg = compose_config([*SMALL_MLP, *overrides])
    with pytest.raises(ConfigError, match=message):
        train(cfg)
    assert not (Path(cfg.hydra.runtime.output_dir) / "checkpoints").exists()  # not one batch trained


def test_the_monitors_of_the_shipped_configs_pass(compose_config):
    cfg = compose_config(
        [*SMALL_MLP, "scheduler=plateau", EARLY_STOPPING, "+callbacks.early_stopping.monitor=val/acc"]
    )
    assert train(cfg)["status"] == "completed"
