"""model.lr_multipliers hold under every LR schedule: each group keeps its share of the rate."""

import pytest

from lightning_hydra_template.config.builders import build

from ..helpers import config_options, fit_on_random_images, frozen_cnn


@pytest.mark.parametrize("scheduler", config_options("scheduler"))
def test_a_lower_rate_for_features_holds_after_steps_under_every_schedule(compose_config, scheduler):
    cfg = compose_config(
        [f"scheduler={scheduler}", "optimizer=adamw", "model.lr_multipliers={features: 0.1}"]
    )
    assert dict(cfg.model.lr_multipliers) == {"features": 0.1}  # as the docs write it, no ++
    schedule = build(cfg.scheduler) if cfg.scheduler else None
    model = frozen_cnn(lr_multipliers=dict(cfg.model.lr_multipliers), scheduler=schedule)

    trainer = fit_on_random_images(model, epochs=3)

    groups = trainer.optimizers[0].param_groups
    features = next(g for g in groups if any(p is model.net.features[0][0].weight for p in g["params"]))
    head = next(g for g in groups if any(p is model.net.head[-1].weight for p in g["params"]))
    assert features["lr"] == pytest.approx(0.1 * head["lr"])
    if "initial_lr" in head:  # where each group's schedule started from (cosine ends at 0)
        assert head["initial_lr"] > 0 and features["initial_lr"] == pytest.approx(0.1 * head["initial_lr"])
    if scheduler == "onecycle":  # the peak itself is per group
        assert features["max_lr"] == pytest.approx(0.1 * head["max_lr"])
