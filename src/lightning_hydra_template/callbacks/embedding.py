"""TensorBoard's Projector: the network's penultimate features of test images, with thumbnails."""

import logging
from typing import Any

import lightning as L
import torch
from torch import nn

from .display_images import display_images, shrunk
from .rank_gather import gather_rows
from .tensorboard_writer import has_tensorboard, tensorboard_writer

log = logging.getLogger(__name__)


def last_linear(net: nn.Module) -> nn.Linear | None:
    """The network's last `nn.Linear`: the classifier head of the MLP, CNN, LSTM and torchvision nets."""
    linears = [module for module in net.modules() if isinstance(module, nn.Linear)]
    return linears[-1] if linears else None


class Embedding(L.Callback):
    """After testing: the first `count` test images as points of their penultimate-layer features
    (the input of the last `nn.Linear`), each with its thumbnail and, as metadata, its true and
    predicted class (tag `test_features`).

    A forward pre-hook reads the features during the test pass itself: no extra forward pass.
    """

    def __init__(self, count: int = 500, thumbnail_size: int = 64) -> None:
        self.count, self.thumbnail_size = count, thumbnail_size
        self._hook: torch.utils.hooks.RemovableHandle | None = None
        self._features: torch.Tensor | None = None
        self._kept: dict[str, list[torch.Tensor]] = {}

    def on_test_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._kept = {"features": [], "image": [], "label": [], "predicted": []}
        layer = last_linear(getattr(pl_module, "net", pl_module))
        if layer is None or not has_tensorboard(trainer):
            if layer is None:
                log.debug("No embedding in TensorBoard: the network has no nn.Linear layer.")
            return
        self._hook = layer.register_forward_pre_hook(self._keep_input)

    def _keep_input(self, module: nn.Module, args: tuple) -> None:
        self._features = args[0]

    def on_test_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, *args: Any
    ) -> None:
        if self._hook is None or self._features is None or not isinstance(outputs, torch.Tensor):
            return
        wanted = self.count - sum(len(labels) for labels in self._kept["label"])
        images, labels = batch[0][:wanted], batch[1][:wanted]
        # The batch's own images come first: with flip TTA the network also saw their mirror images.
        features = self._features[: len(batch[1])]
        self._kept["features"].append(features[:wanted].flatten(1).float())
        self._kept["image"].append(shrunk(images, self.thumbnail_size))
        self._kept["label"].append(labels)
        self._kept["predicted"].append(outputs[:wanted].argmax(dim=-1))
        self._features = None
        if wanted <= len(labels):
            self._remove_hook()

    def on_test_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._remove_hook()
        if not self._kept.get("label"):
            return
        kept = {k: gather_rows(pl_module, torch.cat(v))[: self.count] for k, v in self._kept.items()}
        self._kept = {}
        writer = tensorboard_writer(trainer)
        if writer is None:
            return
        names = pl_module.class_names
        pairs = zip(kept["label"].tolist(), kept["predicted"].tolist())
        writer.add_embedding(
            kept["features"].cpu(),
            metadata=[[names[label], names[predicted]] for label, predicted in pairs],
            metadata_header=["label", "predicted"],
            label_img=display_images(kept["image"], trainer).float() / 255,
            global_step=trainer.global_step,
            tag="test_features",
        )

    def on_test_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._remove_hook()

    def on_exception(
        self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException
    ) -> None:
        self._remove_hook()

    def _remove_hook(self) -> None:
        if self._hook is not None:
            self._hook.remove()
            self._hook = None
        self._features = None
