"""model.freeze: frozen parameters and batch-norm statistics stay as they were, out of the optimizer."""

import pytest
import torch

from lightning_hydra_template.errors import ConfigError

from ..helpers import fit_on_random_images as fit
from ..helpers import frozen_cnn


def test_frozen_layers_and_their_batch_norm_statistics_stay_as_they_were():
    model = frozen_cnn(freeze=["features"])
    before = {k: v.clone() for k, v in model.net.state_dict().items()}
    trainer = fit(model)
    after = model.net.state_dict()
    features = [k for k in before if k.startswith("features.")]
    assert any("running_mean" in k for k in features)
    assert all(torch.equal(before[k], after[k]) for k in features)  # weights and BN statistics
    assert all(
        not torch.equal(before[k], after[k]) for k in before if k.startswith("head.") and "weight" in k
    )
    optimized = {id(p) for group in trainer.optimizers[0].param_groups for p in group["params"]}
    assert optimized == {id(p) for p in model.net.head.parameters()}


def test_the_model_summary_counts_trainable_and_frozen_parameters():
    from lightning.pytorch.utilities.model_summary import ModelSummary

    model = frozen_cnn(freeze=["features"])
    summary = ModelSummary(model)
    assert summary.trainable_parameters == sum(p.numel() for p in model.net.head.parameters())
    assert summary.total_parameters - summary.trainable_parameters == sum(
        p.numel() for p in model.net.features.parameters()
    )


def test_a_name_that_owns_no_parameters_lists_the_ones_that_do():
    with pytest.raises(ConfigError, match=r"model.freeze names \['backbone'\].*features, head"):
        frozen_cnn(freeze=["backbone"])
