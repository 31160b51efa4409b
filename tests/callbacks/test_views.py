"""What the model learned, shown: TensorBoard views and run-folder files from a real (short) run."""

import logging
import re
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from lightning.pytorch.loggers import TensorBoardLogger
from PIL import Image
from torch import nn

from lightning_hydra_template.callbacks.model_graph import ModelGraph
from lightning_hydra_template.callbacks.sample_images import SampleImages
from lightning_hydra_template.config.builders import build_each
from lightning_hydra_template.models.classifier import ImageClassifier
from lightning_hydra_template.models.cnn import CNN
from lightning_hydra_template.tasks.train import train

VIEWS = {
    "sample_images": "SampleImages",
    "model_graph": "ModelGraph",
    "confusion_matrix": "ConfusionMatrix",
    "misclassified": "Misclassified",
    "pr_curves": "PRCurves",
    "embedding": "Embedding",
    "learning_curves": "LearningCurves",
}
FILES = ["confusion_matrix.png", "misclassified.png", "curves.png", "per_class.csv"]
SMALL_CNN = ["experiment=cnn", "model.net.channels=[8,16]", "model.net.hidden_size=16"]


def tensorboard_tags(run_dir: Path) -> dict:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run_dir / "tensorboard"))
    events.Reload()
    return events.Tags()


def test_a_run_leaves_every_view_in_tensorboard_and_the_files_in_its_folder(compose_config):
    # The CNN as configured: channels-last, crops and flips, two epochs.
    summary = train(compose_config([*SMALL_CNN, "trainer.max_epochs=2"]))
    run_dir = Path(summary["run_dir"])
    for name in FILES[:3]:
        with Image.open(run_dir / name) as image:
            assert image.format == "PNG" and min(image.size) > 100, name
    rows = (run_dir / "per_class.csv").read_text().splitlines()
    assert rows[0] == "class,precision,recall,f1,support"
    assert [row.split(",")[0] for row in rows[1:]] == summary["class_names"]
    assert sum(int(row.rsplit(",", 1)[1]) for row in rows[1:]) == 100  # every fake test image

    tags = tensorboard_tags(run_dir)
    assert set(tags["images"]) == {
        "samples/train",
        "confusion_matrix/val",
        "confusion_matrix/test",
        "misclassified/test",
    }
    assert sorted(tags["tensors"]) == sorted(f"pr_curve/{name}" for name in summary["class_names"])
    assert tags["graph"]
    config = (run_dir / "tensorboard" / "projector_config.pbtxt").read_text()
    assert "metadata.tsv" in config and "sprite.png" in config
    metadata = next((run_dir / "tensorboard").rglob("metadata.tsv")).read_text().splitlines()
    assert metadata[0] == "label\tpredicted" and len(metadata) == 1 + 100


def test_curves_hold_every_epoch_of_train_and_val(compose_config):
    summary = train(compose_config(["experiment=mlp", "model.net.hidden_sizes=[16]", "trainer.max_epochs=2"]))
    state = torch.load(Path(summary["run_dir"]) / "checkpoints" / "last.ckpt")["callbacks"]
    history = state["LearningCurves"]["history"]
    assert sorted(history) == [0, 1]
    # The last epoch's training values are read at the end of training, after the checkpoint.
    assert set(history[0]) == {"train/loss", "train/acc", "val/loss", "val/acc"}
    assert history[1]["val/acc"] == pytest.approx(summary["metrics"]["val/acc"])


def test_with_the_csv_logger_alone_the_views_skip_quietly_and_the_files_are_written(
    compose_config, caplog, recwarn
):
    caplog.set_level(logging.WARNING)
    summary = train(compose_config(["experiment=mlp", "model.net.hidden_sizes=[16]", "logger=csv"]))
    run_dir = Path(summary["run_dir"])
    assert summary["status"] == "completed"
    assert all((run_dir / name).is_file() for name in FILES)
    assert not (run_dir / "tensorboard").exists()
    assert not [r for r in caplog.records if "callbacks" in r.name]
    assert not [w for w in recwarn if "lightning_hydra_template/callbacks" in (w.filename or "")]


@pytest.mark.parametrize("callbacks", ["default", "finetune"])
def test_every_view_is_on_by_default_and_off_with_null(compose_config, callbacks):
    views = set(VIEWS.values())
    built = {type(c).__name__ for c in build_each(compose_config([f"callbacks={callbacks}"]).callbacks)}
    assert built >= views
    for key, name in VIEWS.items():
        cfg = compose_config([f"callbacks={callbacks}", f"callbacks.{key}=null"])
        built = {type(c).__name__ for c in build_each(cfg.callbacks)}
        assert built & views == views - {name}, key


def test_views_turned_off_leave_no_files_and_no_pictures(compose_config):
    off = [f"callbacks.{key}=null" for key in VIEWS]
    summary = train(compose_config(["experiment=mlp", "model.net.hidden_sizes=[16]", *off]))
    run_dir = Path(summary["run_dir"])
    assert not [name for name in FILES if (run_dir / name).exists()]
    tags = tensorboard_tags(run_dir)
    assert not tags["images"] and not tags["tensors"] and not tags["graph"]
    assert not (run_dir / "tensorboard" / "projector_config.pbtxt").exists()


def graph_writer(tmp_path: Path) -> SimpleNamespace:
    """Just enough of a trainer for the first-batch views: rank zero, one TensorBoard logger."""
    logger = TensorBoardLogger(tmp_path, name="", version="")
    return SimpleNamespace(is_global_zero=True, loggers=[logger], global_step=0, datamodule=None)


def test_the_first_batch_views_leave_the_network_and_the_random_state_as_they_were(tmp_path):
    # Dropout draws random numbers in training mode: a trace in that mode would show in the state.
    net = CNN(1, 28, 10, channels=[4, 8], hidden_size=16, dropout=0.5)
    model = ImageClassifier(net, num_classes=10, freeze=["features"]).train()
    model.net.compile()  # lazy: nothing compiles unless the net is called
    compiled = model.net._compiled_call_impl
    modes = {name: module.training for name, module in model.net.named_modules()}
    assert not modes["features.0.1"]  # a frozen batch norm keeps its statistics: eval mode

    trainer = graph_writer(tmp_path)
    batch = (torch.randn(4, 1, 28, 28), torch.zeros(4, dtype=torch.long))
    random_state = torch.get_rng_state()
    for view in (ModelGraph(), SampleImages()):
        view.on_train_batch_start(trainer, model, batch, 0)
    # Nothing drawn from the generator the batch's dropout draws next: exact resumes stay exact.
    assert torch.equal(torch.get_rng_state(), random_state)
    assert {name: module.training for name, module in model.net.named_modules()} == modes
    assert model.net._compiled_call_impl is compiled
    trainer.loggers[0].experiment.flush()
    events = b"".join(p.read_bytes() for p in tmp_path.glob("events.*"))
    assert re.search(rb"Conv2d", events) and b"samples/train" in events


class DictOutput(nn.Module):
    """A network the tracer refuses in strict mode: it returns a dict."""

    def forward(self, images: torch.Tensor) -> dict:
        return {"logits": images.flatten(1)}


def test_a_network_that_cannot_be_traced_is_skipped_with_a_debug_message(tmp_path, caplog):
    caplog.set_level(logging.DEBUG, logger="lightning_hydra_template.callbacks.model_graph")
    module = SimpleNamespace(net=DictOutput(), channels_last=False)
    ModelGraph().on_train_batch_start(graph_writer(tmp_path), module, (torch.randn(2, 1, 4, 4), None), 0)
    assert "No model graph in TensorBoard: tracing DictOutput failed" in caplog.text
