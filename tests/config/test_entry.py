"""entry: what every script does before Hydra; `group=null` means "none of that group"."""

from lightning_hydra_template.config.entry import null_groups_dropped
from lightning_hydra_template.config.project import CONFIG_DIR


def test_a_config_group_set_to_null_is_dropped_and_values_set_to_null_are_kept():
    argv = ["train.py", "logger=null", "callbacks=null", "ckpt_path=null", "model.net.weights=null", "seed=1"]
    assert null_groups_dropped(argv, CONFIG_DIR) == [
        "train.py",
        "~logger",
        "~callbacks",
        "ckpt_path=null",
        "model.net.weights=null",
        "seed=1",
    ]
