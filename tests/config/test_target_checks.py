"""Every `_target_` of a config is checked against its signature before anything is built."""

import pytest

from lightning_hydra_template.config.target_checks import check_targets, locate
from lightning_hydra_template.errors import ConfigError

from ..helpers import config_options


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            ["optimizer._target_=torch.optim.Nope"],
            r"optimizer._target_=torch.optim.Nope cannot be imported \(torch.optim has no Nope\)",
        ),
        (["optimizer._target_=torchx.optim.Adam"], r"cannot be imported \(no module torchx\)"),
        (
            ["optimizer=adamw", "optimizer.betas=[0.9]"],
            r"optimizer.betas=\[0.9\] does not fit torch.optim.AdamW's `betas: tuple\[",
        ),
        (
            ["+data.val_fraction=1.5"],
            "data.val_fraction is not a parameter of .*IDXDataModule .it takes: data_dir",
        ),
        (["trainer.max_epochs=ten"], r"trainer.max_epochs='ten' does not fit .*Trainer's `max_epochs"),
    ],
)
def test_a_value_that_does_not_fit_its_target_is_named_with_the_signature(compose_config, overrides, message):
    with pytest.raises(ConfigError, match=message):
        check_targets(compose_config(overrides))


@pytest.mark.parametrize("experiment", config_options("experiment"))
def test_every_shipped_experiment_fits_its_targets(compose_config, experiment):
    # The csv_* experiments leave data.num_classes null until the data is read: not a problem yet.
    check_targets(compose_config([f"experiment={experiment}"]))


def test_a_dotted_target_is_located_as_hydra_does():
    import torch

    assert locate("torch.optim.AdamW") is torch.optim.AdamW
    assert locate("torch.nn.functional.relu") is torch.nn.functional.relu
    with pytest.raises(ImportError, match="torch.nn has no Relu"):
        locate("torch.nn.Relu")
