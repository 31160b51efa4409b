"""Inference speed of a trained model: PyTorch eager against its ONNX and torch.export forms, and predict.py.

    DATA_DIR=../shared/data python benchmarks/inference.py                # trains a 1-epoch CNN first
    DATA_DIR=../shared/data python benchmarks/inference.py --ckpt-path <run>/checkpoints/best.ckpt
    DATA_DIR=../shared/data python benchmarks/inference.py --images 512 --single-calls 20   # quick check

Without --ckpt-path, `train.py experiment=cnn trainer.max_epochs=1` trains the model in a temporary
folder. `export.py` then writes `model.onnx` and `model.pt2` there, as a user gets them. On the
FashionMNIST test images (uint8, as the exported models take them) three engines run the same
network: eager PyTorch (`PixelsToProbabilities`, what export.py exports), onnxruntime on
`model.onnx` and the `torch.export.load`ed `model.pt2`, in rounds that rotate their order. Batch 1
gives latency percentiles, --batch-size the images/s over all test images; each figure is printed
with eager/this, the eager time over this engine's time (> 1: faster than eager). Last, `predict.py`
classifies the same images from PNG files on disk, end to end. Torch and onnxruntime get the same
number of intra-op threads (--threads). A round in which other processes used more than
--max-other-cpu CPU seconds is repeated (up to --retries times), then flagged. See benchmarks/README.md.
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch

from lightning_hydra_template.config.project import export_project_root
from lightning_hydra_template.inference.exportable import PixelsToProbabilities
from lightning_hydra_template.inference.predictor import Predictor

ROOT = Path(__file__).resolve().parents[1]
WARMUP_CALLS = 20  # single-image calls before timing: first calls allocate and pick kernels
TRAIN_OVERRIDES = ("experiment=cnn", "trainer.max_epochs=1", "test=false")
STARTUP_RUNS = 3  # one-image predict.py runs; their median is the start-up

Engine = Callable[[Any], Any]
T = TypeVar("T")


def cpu_jiffies() -> int:
    """All CPU time the machine has spent busy, in clock ticks (Linux /proc/stat)."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, idle, iowait, irq, softirq, steal = (int(x) for x in fields[:8])
    return user + nice + system + irq + softirq + steal


def own_cpu_seconds() -> float:
    """CPU time of this process and its finished children (the train, export and predict runs)."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return total


def run_logged(command: list[str], log: Path, env: dict[str, str]) -> float:
    """Run `command` from the project root, output to `log`; return its wall time in seconds."""
    with open(log, "w") as out:
        started = time.perf_counter()
        result = subprocess.run(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        wall = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{log.read_text()[-3000:]}")
    return wall


def train_checkpoint(tmp: Path, env: dict[str, str], train_batches: int | None) -> Path:
    """A 1-epoch CNN on the real data; its test stage is skipped, this benchmark tests it."""
    run_dir = tmp / "train"
    command = [
        sys.executable, "train.py", *TRAIN_OVERRIDES, "logger=csv", f"hydra.run.dir={run_dir}",
    ]  # fmt: skip
    if train_batches:
        command.append(f"trainer.limit_train_batches={train_batches}")
    print(f"training: {' '.join(command[1:])}", flush=True)
    wall = run_logged(command, tmp / "train.log", env)
    print(f"  trained in {wall:.0f} s", flush=True)
    return run_dir / "checkpoints" / "best.ckpt"


def export_models(checkpoint: Path, tmp: Path, env: dict[str, str]) -> dict[str, Path]:
    """model.onnx and model.pt2 written by export.py, parity-checked as a user gets them."""
    outputs = {"onnx": tmp / "model.onnx", "torch": tmp / "model.pt2"}
    for fmt, output in outputs.items():
        command = [
            sys.executable, "export.py", f"ckpt_path={checkpoint}", f"format={fmt}", f"output={output}",
            f"hydra.run.dir={tmp / f'export_{fmt}'}",
        ]  # fmt: skip
        wall = run_logged(command, tmp / f"export_{fmt}.log", env)
        print(f"exported {output.name} in {wall:.1f} s", flush=True)
    return outputs


def fashion_mnist_test(data_dir: str, limit: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    """The FashionMNIST test split, uint8 `[N, 1, 28, 28]`, and its labels, built from the data
    config the CNN experiment trains on."""
    from hydra import compose, initialize_config_dir

    from lightning_hydra_template.config.builders import build
    from lightning_hydra_template.config.project import CONFIG_DIR

    with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
        cfg = compose("train", overrides=["experiment=cnn", f"data.data_dir={data_dir}"])
    data = build(cfg.data)
    data.prepare_data()
    data.setup("test")
    test = data.datasets["test"]
    return test.images[:limit].contiguous(), test.labels[:limit]


def load_engines(checkpoint: Path, models: dict[str, Path], threads: int) -> dict[str, Engine]:
    """The three engines, each taking its native input (tensor or array) of uint8 pixels."""
    import onnxruntime

    predictor = Predictor.from_checkpoint(checkpoint, device="cpu")
    if (predictor.channels, predictor.image_size) != (1, 28):
        raise SystemExit(
            f"{checkpoint} takes {predictor.channels}x{predictor.image_size}px images, "
            "not FashionMNIST's 1x28px ones."
        )
    eager = PixelsToProbabilities(predictor).eval()
    program = torch.export.load(str(models["torch"])).module()
    options = onnxruntime.SessionOptions()
    # The same intra-op thread count as torch's, and no inter-op pool (torch runs ops in sequence
    # too): otherwise the race is between thread counts, not runtimes.
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(str(models["onnx"]), options, providers=["CPUExecutionProvider"])

    def run_onnx(pixels: np.ndarray) -> np.ndarray:
        return session.run(["probabilities"], {"images": pixels})[0]

    def torch_engine(module: torch.nn.Module) -> Engine:
        def run(pixels: torch.Tensor) -> torch.Tensor:
            with torch.no_grad():  # as Predictor.probabilities and export.py's parity check run it
                return module(pixels)

        return run

    return {"eager": torch_engine(eager), "onnxruntime": run_onnx, "torch.export": torch_engine(program)}


def native(engine: str, pixels: torch.Tensor) -> Any:
    """The input as the engine's own API takes it: onnxruntime wants numpy (a view, no copy)."""
    return pixels.numpy() if engine == "onnxruntime" else pixels


def single_call_ms(run: Engine, singles: list[Any], calls: int) -> list[float]:
    """Latency of `calls` one-image calls after a warm-up, cycling through the images."""
    for i in range(WARMUP_CALLS):
        run(singles[i % len(singles)])
    times = []
    for i in range(calls):
        started = time.perf_counter()
        run(singles[i % len(singles)])
        times.append(1000 * (time.perf_counter() - started))
    return times


def batched_pass(run: Engine, batches: list[Any]) -> tuple[float, torch.Tensor]:
    """Seconds to classify all batches (after one warm-up batch), and the probabilities."""
    run(batches[0])
    started = time.perf_counter()
    outputs = [run(batch) for batch in batches]
    seconds = time.perf_counter() - started
    return seconds, torch.cat([torch.as_tensor(np.asarray(out)) for out in outputs])


def undisturbed(measure: Callable[[], T], args: argparse.Namespace) -> tuple[T, float]:
    """`measure()` and the CPU seconds other processes used meanwhile, repeated while they used
    more than --max-other-cpu (up to --retries times): this machine is shared with other work."""
    for attempt in range(args.retries + 1):
        busy, own = cpu_jiffies(), own_cpu_seconds()
        result = measure()
        busy = (cpu_jiffies() - busy) / os.sysconf("SC_CLK_TCK")
        other = max(0.0, busy - (own_cpu_seconds() - own))
        if other <= args.max_other_cpu:
            break
        print(f"    other processes used {other:.1f} CPU s (attempt {attempt + 1})", flush=True)
    return result, other


def race_round(engines: dict[str, Engine], inputs: dict[str, dict], order: list[str], calls: int) -> dict:
    """One round: each engine's batch-1 latencies, then its pass over all images."""
    measured = {}
    for name in order:
        run, given = engines[name], inputs[name]
        latencies = single_call_ms(run, given["singles"], calls)
        seconds, probabilities = batched_pass(run, given["batches"])
        measured[name] = {"latencies_ms": latencies, "seconds": seconds, "probabilities": probabilities}
    return measured


def race(engines: dict[str, Engine], images: torch.Tensor, args: argparse.Namespace) -> dict[str, dict]:
    """Every engine at batch 1 and at --batch-size, in --rounds rounds that rotate the order."""
    names = list(engines)
    inputs = {
        name: {
            "singles": [native(name, images[i : i + 1]) for i in range(min(len(images), args.single_calls))],
            "batches": [native(name, batch.contiguous()) for batch in images.split(args.batch_size)],
        }
        for name in names
    }
    results = {name: {"latencies_ms": [], "seconds": [], "other_cpu_s": []} for name in names}
    for round_ in range(args.rounds):
        order = names[round_ % len(names) :] + names[: round_ % len(names)]
        measured, other = undisturbed(partial(race_round, engines, inputs, order, args.single_calls), args)
        for name, figures in measured.items():
            results[name]["latencies_ms"] += figures["latencies_ms"]
            results[name]["seconds"].append(figures["seconds"])
            results[name]["probabilities"] = figures["probabilities"]
            results[name]["other_cpu_s"].append(other)
        rates = ", ".join(f"{n} {len(images) / measured[n]['seconds']:.0f} img/s" for n in names)
        print(f"  round {round_}: {rates}; other processes {other:.1f} CPU s", flush=True)
    return results


def engine_rows(results: dict[str, dict], labels: torch.Tensor, args: argparse.Namespace) -> list[dict]:
    """Rows at batch 1 (latency percentiles) and at --batch-size (images/s), with eager/this."""
    reference = results["eager"]
    eager_p50 = float(np.percentile(reference["latencies_ms"], 50))
    eager_rate = len(labels) / statistics.median(reference["seconds"])
    rows = []
    for name, result in results.items():
        p50, p95 = (float(x) for x in np.percentile(result["latencies_ms"], [50, 95]))
        rows.append(
            {"engine": name, "batch_size": 1, "calls": len(result["latencies_ms"]), "p50_ms": p50,
             "p95_ms": p95, "eager_over_this": eager_p50 / p50, **disturbance(result, args)}
        )  # fmt: skip
    for name, result in results.items():
        rate = len(labels) / statistics.median(result["seconds"])
        probabilities = result["probabilities"]
        rows.append(
            {"engine": name, "batch_size": args.batch_size, "images": len(labels), "images_per_s": rate,
             "eager_over_this": rate / eager_rate,
             "accuracy": float((probabilities.argmax(-1) == labels).float().mean()),
             "top1_agree_with_eager": float(
                 (probabilities.argmax(-1) == reference["probabilities"].argmax(-1)).float().mean()),
             "max_abs_diff_vs_eager": float((probabilities - reference["probabilities"]).abs().max()),
             **disturbance(result, args)}
        )  # fmt: skip
    return rows


def disturbance(result: dict, args: argparse.Namespace) -> dict:
    """The most CPU time others used in a round of this row, and whether that exceeded the limit."""
    worst = max(result["other_cpu_s"])
    return {"other_cpu_s": worst, "disturbed": worst > args.max_other_cpu}


def write_pngs(images: torch.Tensor, labels: torch.Tensor, folder: Path) -> Path:
    """Each image as a PNG (lossless: predict.py decodes the same pixels) and a `file,label` CSV."""
    from PIL import Image

    folder.mkdir(parents=True)
    lines = []
    for i, (image, label) in enumerate(zip(images.numpy(), labels.tolist())):
        Image.fromarray(image[0], "L").save(folder / f"{i:05d}.png")
        lines.append(f"{i:05d}.png,{label}")
    csv = folder / "labels.csv"
    csv.write_text("\n".join(lines) + "\n")
    return csv


def predict_command(
    checkpoint: Path, source: Path, run_dir: Path, batch_size: int, threads: int
) -> list[str]:
    return [
        sys.executable, "predict.py", f"ckpt_path={checkpoint}", f"input={source}",
        f"output={run_dir / 'predictions.csv'}", f"batch_size={batch_size}", f"decode_workers={threads}",
        "device=cpu", f"hydra.run.dir={run_dir}",
    ]  # fmt: skip


def timed_predict(
    checkpoint: Path, source: Path, tmp: Path, env: dict[str, str], args: argparse.Namespace
) -> tuple[float, Path, float]:
    """One undisturbed predict.py run on `source`: its wall time, run folder and others' CPU s."""

    def once() -> tuple[float, Path]:
        run_dir = Path(tempfile.mkdtemp(prefix=f"predict_{source.stem}_", dir=tmp))  # one per attempt
        command = predict_command(checkpoint, source, run_dir, args.batch_size, args.threads)
        return run_logged(command, run_dir.with_suffix(".log"), env), run_dir

    (wall, run_dir), other = undisturbed(once, args)
    return wall, run_dir, other


def predict_row(
    checkpoint: Path,
    images: torch.Tensor,
    labels: torch.Tensor,
    tmp: Path,
    env: dict[str, str],
    args: argparse.Namespace,
    eager: dict,
) -> dict:
    """predict.py from PNGs on disk: whole-process wall time, and images/s once started.

    Start-up (interpreter, imports, checkpoint) is the median wall time of the same command on one PNG;
    images/s after start-up is (N - 1) / (wall time on N images - start-up).
    """
    csv = write_pngs(images, labels, tmp / "png")
    env = {**env, "OMP_NUM_THREADS": str(args.threads)}  # torch's intra-op threads in predict.py
    startups = [
        timed_predict(checkpoint, csv.parent / "00000.png", tmp, env, args) for _ in range(STARTUP_RUNS)
    ]
    wall, run_dir, other = timed_predict(checkpoint, csv, tmp, env, args)
    startup = statistics.median(run[0] for run in startups)
    accuracy = json.loads((run_dir / "metrics.json").read_text())["metrics"]["predict/acc"]
    # On a few hundred images the difference can drown in start-up jitter: no figure then.
    rate = (len(labels) - 1) / (wall - startup) if wall > startup else None
    worst = max(other, *(run[2] for run in startups))
    return {
        "engine": "predict.py", "batch_size": args.batch_size, "images": len(labels),
        "images_per_s": rate, "eager_over_this": rate / eager["images_per_s"] if rate else None,
        "process_s": wall, "process_images_per_s": len(labels) / wall, "startup_s": startup,
        "accuracy": accuracy, "eager_accuracy": eager["accuracy"],
        "other_cpu_s": worst, "disturbed": worst > args.max_other_cpu,
    }  # fmt: skip


def print_row(row: dict) -> None:
    label = f"{row['engine']:13} batch {row['batch_size']:<4}"
    ratio = f"eager/this {row['eager_over_this']:.2f}" if row["eager_over_this"] else "eager/this -"
    if row["batch_size"] == 1:
        print(f"{label} p50 {row['p50_ms']:6.3f} ms  p95 {row['p95_ms']:6.3f} ms   {ratio}", flush=True)
    elif row["engine"] == "predict.py":
        rate = (
            f"{row['images_per_s']:7.0f} img/s after start-up"
            if row["images_per_s"]
            else "img/s lost in start-up jitter"
        )
        print(
            f"{label} {rate}   {ratio}   accuracy {row['accuracy']:.4f} (eager "
            f"{row['eager_accuracy']:.4f}); whole process {row['process_s']:.1f} s = "
            f"{row['process_images_per_s']:.0f} img/s, start-up {row['startup_s']:.1f} s",
            flush=True,
        )
    else:
        print(
            f"{label} {row['images_per_s']:7.0f} img/s   {ratio}   accuracy {row['accuracy']:.4f}, "
            f"top-1 agrees with eager {row['top1_agree_with_eager']:.4f}, "
            f"max |diff| {row['max_abs_diff_vs_eager']:.1e}",
            flush=True,
        )


def benchmark(args: argparse.Namespace, tmp: Path) -> dict:
    import onnxruntime

    env = {**os.environ, "DATA_DIR": args.data_dir}
    images, labels = fashion_mnist_test(args.data_dir, args.images)
    checkpoint = args.ckpt_path or train_checkpoint(tmp, env, args.train_batches)
    models = export_models(checkpoint, tmp, env)
    torch.set_num_threads(args.threads)
    print(
        f"threads: torch intra-op {torch.get_num_threads()}, onnxruntime intra-op {args.threads} "
        f"(inter-op 1), predict.py {args.threads} (OMP_NUM_THREADS, decode_workers): the same count "
        f"for a fair race. torch {torch.__version__}, onnxruntime {onnxruntime.__version__}; "
        f"{len(labels)} test images, {args.rounds} rounds",
        flush=True,
    )
    print(
        "eager/this: eager's time over this engine's (batch 1: p50 latency; batched: time per image)",
        flush=True,
    )
    results = race(load_engines(checkpoint, models, args.threads), images, args)
    rows = engine_rows(results, labels, args)
    eager_batched = next(r for r in rows if r["engine"] == "eager" and r["batch_size"] == args.batch_size)
    rows.append(predict_row(checkpoint, images, labels, tmp, env, args, eager_batched))
    for row in rows:
        print_row(row)
    other = max(row["other_cpu_s"] for row in rows)
    disturbed = [f"{row['engine']} batch {row['batch_size']}" for row in rows if row["disturbed"]]
    print(
        f"other processes used at most {other:.1f} CPU s in a measurement"
        + (f"; DISTURBED beyond --max-other-cpu: {', '.join(disturbed)}" if disturbed else ""),
        flush=True,
    )
    return {
        "checkpoint": str(args.ckpt_path) if args.ckpt_path else f"trained: {' '.join(TRAIN_OVERRIDES)}",
        "train_batches": None if args.ckpt_path else args.train_batches,
        "threads": args.threads, "torch": torch.__version__, "onnxruntime": onnxruntime.__version__,
        "images": len(labels), "rounds": args.rounds, "max_other_cpu_s": other, "rows": rows,
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ckpt-path", type=Path, help="default: train a 1-epoch CNN first")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--single-calls", type=int, default=300, help="timed batch-1 calls per round")
    parser.add_argument("--images", type=int, help="test images used (default: all 10k)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds over all engines, order rotated")
    parser.add_argument(
        "--threads", type=int, default=len(os.sched_getaffinity(0)), help="intra-op threads of every engine"
    )
    parser.add_argument("--max-other-cpu", type=float, default=1.0, help="CPU s others may use in a round")
    parser.add_argument("--retries", type=int, default=2, help="repeats of a disturbed round")
    parser.add_argument("--train-batches", type=int, help="limit the training epoch (quick checks)")
    parser.add_argument("--data-dir", default=os.environ.get("DATA_DIR", str(ROOT / "data")))
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args()
    if args.batch_size < 2:
        parser.error("--batch-size must be at least 2: batch 1 is measured on its own")
    args.data_dir = str(Path(args.data_dir).resolve())
    if args.ckpt_path:
        args.ckpt_path = args.ckpt_path.expanduser().resolve()
    export_project_root()
    with tempfile.TemporaryDirectory(prefix="inference_bench_") as tmp:
        result = benchmark(args, Path(tmp))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
