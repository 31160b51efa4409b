"""A resume with another optimizer.lr trains at that rate: the checkpoint's optimizer state is
rescaled to it after Lightning restores it, a schedule keeping its position."""

import lightning as L
import pytest
import torch

from lightning_hydra_template.callbacks.configured_learning_rate import ConfiguredLearningRate
from lightning_hydra_template.models.classifier import ImageClassifier
from lightning_hydra_template.models.cnn import CNN

from ..helpers import fit_on_random_images


def cnn(lr: float, scheduler=None) -> ImageClassifier:
    torch.manual_seed(0)
    net = CNN(1, 28, 10, channels=[4, 8], hidden_size=16, dropout=0.0)
    return ImageClassifier(
        net, num_classes=10, optimizer=lambda p: torch.optim.AdamW(p, lr=lr), scheduler=scheduler
    )


class RatesAtEachStep(L.Callback):
    def __init__(self) -> None:
        self.rates: list[list[float]] = []

    def on_train_batch_start(self, trainer: L.Trainer, *args) -> None:
        self.rates.append([g["lr"] for g in trainer.optimizers[0].param_groups])


def test_a_resume_with_another_lr_trains_at_it(tmp_path):
    trainer = fit_on_random_images(cnn(lr=1e-2), epochs=1)
    trainer.save_checkpoint(tmp_path / "epoch1.ckpt")

    rates = RatesAtEachStep()
    fit_on_random_images(
        cnn(lr=1e-4),
        epochs=2,
        callbacks=[ConfiguredLearningRate(), rates],
        ckpt_path=tmp_path / "epoch1.ckpt",
    )
    assert rates.rates and all(r == pytest.approx([1e-4] * len(r)) for r in rates.rates)


def test_without_the_callback_lightning_keeps_the_checkpoints_rate(tmp_path):
    # Why the callback exists: the restored optimizer state wins over the config.
    trainer = fit_on_random_images(cnn(lr=1e-2), epochs=1)
    trainer.save_checkpoint(tmp_path / "epoch1.ckpt")
    rates = RatesAtEachStep()
    fit_on_random_images(cnn(lr=1e-4), epochs=2, callbacks=[rates], ckpt_path=tmp_path / "epoch1.ckpt")
    assert rates.rates[0] == pytest.approx([1e-2] * len(rates.rates[0]))


def test_a_scheduled_rate_keeps_its_position_at_the_new_height(tmp_path):
    from functools import partial

    from lightning_hydra_template.optim.lr_schedule import LRSchedule

    step = LRSchedule(partial(torch.optim.lr_scheduler.StepLR, step_size=1, gamma=0.5), interval="epoch")
    trainer = fit_on_random_images(cnn(lr=1e-2, scheduler=step), epochs=2)  # now at 1e-2 / 4
    trainer.save_checkpoint(tmp_path / "epoch2.ckpt")

    rates = RatesAtEachStep()
    fit_on_random_images(
        cnn(lr=1e-3, scheduler=step), epochs=3, callbacks=[ConfiguredLearningRate(), rates],
        ckpt_path=tmp_path / "epoch2.ckpt",
    )  # fmt: skip
    assert rates.rates[0] == pytest.approx([1e-3 / 4] * len(rates.rates[0]))
