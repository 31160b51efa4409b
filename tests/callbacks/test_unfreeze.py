"""callbacks=finetune: the head trains first; from `at_epoch` the frozen layers too, at a lower rate."""

import logging

import lightning as L
import pytest
import torch

from lightning_hydra_template.callbacks.unfreeze import Unfreeze
from lightning_hydra_template.config.builders import build
from lightning_hydra_template.errors import ConfigError

from ..helpers import fit_on_random_images, frozen_cnn

SCHEDULERS = ["none", "step", "cosine", "onecycle", "plateau"]


class FeaturesAfterEachEpoch(L.Callback):
    def __init__(self) -> None:
        self.snapshots: list[dict[str, torch.Tensor]] = []

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.snapshots.append({k: v.clone() for k, v in pl_module.net.features.state_dict().items()})


@pytest.mark.parametrize("scheduler", SCHEDULERS)
def test_frozen_layers_train_from_at_epoch_at_a_lower_rate_under_every_schedule(
    compose_config, scheduler, caplog
):
    cfg = compose_config([f"scheduler={scheduler}", "optimizer=adamw"])
    model = frozen_cnn(freeze=["features"], scheduler=build(cfg.scheduler) if cfg.scheduler else None)
    start = {k: v.clone() for k, v in model.net.features.state_dict().items()}
    epochs = FeaturesAfterEachEpoch()

    with caplog.at_level(logging.INFO, logger="lightning_hydra_template.callbacks.unfreeze"):
        trainer = fit_on_random_images(
            model, epochs=3, callbacks=[Unfreeze(at_epoch=1, lr_factor=0.1), epochs]
        )
    [said] = [r.getMessage() for r in caplog.records if "unfroze" in r.getMessage()]  # once, at its epoch
    assert said.startswith("Epoch 1: unfroze features (") and "at 0.1 x the learning rate" in said

    after_head_only, after_unfrozen, _ = epochs.snapshots
    assert all(torch.equal(start[k], v) for k, v in after_head_only.items())  # weights and BN statistics
    assert all(not torch.equal(start[k], v) for k, v in after_unfrozen.items() if "weight" in k)
    groups = trainer.optimizers[0].param_groups
    unfrozen = [g for g in groups if any(p is model.net.features[0][0].weight for p in g["params"])]
    head = [g for g in groups if any(p is model.net.head[-1].weight for p in g["params"])]
    assert unfrozen[0]["lr"] == pytest.approx(head[0]["lr"] * 0.1)  # scheduled like the rest, scaled


def test_a_resume_after_unfreezing_ends_where_the_uninterrupted_run_does(tmp_path):
    straight = frozen_cnn(freeze=["features"])
    fit_on_random_images(straight, epochs=3, callbacks=[Unfreeze(at_epoch=1)])

    first = frozen_cnn(freeze=["features"])
    trainer = fit_on_random_images(first, epochs=2, callbacks=[Unfreeze(at_epoch=1)])
    trainer.save_checkpoint(tmp_path / "epoch2.ckpt")
    resumed = frozen_cnn(freeze=["features"])
    fit_on_random_images(
        resumed, epochs=3, callbacks=[Unfreeze(at_epoch=1)], ckpt_path=tmp_path / "epoch2.ckpt"
    )

    for name, tensor in straight.net.state_dict().items():
        torch.testing.assert_close(resumed.net.state_dict()[name], tensor, rtol=0, atol=0, msg=name)


def test_unfreezing_a_model_with_nothing_frozen_says_what_to_set():
    with pytest.raises(ConfigError, match=r"set model.freeze"):
        fit_on_random_images(frozen_cnn(), callbacks=[Unfreeze(at_epoch=1)])
