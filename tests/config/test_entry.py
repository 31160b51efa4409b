"""entry: what every script checks before Hydra composes: a config group set to null is refused in one
line naming the group's `none` option (or `~group`); a value set to null is a value."""

import pytest

from lightning_hydra_template.config.entry import NullGroup, refuse_null_groups
from lightning_hydra_template.config.project import CONFIG_DIR


@pytest.mark.parametrize(
    ("argument", "says"),
    [
        ("logger=null", "logger=null: a config group cannot be null in Hydra; write logger=none"),
        ("callbacks=null", "write callbacks=none"),
        ("tune=null", "write ~tune (its default left out)"),  # a group without a none option
    ],
)
def test_a_config_group_set_to_null_is_one_line_naming_the_fix(argument, says):
    with pytest.raises(NullGroup) as refused:
        refuse_null_groups(["-m", argument, "seed=1"], CONFIG_DIR)
    assert says in str(refused.value) and refused.value.code != 0


def test_values_set_to_null_groups_given_an_option_and_flags_pass():
    arguments = ["ckpt_path=null", "model.net.weights=null", "logger=none", "~logger", "--cfg", "job"]
    refuse_null_groups(arguments, CONFIG_DIR)  # nothing raised: each is a value, an option or a flag
