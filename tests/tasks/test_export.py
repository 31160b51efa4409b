"""export.py: ONNX and torch.export models that take uint8 pixels, checked against PyTorch."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from lightning_hydra_template.data.image_files import DECODING
from lightning_hydra_template.errors import StorageError
from lightning_hydra_template.tasks import export as export_module
from lightning_hydra_template.tasks.export import ParityError, export
from lightning_hydra_template.tasks.train import train

from ..helpers import fill, save_hydra_config

SMALL = {
    "mlp": ["model.net.hidden_sizes=[32]"],
    "cnn": ["model.net.channels=[8,16]", "model.net.hidden_size=16"],
    "lstm": ["model.net.hidden_size=16"],
}


def trained(compose_config, experiment: str) -> Path:
    cfg = compose_config([f"experiment={experiment}", *SMALL[experiment]])
    save_hydra_config(cfg)  # the run folder's config: parity is checked on its test images
    return Path(train(cfg)["best_checkpoint"])


def export_with(compose_config, checkpoint: Path, *overrides: str) -> dict:
    cfg = compose_config([f"ckpt_path={checkpoint}", *overrides], "export", fast=False)
    return export(cfg)


@pytest.mark.parametrize(
    ("experiment", "fmt"),
    [
        ("cnn", "onnx"),
        pytest.param("cnn", "torch", marks=pytest.mark.slow),
        pytest.param("mlp", "onnx", marks=pytest.mark.slow),
        pytest.param("lstm", "onnx", marks=pytest.mark.slow),
        pytest.param("lstm", "torch", marks=pytest.mark.slow),
    ],
)
def test_each_network_exports_and_passes_its_parity_check(compose_config, experiment, fmt):
    checkpoint = trained(compose_config, experiment)
    result = export_with(compose_config, checkpoint, f"format={fmt}")
    assert Path(result["output"]) == checkpoint.parent.parent / f"model.{'onnx' if fmt == 'onnx' else 'pt2'}"
    assert result["max_abs_diff"] <= 1e-4 and result["top1_agree"] == result["parity_images"] == 100


def test_the_onnx_model_takes_uint8_pixels_of_any_batch_and_names_its_classes(compose_config):
    import onnx
    import onnxruntime

    path = Path(export_with(compose_config, trained(compose_config, "cnn"))["output"])
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    [images] = session.get_inputs()
    assert (images.name, images.type) == ("images", "tensor(uint8)")
    for batch in (1, 5):
        pixels = np.random.default_rng(0).integers(0, 256, (batch, 1, 28, 28), dtype=np.uint8)
        [probabilities] = session.run(["probabilities"], {"images": pixels})
        assert probabilities.shape == (batch, 10) and np.allclose(probabilities.sum(-1), 1, atol=1e-5)
    metadata = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert json.loads(metadata["class_names"])[9] == "Ankle boot" and metadata["image_size"] == "28"
    assert metadata["decoding"] == DECODING and "BILINEAR" in metadata["decoding"]  # how to feed it


def test_a_tampered_export_fails_its_parity_check_and_is_not_kept(compose_config, monkeypatch):
    import onnx
    from onnx import numpy_helper

    real_write = export_module.write_onnx

    def write_then_tamper(module, example, output, metadata):
        runner = real_write(module, example, output, metadata)
        model = onnx.load(str(output))
        weights = next(t for t in model.graph.initializer if t.data_type == onnx.TensorProto.FLOAT and t.dims)
        weights.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(weights) + 0.5, weights.name))
        onnx.save(model, str(output))
        return runner

    monkeypatch.setattr(export_module, "write_onnx", write_then_tamper)
    checkpoint = trained(compose_config, "cnn")
    with pytest.raises(ParityError, match="disagrees with PyTorch"):
        export_with(compose_config, checkpoint)
    assert not list(checkpoint.parent.parent.glob("*model*"))  # neither model.onnx nor the unchecked file


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_an_exported_model_that_outputs_nan_or_infinity_fails_the_parity_check(bad):
    expected = torch.full((4, 10), 0.1)
    actual = expected.clone()
    actual[2] = bad  # argmax of a NaN row still agrees: only the difference tells
    with pytest.raises(ParityError, match="max \\|diff\\| (nan|inf)"):
        export_module.check_parity(expected, actual, max_abs_diff=1e-4)


@pytest.mark.parametrize("fmt", ["onnx", "torch"])
def test_a_full_disk_is_one_line_naming_the_file_and_leaves_nothing(compose_config, small_file_system, fmt):
    checkpoint = trained(compose_config, "cnn")
    disk = small_file_system("1m")
    fill(disk)
    output = disk / f"model{export_module.SUFFIX[fmt]}"
    with pytest.raises(StorageError, match=f"Could not write .*{disk}.*No space left on device") as raised:
        export_with(compose_config, checkpoint, f"format={fmt}", f"output={output}")
    assert "\n" not in str(raised.value)
    assert sorted(p.name for p in disk.iterdir()) == ["filler"]  # no model, no temporary file


def test_the_torch_program_loads_and_matches(compose_config, tmp_path):
    checkpoint = trained(compose_config, "cnn")
    result = export_with(compose_config, checkpoint, "format=torch", f"output={tmp_path / 'm.pt2'}")
    extra = {"class_names.txt": "", "image_size.txt": "", "channels.txt": "", "decoding.txt": ""}
    program = torch.export.load(result["output"], extra_files=extra).module()
    assert program(torch.zeros(3, 1, 28, 28, dtype=torch.uint8)).shape == (3, 10)
    assert extra["decoding.txt"] == DECODING and extra["image_size.txt"] == "28"


@pytest.mark.slow
def test_export_from_the_command_line_prints_its_parity_figures(compose_config, tmp_path):
    from ..helpers import run

    checkpoint = trained(compose_config, "cnn")
    result = run("export.py", f"ckpt_path={checkpoint}", f"output={tmp_path / 'model.onnx'}")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "parity on 100 images: max |diff|" in result.stdout + result.stderr
    assert (tmp_path / "model.onnx").is_file()


def test_a_model_trained_on_streamed_photos_exports_and_predicts_with_their_resize_and_crop(
    compose_config, csv_dataset
):
    from PIL import Image

    from lightning_hydra_template.data.image_files import to_channels_and_size
    from lightning_hydra_template.inference.onnx_predictor import OnnxPredictor
    from lightning_hydra_template.inference.predictor import Predictor

    cfg = compose_config(["experiment=csv_cnn", "data.storage=stream", "data.loader.num_workers=0",
                          "data.image_size=16", *SMALL["cnn"]])  # fmt: skip
    save_hydra_config(cfg)
    checkpoint = Path(train(cfg)["best_checkpoint"])
    predictor = Predictor.from_checkpoint(checkpoint, device="cpu")
    assert predictor.resize == 18  # data.eval_resize=null: 16 / 0.875
    photo = csv_dataset.parent / "images" / "fox9.jpg"  # 47 x 28 px: the crop is not the squeezed whole
    with Image.open(photo) as image:
        expected = torch.tensor(to_channels_and_size(image, 3, 16, resize=18))
        squeezed = torch.tensor(to_channels_and_size(image, 3, 16))
    assert torch.equal(predictor.to_pixels(photo), expected) and not torch.equal(expected, squeezed)

    result = export_with(compose_config, checkpoint)  # parity on the run's streamed test images
    assert result["top1_agree"] == result["parity_images"]
    exported = OnnxPredictor.from_file(result["output"])
    assert exported.resize == 18 and torch.equal(exported.to_pixels(photo), expected)
