"""The LightningModule: any image network, trained with the configured loss, scored with torchmetrics."""

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import lightning as L
import torch
from torch import nn
from torch.optim import Optimizer
from torchmetrics import MaxMetric, MetricCollection
from torchmetrics.classification import MulticlassAccuracy, MulticlassF1Score

from ..errors import ConfigError, DivergedError
from ..loss.cross_entropy import CrossEntropy
from ..optim.lr_schedule import LRSchedule, check_schedule_covers_run
from ..optim.param_groups import apply_lr_multipliers, param_groups
from .flip_tta import flip_averaged_log_probabilities


def _stage_metrics(num_classes: int, stage: str) -> MetricCollection:
    return MetricCollection(
        {
            # validate_args=False: inputs are the model's own logits and labels; checking costs time.
            "acc": MulticlassAccuracy(num_classes, average="micro", validate_args=False),
            "f1": MulticlassF1Score(num_classes, average="macro", validate_args=False),
        },
        prefix=f"{stage}/",
    )


def freeze_parameters(net: nn.Module, prefixes: Sequence[str]) -> None:
    """Stop training the parameters under each module name in `prefixes` (`layer1`, `features.0`)."""
    names = [name for name, _ in net.named_parameters()]
    unmatched = [p for p in prefixes if not any(n == p or n.startswith(p + ".") for n in names)]
    if unmatched:
        children = ", ".join(name for name, _ in net.named_children())
        raise ConfigError(
            f"model.freeze names {unmatched}, which own no parameters; use module names: {children}."
        )
    for name, param in net.named_parameters():
        if any(name == p or name.startswith(p + ".") for p in prefixes):
            param.requires_grad_(False)


def _class_count(num_classes: int | None, class_names: Sequence[str] | None) -> int:
    if class_names is None:
        if num_classes is None:
            raise ConfigError("ImageClassifier needs class_names (model.class_names) or num_classes.")
        return int(num_classes)
    if num_classes is not None and int(num_classes) != len(class_names):
        raise ConfigError(
            f"model.num_classes={num_classes} but model.class_names names {len(class_names)} classes; "
            "leave num_classes out: it is the number of class names."
        )
    return len(class_names)


def _built(part: Any, record: Callable[[Mapping[str, Any]], None]) -> Any:
    """`part` (the network, the loss) as a module: given as the config a checkpoint recorded, that
    config is recorded again (`record`) and built; a module already built is used as it is."""
    if not isinstance(part, Mapping):
        return part
    from hydra.utils import instantiate

    record(part)
    return instantiate(dict(part))


class ImageClassifier(L.LightningModule):
    """Wraps an injected `net`; the loss, optimizer and LR schedule arrive from config.

    Checkpoints describe themselves in plain values (they load with torch's `weights_only=True`):
    the network's and the loss's configs (`builders.build_model` records them), the class names and
    the evaluation preprocessing, so `ImageClassifier.load_from_checkpoint("best.ckpt")` works in
    any process. `net` and `loss` are then those configs, built here with `hydra.utils.instantiate`.
    Without a loss it is plain cross-entropy.
    """

    def __init__(
        self,
        net: nn.Module | Mapping[str, Any],
        num_classes: int | None = None,
        optimizer: Callable[..., Optimizer] | None = None,
        scheduler: LRSchedule | None = None,
        decay_norm_and_bias: bool = False,
        lr_multipliers: Mapping[str, float] | None = None,
        class_names: Sequence[str] | None = None,
        compile: bool = False,
        channels_last: bool = False,
        preprocessing: Mapping[str, Any] | None = None,
        freeze: Sequence[str] = (),
        loss: nn.Module | Mapping[str, Any] | None = None,
        test_flip_tta: bool = False,
    ) -> None:
        super().__init__()
        # The class names decide the count; a bare count is for networks trained on unnamed labels.
        num_classes = _class_count(num_classes, class_names)
        self.save_hyperparameters(
            {
                "num_classes": int(num_classes),
                "decay_norm_and_bias": bool(decay_norm_and_bias),
                "lr_multipliers": {str(k): float(v) for k, v in (lr_multipliers or {}).items()},
                "class_names": [str(n) for n in class_names] if class_names else None,
                "compile": bool(compile),
                "channels_last": bool(channels_last),
                # How evaluation prepares an image (set from the datamodule when fitting).
                "preprocessing": dict(preprocessing) if preprocessing else None,
                "freeze": [str(prefix) for prefix in freeze],
                "test_flip_tta": bool(test_flip_tta),
            },
            logger=False,  # the train task logs the whole config to the HParams tab itself
        )
        net = _built(net, self.record_net_config)
        loss = _built(loss, self.record_loss_config)
        self.net = net
        self.loss = loss if loss is not None else CrossEntropy()
        self.test_flip_tta = test_flip_tta
        freeze_parameters(net, freeze)
        self.optimizer_factory = optimizer
        self.lr_schedule = scheduler
        self.decay_norm_and_bias = decay_norm_and_bias
        self.lr_multipliers = dict(lr_multipliers or {})
        self.class_names = list(class_names) if class_names else [str(i) for i in range(num_classes)]
        self.compile_net = compile
        self.channels_last = channels_last
        self._add_metrics(num_classes)
        self.register_buffer("train_loss_sum", torch.zeros(()), persistent=False)
        self.train_loss_steps = 0
        self._compiled = False

    def _add_metrics(self, num_classes: int) -> None:
        # One metric object per stage: states must not mix between train, val and test.
        self.train_metrics = _stage_metrics(num_classes, "train")
        self.val_metrics = _stage_metrics(num_classes, "val")
        self.test_metrics = _stage_metrics(num_classes, "test")
        self.test_class_acc = MulticlassAccuracy(num_classes, average="none")
        self.val_acc_best = MaxMetric()
        self.val_acc_best.persistent(True)  # saved in checkpoints, so a resumed run keeps its best

    @classmethod
    def from_checkpoint(cls, checkpoint: Mapping[str, Any]) -> "ImageClassifier":
        """The model a checkpoint already read (`checkpoints.file.load_checkpoint`) describes, with its
        weights: `load_from_checkpoint` without reading the file again."""
        model = cls(**checkpoint["hyper_parameters"])
        model.load_state_dict(checkpoint["state_dict"])
        return model

    def record_net_config(self, config: Mapping[str, Any]) -> None:
        """Keep the network's resolved config (`_target_` and arguments) in every checkpoint."""
        self.hparams["net"] = dict(config)

    def record_loss_config(self, config: Mapping[str, Any]) -> None:
        """Keep the loss's resolved config (class weights as a list) in every checkpoint."""
        self.hparams["loss"] = dict(config)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images)

    def on_train_epoch_start(self) -> None:
        self.train()  # Lightning keeps modules in the mode they are in: frozen norms are set here

    def train(self, mode: bool = True) -> "ImageClassifier":
        """Training mode, except for frozen batch-norm layers: their running statistics stay as they are."""
        super().train(mode)
        if mode:
            for module in self.net.modules():
                params = list(module.parameters(recurse=False))
                if isinstance(module, nn.modules.batchnorm._BatchNorm) and params:
                    module.train(any(p.requires_grad for p in params))
        return self

    def setup(self, stage: str) -> None:
        datamodule = self.trainer.datamodule if self._trainer else None
        if getattr(datamodule, "preprocess", None) is not None:
            self.hparams["preprocessing"] = datamodule.preprocess.describe()
        # A real input lets the model summary show each layer's shapes and FLOPs. Not for a
        # compiled net: one image would compile it once more, for batch size 1.
        if hasattr(datamodule, "example_images") and not self.compile_net:
            self.example_input_array = datamodule.example_images()

    def configure_model(self) -> None:
        if self.channels_last:
            self.net.to(memory_format=torch.channels_last)
        if self.compile_net and not self._compiled:
            # In place: parameter names, and so checkpoints, stay those of the plain network.
            self.net.compile()
            self._compiled = True

    def on_train_start(self) -> None:
        if self.trainer.ckpt_path is None:
            self.val_acc_best.reset()  # forget the sanity check of untrained weights
        check_schedule_covers_run(self.trainer)

    def _step(
        self, batch: tuple[torch.Tensor, torch.Tensor], metrics: MetricCollection, flip_tta: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor]:
        images, labels = batch
        if self.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        logits = flip_averaged_log_probabilities(self.net, images) if flip_tta else self.net(images)
        loss = self.loss(logits, labels)
        # Mixup and cutmix hand over class probabilities: the metrics score their largest share.
        metrics.update(logits.detach(), labels.argmax(dim=-1) if labels.ndim == 2 else labels)
        return loss, logits

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        loss, _ = self._step(batch, self.train_metrics)
        # A running sum on the device instead of self.log every step: self.log costs more than a
        # small network's whole step, and a per-step value is only read every few steps anyway.
        self.train_loss_sum += loss.detach()
        self.train_loss_steps += 1
        # The steps Lightning writes to the loggers: the value is read there anyway, so checking it
        # adds no host-device sync, and a resumed run logs the same steps as an uninterrupted one.
        if (self.global_step + 1) % self.trainer.log_every_n_steps == 0:
            self._stop_if_diverged(loss, f"batch {batch_idx}")
            self.log("train/loss_step", loss, on_step=True, on_epoch=False, prog_bar=True)
        return loss

    def _stop_if_diverged(self, loss: torch.Tensor, where: str) -> None:
        if not torch.isfinite(loss):
            raise DivergedError(
                f"Training diverged: the loss is {loss.item()} at epoch {self.current_epoch}, {where} "
                f"(step {self.global_step}). Lower the learning rate (optimizer.lr) or clip gradients "
                "(trainer.gradient_clip_val=1.0); no checkpoint holds the diverged weights."
            )

    # Both return the batch's logits: callbacks (confusion matrix, misclassified images) read them
    # in on_*_batch_end instead of running the network again.
    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        loss, logits = self._step(batch, self.val_metrics)
        self.log("val/loss", loss, on_epoch=True, prog_bar=True, batch_size=len(batch[1]), sync_dist=True)
        return logits

    def test_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        loss, logits = self._step(batch, self.test_metrics, flip_tta=self.test_flip_tta)
        self.test_class_acc.update(logits, batch[1])
        self.log("test/loss", loss, on_epoch=True, batch_size=len(batch[1]), sync_dist=True)
        return logits

    def predict_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> dict:
        probabilities = self.net(batch[0]).softmax(dim=-1)
        confidence, index = probabilities.max(dim=-1)
        return {
            "index": index,
            "confidence": confidence,
            "label": [self.class_names[i] for i in index.tolist()],
        }

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Never save a diverged network: not as best.ckpt, not as last.ckpt."""
        bad = [name for name, tensor in self.net.state_dict().items() if not torch.isfinite(tensor).all()]
        if bad:
            raise DivergedError(
                f"Training diverged: {len(bad)} weight tensors of the network are not finite "
                f"(first: {bad[0]}), so no checkpoint was written. Lower the learning rate (optimizer.lr) "
                "or clip gradients "
                "(trainer.gradient_clip_val=1.0)."
            )

    # Metrics accumulate per step and are computed once per epoch: no per-step sync or .item().
    # compute() already gathers every process's state; sync_dist=True then averages equal values,
    # which keeps Lightning from warning that epoch-level values are not synchronised.
    def on_train_epoch_end(self) -> None:
        mean_loss = self.train_loss_sum / max(self.train_loss_steps, 1)
        self._stop_if_diverged(mean_loss, "mean of the epoch")
        self.log("train/loss", mean_loss, sync_dist=True)
        self.train_loss_sum.zero_()
        self.train_loss_steps = 0
        self.log_dict(self.train_metrics.compute(), sync_dist=True)
        self.train_metrics.reset()

    def epoch_metrics(self) -> list[str]:
        """The names this module logs once per training or validation epoch: what a callback, a
        scheduler or a sweep can monitor (checked before training, not after an epoch)."""
        stages = [*self.train_metrics.keys(), *self.val_metrics.keys()]
        return sorted({*stages, "train/loss", "val/loss", "val/acc_best"})

    def on_validation_epoch_end(self) -> None:
        values = self.val_metrics.compute()
        self.val_metrics.reset()
        self.val_acc_best.update(values["val/acc"])
        self.log_dict(values, prog_bar=True, sync_dist=True)
        self.log("val/acc_best", self.val_acc_best.compute(), sync_dist=True)

    def on_test_epoch_end(self) -> None:
        self.log_dict(self.test_metrics.compute(), sync_dist=True)
        self.test_metrics.reset()
        per_class = self.test_class_acc.compute()
        self.test_class_acc.reset()
        self.log_dict(
            {f"test/acc/{name}": acc for name, acc in zip(self.class_names, per_class)}, sync_dist=True
        )

    def configure_optimizers(self) -> Optimizer | dict:
        if self.optimizer_factory is None:
            raise ConfigError(
                "ImageClassifier needs an optimizer to train; pass optimizer=... (config group optimizer/)."
            )
        groups = param_groups(self.net, self.decay_norm_and_bias, self.lr_multipliers)
        optimizer = self.optimizer_factory(groups)
        apply_lr_multipliers(optimizer)
        if self.lr_schedule is None:
            return optimizer
        schedule = self.lr_schedule.build(optimizer, self.trainer.estimated_stepping_batches)
        return {"optimizer": optimizer, "lr_scheduler": schedule}
