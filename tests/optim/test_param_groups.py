import pytest
import torch
from torch import nn

from lightning_hydra_template.models.cnn import CNN
from lightning_hydra_template.optim.param_groups import apply_lr_multipliers, param_groups


def names_in(group, module):
    ids = {id(p) for p in group["params"]}
    return {n for n, p in module.named_parameters() if id(p) in ids}


def test_biases_and_norm_weights_get_no_weight_decay():
    net = CNN(1, 28, 10, channels=[4], convs_per_block=1, hidden_size=8)
    groups = param_groups(net)
    exempt = [g for g in groups if g.get("weight_decay") == 0.0]
    assert len(exempt) == 1
    assert names_in(exempt[0], net) == {
        "features.0.1.weight",
        "features.0.1.bias",
        "head.2.bias",
        "head.5.bias",
    }


def test_decay_everything_when_asked():
    net = nn.Linear(3, 2)
    assert [len(g["params"]) for g in param_groups(net, decay_norm_and_bias=True)] == [2]


def test_lr_multipliers_scale_submodules_by_longest_prefix():
    net = CNN(1, 28, 10, channels=[4], convs_per_block=1, hidden_size=8)
    groups = param_groups(net, lr_multipliers={"features": 0.1, "features.0.1": 0.5})
    optimizer = torch.optim.AdamW(groups, lr=1e-2, weight_decay=0.1)
    apply_lr_multipliers(optimizer)
    lr_of = {name: g["lr"] for g in optimizer.param_groups for name in names_in(g, net)}
    assert lr_of["features.0.0.weight"] == pytest.approx(1e-3)
    assert lr_of["features.0.1.weight"] == pytest.approx(5e-3)
    assert lr_of["head.2.weight"] == pytest.approx(1e-2)


def test_unknown_submodule_lists_the_real_ones():
    net = CNN(1, 28, 10, channels=[4], convs_per_block=1, hidden_size=8)
    with pytest.raises(ValueError, match=r"\['backbone'\].*features, head"):
        param_groups(net, lr_multipliers={"backbone": 0.1})
