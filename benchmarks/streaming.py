"""data.storage=stream against memory, and against a hand-written torchvision ImageFolder loop.

    python benchmarks/streaming.py peak --sizes 2000 5000 10000      # peak memory of train.py, both storages
    python benchmarks/streaming.py cgroup --images 10000 --limit-mb 700   # trains under a memory limit
    python benchmarks/streaming.py throughput --images 2000 --rounds 5    # loader images/s vs ImageFolder

Images are generated 224 x 224 JPEGs (smooth colour fields with noise, about 10 kB each) in
`<root>/<size>/<class>/<n>.jpg`, made once per size. Peak memory is the sum of the proportional set
size (PSS: shared pages divided among the processes sharing them) of the run and all of its
processes (loader workers, LitData's writers), sampled every 0.2 s. The cgroup run needs root and
cgroup v1 (/sys/fs/cgroup/memory).
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CLASSES = 4


def make_images(root: Path, count: int, size: int = 224) -> Path:
    """`count` JPEGs in CLASSES class folders under `root/<count>` (kept between runs)."""
    from PIL import Image

    folder = root / str(count)
    done = folder / ".complete"
    if done.exists():
        return folder
    rng = np.random.default_rng(count)
    ramp = np.linspace(0, 1, size, dtype=np.float32)
    for n in range(count):
        label = n % CLASSES
        colour = rng.uniform(0, 255, 3) * 0.5 + 60 * label
        field = colour[None, None, :] * (0.6 + 0.4 * ramp[:, None, None] * ramp[None, :, None])
        pixels = np.clip(field + rng.normal(0, 12, (size, size, 3)), 0, 255).astype(np.uint8)
        path = folder / f"class{label}" / f"{n:06d}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels).save(path, quality=85)
    done.touch()
    return folder


def tree_pss(pid: int) -> int:
    """Bytes of PSS of `pid` and every descendant (0 for processes gone meanwhile)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    total, stack = 0, [pid]
    while stack:
        current = stack.pop()
        stack += children.get(current, [])
        try:
            for line in Path(f"/proc/{current}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            pass
    return total


def train_command(folder: Path, storage: str, cache: Path, extra: list[str]) -> list[str]:
    return [
        sys.executable, "train.py", "experiment=csv_cnn", "data=image_folder", f"data.root={folder}",
        f"data.storage={storage}", "data.image_size=224", f"data.cache_dir={cache}",
        "data.loader.batch_size=32", "data.loader.eval_batch_size=32",
        "model.net.channels=[8,16]", "model.net.hidden_size=16", "trainer.max_epochs=1",
        "trainer.limit_train_batches=30", "trainer.limit_val_batches=5", "test=false",
        "callbacks.rich_progress_bar=null", "callbacks.rich_model_summary=null", "logger=csv", *extra,
    ]  # fmt: skip


def run_measured(command: list[str], prefix: list[str] = ()) -> tuple[int, float, float]:
    """(return code, peak PSS in MB of the process tree, seconds)."""
    start = time.perf_counter()
    process = subprocess.Popen(
        [*prefix, *command], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    peak, stop = 0, threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, tree_pss(process.pid))
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, stderr = process.communicate()
    stop.set()
    sampler.join()
    if process.returncode != 0:
        print(stderr.decode()[-2000:], file=sys.stderr)
    return process.returncode, peak / 2**20, time.perf_counter() - start


def peak(args: argparse.Namespace) -> None:
    print("| images | decoded | storage | peak PSS | time | exit |\n|---:|---:|---|---:|---:|---:|")
    for count in args.sizes:
        folder = make_images(args.root, count)
        for storage in args.storages:
            shutil.rmtree(args.root / "cache", ignore_errors=True)  # cold: decoding or writing included
            log_dir = f"paths.log_dir={args.root / 'logs'}"
            code, mb, seconds = run_measured(train_command(folder, storage, args.root / "cache", [log_dir]))
            decoded = count * 3 * 224 * 224 / 2**20
            print(
                f"| {count} | {decoded:.0f} MB | {storage} | {mb:.0f} MB | {seconds:.0f} s | {code} |",
                flush=True,
            )


def cgroup(args: argparse.Namespace) -> None:
    group = Path("/sys/fs/cgroup/memory") / f"streaming_bench_{os.getpid()}"
    group.mkdir()
    try:
        (group / "memory.limit_in_bytes").write_text(str(args.limit_mb * 2**20))
        (group / "memory.swappiness").write_text("0")
        folder = make_images(args.root, args.images)
        decoded = args.images * 3 * 224 * 224 / 2**20
        print(f"{args.images} images, {decoded:.0f} MB decoded, limit {args.limit_mb} MB")
        # The shell joins the group, then becomes the run: every process it starts is inside too.
        enter = ["sh", "-c", f'echo $$ > {group}/tasks && exec "$@"', "sh"]
        for storage in args.storages:
            cache = args.root / "cgroup_cache"
            shutil.rmtree(cache, ignore_errors=True)  # cold: decoding or writing inside the limit too
            log_dir = f"paths.log_dir={args.root / 'logs'}"
            code, mb, seconds = run_measured(train_command(folder, storage, cache, [log_dir]), enter)
            max_usage = int((group / "memory.max_usage_in_bytes").read_text()) / 2**20
            failcnt = int((group / "memory.failcnt").read_text())
            outcome = "completed" if code == 0 else "killed" if code < 0 else "failed"
            print(
                f"storage={storage}: exit {code} ({outcome}), peak PSS {mb:.0f} MB, cgroup max usage "
                f"(page cache included) {max_usage:.0f} MB, limit hits {failcnt}, {seconds:.0f} s",
                flush=True,
            )
            (group / "memory.max_usage_in_bytes").write_text("0")
    finally:
        for _ in range(50):
            try:
                group.rmdir()
                break
            except OSError:  # the last processes are still leaving the group
                time.sleep(0.2)


def throughput(args: argparse.Namespace) -> None:
    """Images/s of one training pass of each loader (decode, RandomResizedCrop + flip, collate)."""
    import torch
    from torchvision import datasets
    from torchvision.transforms import v2

    from lightning_hydra_template.data.augment_options import AugmentOptions
    from lightning_hydra_template.data.image_folder import ImageFolderDataModule
    from lightning_hydra_template.data.loader_options import LoaderOptions

    folder = make_images(args.root, args.images)
    transforms = [v2.RandomResizedCrop(224), v2.RandomHorizontalFlip()]
    datamodule = ImageFolderDataModule(
        str(folder), image_size=224, storage="stream", cache_dir=str(args.root / "cache"), mean=0.5, std=0.25,
        loader=LoaderOptions(batch_size=args.batch_size, num_workers=args.workers),
        augment=AugmentOptions(stream_transforms=transforms),
    )  # fmt: skip
    datamodule.prepare_data()
    datamodule.setup()
    # The hand-written loop: the same transforms on the same (full-resolution) files, every image.
    baseline = torch.utils.data.DataLoader(
        datasets.ImageFolder(str(folder), transform=v2.Compose([*transforms, v2.PILToTensor()])),
        batch_size=args.batch_size, shuffle=True, num_workers=args.workers,
    )  # fmt: skip

    def rate(loader) -> float:
        seen, start = 0, time.perf_counter()
        for images, _ in loader:
            seen += len(images)
        return seen / (time.perf_counter() - start)

    rates: dict[str, list[float]] = {"ImageFolder + DataLoader": [], "stream (LitData)": []}
    for round_ in range(args.rounds):  # interleaved, the order flipped every round
        order = list(rates) if round_ % 2 == 0 else list(rates)[::-1]
        for name in order:
            loader = baseline if name.startswith("Image") else datamodule.train_dataloader()
            rates[name].append(rate(loader))
    base = statistics.median(rates["ImageFolder + DataLoader"])
    for name, values in rates.items():
        median = statistics.median(values)
        runs = " ".join(f"{v:.0f}" for v in values)
        print(f"{name}: median {median:.0f} images/s ({median / base:.2f}x), runs {runs}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=Path("/tmp/streaming_bench"))
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("peak")
    p.add_argument("--sizes", type=int, nargs="+", default=[2000, 5000, 10000])
    p.add_argument("--storages", nargs="+", default=["stream", "memory"])
    c = commands.add_parser("cgroup")
    c.add_argument("--images", type=int, default=10000)
    c.add_argument("--limit-mb", type=int, default=700)
    c.add_argument("--storages", nargs="+", default=["stream", "memory"])
    t = commands.add_parser("throughput")
    t.add_argument("--images", type=int, default=2000)
    t.add_argument("--rounds", type=int, default=5)
    t.add_argument("--workers", type=int, default=2)
    t.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()
    {"peak": peak, "cgroup": cgroup, "throughput": throughput}[args.command](args)


if __name__ == "__main__":
    main()
