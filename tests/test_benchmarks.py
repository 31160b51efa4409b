"""The benchmark scripts still run, in their shortest form (their figures live in benchmarks/README.md)."""

import json
import re
import sys

import pytest

from .helpers import run


@pytest.mark.slow
def test_lightning_overhead_reports_each_loop_against_the_plain_one():
    result = run("benchmarks/lightning_overhead.py", "--rounds", "1", "--steps", "15")
    assert result.returncode == 0, result.stderr[-3000:]
    summary = [line for line in result.stdout.splitlines() if "plain/this" in line]
    assert [line.split("  ")[0] for line in summary] == [
        "plain loop",
        "Lightning, automatic optimization",
        "Lightning, manual optimization",
    ]
    assert summary[0].endswith("plain/this 1.000")


@pytest.mark.slow
def test_throughput_races_the_template_against_the_plain_loop(real_data_dir, tmp_path):
    rows_path = tmp_path / "rows.json"
    result = run(
        "benchmarks/throughput.py",
        *("--models", "mlp", "--batch-sizes", "512", "--pairs", "1", "--steps", "20"),
        *("--max-other-cpu", "1000", "--json", str(rows_path)),
        data_dir=real_data_dir,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (row,) = json.loads(rows_path.read_text())
    assert row["model"] == "mlp" and row["batch_size"] == 512 and row["pairs"] == 1
    assert row["ratio"] == pytest.approx(row["template_samples_per_s"] / row["plain_samples_per_s"])
    assert row["template_samples_per_s"] > 0 and row["plain_test_s"] > 0


@pytest.mark.slow
def test_throughput_races_a_case_of_overrides_resnet18_frozen_at_64_px(real_data_dir, tmp_path):
    rows_path = tmp_path / "rows.json"
    freeze = "model.freeze=[conv1,bn1,layer1,layer2,layer3,layer4]"
    case = f"resnet18:model=torchvision,model.net.weights=null,data.image_size=64,test=false,{freeze}"
    result = run(
        "benchmarks/throughput.py",
        *("--cases", case, "--batch-sizes", "8", "--pairs", "1", "--steps", "7"),
        *("--max-other-cpu", "1000", "--json", str(rows_path)),
        data_dir=real_data_dir,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (row,) = json.loads(rows_path.read_text())  # the case alone: no MLP, CNN, LSTM by default
    assert row["model"] == "resnet18" and row["batch_size"] == 8 and row["pairs"] == 1
    assert row["overrides"][-1] == freeze  # the list's commas stay inside its override
    assert row["ratio"] == pytest.approx(row["template_samples_per_s"] / row["plain_samples_per_s"])
    assert row["template_test_s"] is None and row["plain_test_s"] is None  # test=false in both


@pytest.mark.slow
def test_inference_races_eager_onnxruntime_and_torch_export(real_data_dir, tmp_path):
    rows_path = tmp_path / "inference.json"
    result = run(
        "benchmarks/inference.py",
        *("--images", "512", "--single-calls", "20", "--train-batches", "60", "--max-other-cpu", "1000"),
        *("--json", str(rows_path)),
        data_dir=real_data_dir,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "the same count for a fair race" in result.stdout
    report = json.loads(rows_path.read_text())
    assert report["images"] == 512 and report["threads"] >= 1
    rows = {(row["engine"], row["batch_size"]): row for row in report["rows"]}
    engines = ("eager", "onnxruntime", "torch.export")
    assert set(rows) == {(e, b) for e in engines for b in (1, 256)} | {("predict.py", 256)}
    for engine in engines:
        single, batched = rows[engine, 1], rows[engine, 256]
        assert single["calls"] == 3 * 20 and 0 < single["p50_ms"] <= single["p95_ms"]
        assert single["eager_over_this"] == pytest.approx(rows["eager", 1]["p50_ms"] / single["p50_ms"])
        assert batched["images_per_s"] > 0
        assert batched["eager_over_this"] == pytest.approx(
            batched["images_per_s"] / rows["eager", 256]["images_per_s"]
        )
        assert batched["top1_agree_with_eager"] == 1.0 and batched["max_abs_diff_vs_eager"] < 1e-4
    predicted = rows["predict.py", 256]
    assert predicted["images"] == 512 and predicted["process_s"] > 0 and predicted["startup_s"] > 0
    if predicted["images_per_s"] is not None:  # None when start-up jitter drowns 512 images
        assert predicted["eager_over_this"] == pytest.approx(
            predicted["images_per_s"] / rows["eager", 256]["images_per_s"]
        )
    # PNG is lossless, so predict.py sees the pixels eager saw: the same accuracy, whatever it is.
    assert predicted["accuracy"] > 0.5 or predicted["accuracy"] == pytest.approx(predicted["eager_accuracy"])
    assert predicted["accuracy"] == pytest.approx(rows["eager", 256]["accuracy"], abs=1 / 512)


@pytest.mark.slow
def test_streaming_measures_peak_memory_and_races_imagefolder(tmp_path):
    root = ("--root", str(tmp_path))
    peak = run("benchmarks/streaming.py", *root, "peak", "--sizes", "40", "--storages", "stream")
    assert peak.returncode == 0, peak.stderr[-3000:]
    row = next(line for line in peak.stdout.splitlines() if line.startswith("| 40 | 6 MB | stream |"))
    assert row.endswith("| 0 |")
    # Where the memory went: the main process, then each child (writers, loader workers) on its own.
    assert re.search(
        r"stream, 40 images: main process peak RSS \d+ MB, PSS \d+ MB, anonymous \d+ MB", peak.stdout
    )
    assert re.search(r"child processes, peak private MB \(alive from-to\): \d+ \(\d+-\d+ s\)", peak.stdout)
    race = run(
        "benchmarks/streaming.py",
        *root,
        "throughput",
        "--images",
        "64",
        "--rounds",
        "2",
        "--batch-size",
        "16",
    )
    assert race.returncode == 0, race.stderr[-3000:]
    assert "ImageFolder + DataLoader: median" in race.stdout and "stream (LitData): median" in race.stdout
    trained = run(
        "benchmarks/streaming.py", *root, "training", "--images", "64", "--rounds", "1", "--batches", "1",
        "--batch-size", "8",
    )  # fmt: skip
    assert trained.returncode == 0, trained.stderr[-3000:]
    for network in ("cnn", "resnet18, frozen backbone"):
        for loader in ("ImageFolder + DataLoader", "stream (LitData)"):
            assert f"{network}, {loader}: median " in trained.stdout
    costs = run("benchmarks/streaming.py", *root, "samples", "--images", "64", "--rounds", "1")
    assert costs.returncode == 0, costs.stderr[-3000:]
    for path in ("Pillow decode alone", "ImageFolder's sample", "stream's sample"):
        assert re.search(rf"{path}: median \d+ µs an image, runs \d+$", costs.stdout, re.MULTILINE), path


def test_time_to_accuracy_counts_the_first_validation_at_the_target():
    import importlib.util

    spec = importlib.util.spec_from_file_location("tta", "benchmarks/time_to_accuracy.py")
    sys.path.insert(0, "benchmarks")  # it imports throughput.py, its neighbour
    try:
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove("benchmarks")
    curve = [
        {"seconds": 10.0, "val_acc": 0.91},
        {"seconds": 20.0, "val_acc": 0.935},
        {"seconds": 30.0, "val_acc": 0.94},
    ]
    assert module.first_reaching(curve, 0.93) == 20.0
    assert module.first_reaching(curve, 0.95) is None


@pytest.mark.slow
def test_time_to_accuracy_races_a_recipe_against_the_reference_with_ablations(fake_data_dir, tmp_path):
    report_path = tmp_path / "tta.json"
    tiny = ["debug=fast", "trainer.max_epochs=2", "data.val_size=100", "model.net.channels=[4]"]
    result = run(
        "benchmarks/time_to_accuracy.py",
        *("--seeds", "2", "--target", "0.0", "--json", str(report_path)),
        *("--also", "experiment=cnn_best", "--ablate", "fp32:trainer.precision=32-true", "--extra", *tiny),
        data_dir=fake_data_dir,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = json.loads(report_path.read_text())
    reference, recipe = report["reference"], report["recipe"]
    assert reference["overrides"] == ["experiment=cnn_reference"] and recipe["overrides"] == [
        "experiment=cnn"
    ]
    assert [run["seed"] for run in recipe["runs"]] == [42, 43] and reference["fit_ratio"] == 1.0
    assert recipe["fit_ratio"] == pytest.approx(recipe["fit_s"] / reference["fit_s"])
    for run_ in recipe["runs"]:
        assert run_["epochs"] == 2 and 0.0 <= run_["test_acc"] <= 1.0
        assert run_["time_to_target_s"] == run_["validations"][0]["seconds"]  # any accuracy reaches 0 %
    assert recipe["test_acc_min"] <= recipe["test_acc_mean"] <= recipe["test_acc_max"]
    (best,) = report["also"]  # a second recipe, timed against the same reference runs
    assert best["overrides"] == ["experiment=cnn_best"] and [r["seed"] for r in best["runs"]] == [42, 43]
    assert best["fit_ratio"] == pytest.approx(best["fit_s"] / reference["fit_s"])
    (ablation,) = report["ablations"]
    assert ablation["name"] == "fp32" and ablation["overrides"] == ["trainer.precision=32-true"]
    assert ablation["fit_ratio"] == pytest.approx(ablation["fit_s"] / recipe["fit_s"])
    assert "| taken out of the recipe |" in result.stdout
