"""EMA: the averaged weights are what is validated, saved, tested, and loaded for export and serving."""

import lightning as L
import torch
from torch.utils.data import DataLoader, TensorDataset

from lightning_hydra_template.callbacks.ema import EMA
from lightning_hydra_template.inference.predictor import Predictor
from lightning_hydra_template.models.classifier import ImageClassifier
from lightning_hydra_template.models.mlp import MLP

DECAY = 0.5  # far from 1, so the average after a few steps differs clearly from the weights


class RecordWeights(L.Callback):
    """The network's weights after every optimizer step."""

    def __init__(self) -> None:
        self.steps: list[dict[str, torch.Tensor]] = []

    def on_train_batch_end(self, trainer, pl_module, *args) -> None:
        self.steps.append({k: v.detach().clone() for k, v in pl_module.net.state_dict().items()})


def by_hand(steps: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """torch's AveragedModel EMA: the first update copies, each later one blends in with 1 - decay."""
    average = dict(steps[0])
    for weights in steps[1:]:
        average = {k: DECAY * average[k] + (1 - DECAY) * weights[k] for k in average}
    return average


def trained(tmp_path) -> tuple[L.Trainer, ImageClassifier, RecordWeights]:
    torch.manual_seed(0)
    model = ImageClassifier(
        MLP(1, 28, 10, hidden_sizes=[16]),
        num_classes=10,
        optimizer=lambda params: torch.optim.SGD(params, lr=0.5),
        preprocessing={"channels": 1, "image_size": 28, "mean": [0.5], "std": [0.5]},
    )
    mlp = {"in_channels": 1, "image_size": 28, "num_classes": 10, "hidden_sizes": [16]}
    model.record_net_config({"_target_": "lightning_hydra_template.models.mlp.MLP", **mlp})
    data = TensorDataset(torch.randn(32, 1, 28, 28), torch.arange(32) % 10)
    recorder = RecordWeights()
    trainer = L.Trainer(
        accelerator="cpu",
        max_epochs=1,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        default_root_dir=tmp_path,
        callbacks=[EMA(decay=DECAY), recorder],
    )
    trainer.fit(model, DataLoader(data, batch_size=8), DataLoader(data, batch_size=8))
    return trainer, model, recorder


def test_the_checkpoint_holds_the_average_and_the_trained_weights_apart(tmp_path):
    trainer, _, recorder = trained(tmp_path)
    (path,) = (tmp_path / "checkpoints").glob("*.ckpt")
    checkpoint = torch.load(path, weights_only=True)

    average, last = by_hand(recorder.steps), recorder.steps[-1]
    for name in average:
        assert torch.allclose(checkpoint["state_dict"][f"net.{name}"], average[name], atol=1e-6)
        assert torch.equal(checkpoint["current_model_state"][f"net.{name}"], last[name])
    assert not torch.allclose(average["layers.1.weight"], last["layers.1.weight"])


def test_export_and_serving_load_the_averaged_weights(tmp_path):
    _, _, recorder = trained(tmp_path)
    (path,) = (tmp_path / "checkpoints").glob("*.ckpt")
    average = by_hand(recorder.steps)

    served = Predictor.from_checkpoint(path, device="cpu")  # what export.py and serve.py load
    for name, tensor in served.model.net.state_dict().items():
        assert torch.allclose(tensor, average[name], atol=1e-6)


def test_testing_the_checkpoint_after_fitting_scores_the_average_not_the_trained_weights(tmp_path):
    trainer, model, recorder = trained(tmp_path)
    (path,) = (tmp_path / "checkpoints").glob("*.ckpt")
    model.net.load_state_dict(recorder.steps[-1])  # as if the trained weights were back in place

    data = TensorDataset(torch.randn(8, 1, 28, 28), torch.arange(8) % 10)
    trainer.test(model, DataLoader(data, batch_size=8), ckpt_path=str(path), weights_only=True, verbose=False)

    average = by_hand(recorder.steps)
    for name, tensor in model.net.state_dict().items():
        assert torch.allclose(tensor, average[name], atol=1e-6)
