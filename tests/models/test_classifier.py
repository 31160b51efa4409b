import lightning as L
import pytest
import torch
from lightning.pytorch.utilities.model_summary import ModelSummary
from torch.utils.data import DataLoader, TensorDataset

from lightning_hydra_template.config.builders import build
from lightning_hydra_template.data.loader_options import LoaderOptions
from lightning_hydra_template.errors import ConfigError
from lightning_hydra_template.models.classifier import ImageClassifier
from lightning_hydra_template.models.cnn import CNN
from lightning_hydra_template.models.mlp import MLP

from ..helpers import config_options, fashion_mnist_datamodule


def tiny_model(**kwargs) -> ImageClassifier:
    return ImageClassifier(MLP(1, 28, 10, hidden_sizes=[16]), num_classes=10, **kwargs)


def quiet_trainer(**kwargs) -> L.Trainer:
    """A CPU trainer that writes nothing and prints nothing."""
    return L.Trainer(
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        **kwargs,
    )


def fit_briefly(model: ImageClassifier, epochs: int = 2) -> L.Trainer:
    generator = torch.Generator().manual_seed(0)
    data = TensorDataset(torch.randn(24, 1, 28, 28, generator=generator), torch.arange(24) % 10)
    trainer = quiet_trainer(max_epochs=epochs, num_sanity_val_steps=0)
    trainer.fit(model, DataLoader(data, batch_size=8), DataLoader(data, batch_size=8))
    return trainer


@pytest.mark.parametrize("option", config_options("optimizer"))
def test_every_optimizer_updates_the_weights(compose_config, option):
    cfg = compose_config([f"optimizer={option}"])
    model = tiny_model(optimizer=build(cfg.optimizer))
    before = [p.detach().clone() for p in model.parameters()]
    fit_briefly(model, epochs=1)
    assert all(not torch.equal(a, b) for a, b in zip(before, model.parameters()))


SCHEDULER_OVERRIDES = {
    "step": ["scheduler.factory.step_size=1"],
    "plateau": ["scheduler.factory.patience=0", "scheduler.factory.threshold=1.0"],
}


@pytest.mark.parametrize("option", [o for o in config_options("scheduler") if o != "none"])
def test_every_scheduler_changes_the_learning_rate(compose_config, option):
    cfg = compose_config([f"scheduler={option}", "optimizer=sgd", *SCHEDULER_OVERRIDES.get(option, [])])
    model = tiny_model(optimizer=build(cfg.optimizer), scheduler=build(cfg.scheduler))
    trainer = fit_briefly(model)
    config = trainer.lr_scheduler_configs[0]
    assert config.interval == cfg.scheduler.interval
    assert trainer.optimizers[0].param_groups[0]["lr"] != pytest.approx(cfg.optimizer.lr)


def test_schedules_over_the_run_get_the_total_step_count(compose_config):
    cfg = compose_config(["scheduler=onecycle"])
    model = tiny_model(optimizer=build(cfg.optimizer), scheduler=build(cfg.scheduler))
    trainer = fit_briefly(model, epochs=2)
    assert trainer.lr_scheduler_configs[0].scheduler.total_steps == 2 * 3  # 2 epochs x 3 batches


def test_best_validation_accuracy_is_the_maximum_over_epochs():
    model = tiny_model(optimizer=lambda params: torch.optim.SGD(params, lr=0.0))
    trainer = fit_briefly(model, epochs=2)
    assert trainer.callback_metrics["val/acc_best"] >= trainer.callback_metrics["val/acc"]


def test_no_optimizer_is_a_clear_error():
    with pytest.raises(ValueError, match="optimizer"):
        fit_briefly(tiny_model())


def test_predictions_carry_class_names():
    model = tiny_model(class_names=[f"class {i}" for i in range(10)])
    out = model.predict_step((torch.randn(3, 1, 28, 28), torch.zeros(3)), 0)
    assert len(out["label"]) == 3 and all(label.startswith("class ") for label in out["label"])
    assert out["confidence"].le(1).all()


def test_channels_last_trains_and_compile_keeps_parameter_names():
    model = ImageClassifier(
        CNN(1, 28, 10, channels=[4]),
        num_classes=10,
        optimizer=lambda params: torch.optim.SGD(params, lr=0.1),
        channels_last=True,
    )
    names = set(model.state_dict())
    fit_briefly(model, epochs=1)
    assert model.net.features[0][0].weight.is_contiguous(memory_format=torch.channels_last)

    compiled = ImageClassifier(CNN(1, 28, 10, channels=[4]), num_classes=10, compile=True)
    compiled.configure_model()  # compiles lazily: nothing runs until the first forward
    assert set(compiled.state_dict()) == names  # checkpoints load into an uncompiled model


def test_the_model_summary_shows_shapes_and_flops_of_a_real_image(fake_data_dir):
    model = ImageClassifier(CNN(1, 28, 10, channels=[4]), num_classes=10, optimizer=torch.optim.SGD)
    datamodule = fashion_mnist_datamodule(fake_data_dir, loader=LoaderOptions(batch_size=16), val_size=100)
    quiet_trainer(max_steps=1, limit_val_batches=0).fit(model, datamodule=datamodule)

    assert model.example_input_array.shape == (1, 1, 28, 28)
    assert model.example_input_array.dtype == torch.uint8  # raw, prepared by the datamodule's hook
    summary = ModelSummary(model, max_depth=1)
    assert summary.total_flops > 0
    assert summary.in_sizes[0] == [1, 1, 28, 28] and summary.out_sizes[0] == [1, 10]


def test_the_number_of_classes_is_the_number_of_class_names():
    names = ["cat", "dog", "fox"]
    assert ImageClassifier(MLP(1, 28, 3, hidden_sizes=[4]), class_names=names).hparams.num_classes == 3
    with pytest.raises(ConfigError, match="leave num_classes out"):
        ImageClassifier(MLP(1, 28, 3, hidden_sizes=[4]), num_classes=4, class_names=names)


def test_the_configured_loss_trains_and_is_rebuilt_from_the_checkpoint(tmp_path):
    from lightning_hydra_template.loss.focal import FocalLoss

    focal = {"_target_": "lightning_hydra_template.loss.focal.FocalLoss", "gamma": 1.5, "class_weights": None}
    model = tiny_model(optimizer=lambda params: torch.optim.SGD(params, lr=0.1), loss=focal)
    assert isinstance(model.loss, FocalLoss) and model.loss.gamma == 1.5
    mlp = {"in_channels": 1, "image_size": 28, "num_classes": 10, "hidden_sizes": [16]}
    model.record_net_config({"_target_": "lightning_hydra_template.models.mlp.MLP", **mlp})
    trainer = fit_briefly(model, epochs=1)
    trainer.save_checkpoint(tmp_path / "focal.ckpt")

    loaded = ImageClassifier.load_from_checkpoint(tmp_path / "focal.ckpt", weights_only=True)
    assert isinstance(loaded.loss, FocalLoss) and loaded.loss.gamma == 1.5


def test_without_a_loss_the_classifier_trains_with_plain_cross_entropy():
    from lightning_hydra_template.loss.cross_entropy import CrossEntropy

    model = tiny_model()
    assert isinstance(model.loss, CrossEntropy) and model.loss.label_smoothing == 0.0
    assert model.loss.class_weights is None


def test_training_on_mixed_labels_takes_probabilities_and_scores_their_largest_share():
    generator = torch.Generator().manual_seed(0)
    images = torch.randn(16, 1, 28, 28, generator=generator)
    labels = torch.arange(16) % 10
    mixed = 0.7 * torch.nn.functional.one_hot(labels, 10) + 0.3 * torch.nn.functional.one_hot(
        labels.roll(1), 10
    )
    model = tiny_model(optimizer=lambda params: torch.optim.SGD(params, lr=0.0))
    with torch.no_grad():
        loss, logits = model._step((images, mixed.float()), model.train_metrics)
        expected = -(mixed * logits.log_softmax(dim=-1)).sum(dim=-1).mean()
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    accuracy = model.train_metrics.compute()["train/acc"]
    assert accuracy.item() == pytest.approx((logits.argmax(-1) == labels).float().mean().item())
