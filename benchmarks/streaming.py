"""data.storage=stream against memory, and against a hand-written torchvision ImageFolder loop.

    python benchmarks/streaming.py peak --sizes 2000 5000 10000      # peak memory of train.py, both storages
    python benchmarks/streaming.py cgroup --images 10000 --limit-mb 700   # trains under a memory limit
    python benchmarks/streaming.py throughput --images 2000 --rounds 5    # loader images/s vs ImageFolder
    python benchmarks/streaming.py training --images 2000 --rounds 3      # training images/s: CNN, resnet18
    python benchmarks/streaming.py samples --images 300                   # µs a training sample, one thread

Images are generated 224 x 224 JPEGs (smooth colour fields with noise, about 10 kB each) in
`<root>/<size>/<class>/<n>.jpg`, made once per size. Peak memory is the sum of the proportional set
size (PSS: shared pages divided among the processes sharing them) of the run and all of its
processes (loader workers, LitData's writers), sampled every 0.2 s. The cgroup run needs root and
cgroup v1 (/sys/fs/cgroup/memory).
"""

import argparse
import contextlib
import functools
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
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


def descendants(pid: int) -> list[int]:
    """`pid` and every process below it, now."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    found, stack = [], [pid]
    while stack:
        current = stack.pop()
        found.append(current)
        stack += children.get(current, [])
    return found


def process_memory(pid: int) -> dict[str, int]:
    """Bytes of Rss, Pss, Anonymous and Private (USS: what only this process holds) memory of one
    process ({} for one gone meanwhile)."""
    try:
        lines = Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()
    except OSError:
        return {}
    fields = {f[0][:-1]: int(f[1]) * 1024 for f in (line.split() for line in lines[1:]) if len(f) > 1}
    memory = {name: fields.get(name, 0) for name in ("Rss", "Pss", "Anonymous")}
    memory["Private"] = fields.get("Private_Clean", 0) + fields.get("Private_Dirty", 0)
    return memory


class Measured:
    """Peak memory of a process tree, whole (PSS summed) and per process (RSS, PSS, anonymous)."""

    def __init__(self, root: int, group: Path | None = None) -> None:
        self.root, self.tree_pss, self.group, self.group_rss = root, 0, group, 0
        self.processes: dict[int, dict[str, int]] = {}
        self.seen: dict[int, list[float]] = {}  # pid: [first, last] seconds it was seen alive
        self.start = time.perf_counter()

    def sample(self) -> None:
        total = 0
        for pid in descendants(self.root):
            memory = process_memory(pid)
            total += memory.get("Pss", 0)
            now = time.perf_counter() - self.start
            self.seen.setdefault(pid, [now, now])[1] = now
            peaks = self.processes.setdefault(pid, {})
            for field, value in memory.items():
                peaks[field] = max(peaks.get(field, 0), value)
        self.tree_pss = max(self.tree_pss, total)
        if self.group is not None:  # the anonymous memory the cgroup charges: what its OOM killer weighs
            with contextlib.suppress(OSError, ValueError):
                stat = dict(line.split() for line in (self.group / "memory.stat").read_text().splitlines())
                self.group_rss = max(self.group_rss, int(stat["total_rss"]))

    def report(self) -> str:
        """The main process's peaks, then each child's (loader workers, writers) with when it lived."""
        mb = 2**20
        main = self.processes.get(self.root, {})
        children = sorted((self.seen[pid], m) for pid, m in self.processes.items() if pid != self.root and m)
        # A forked child shares its parent's pages: its own cost is its private memory.
        lives = ", ".join(
            f"{m['Private'] / mb:.0f} ({first:.0f}-{last:.0f} s)" for (first, last), m in children
        )
        return (
            f"main process peak RSS {main.get('Rss', 0) / mb:.0f} MB, PSS {main.get('Pss', 0) / mb:.0f} MB, "
            f"anonymous {main.get('Anonymous', 0) / mb:.0f} MB; {len(children)} child processes, "
            f"peak private "
            f"MB (alive from-to): {lives or 'none'}"
        )


def train_command(folder: Path, storage: str, cache: Path, extra: list[str]) -> list[str]:
    return [
        sys.executable, "train.py", "experiment=csv_cnn", "data=image_folder", f"data.root={folder}",
        f"data.storage={storage}", "data.image_size=224", f"data.cache_dir={cache}",
        "data.loader.batch_size=32", "data.loader.eval_batch_size=32",
        "model.net.channels=[8,16]", "model.net.hidden_size=16", "trainer.max_epochs=1",
        "trainer.limit_train_batches=30", "trainer.limit_val_batches=5", "test=false",
        "callbacks.rich_progress_bar=null", "callbacks.rich_model_summary=null", "logger=csv", *extra,
    ]  # fmt: skip


def run_measured(
    command: list[str], prefix: list[str] = (), group: Path | None = None
) -> tuple[int, Measured, float]:
    """(return code, the peak memory of the process tree sampled every 0.2 s, seconds)."""
    start = time.perf_counter()
    # A file, not a pipe: a child orphaned by a killed run would hold a pipe open, and the wait forever.
    stderr = tempfile.TemporaryFile()  # noqa: SIM115 (read after the run, closed with the function)
    process = subprocess.Popen([*prefix, *command], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=stderr)
    measured, stop = Measured(process.pid, group), threading.Event()

    def sample() -> None:
        while not stop.is_set():
            measured.sample()
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    process.wait()
    stop.set()
    sampler.join()
    if process.returncode != 0:
        stderr.seek(0)
        print(stderr.read().decode(errors="replace")[-2000:], file=sys.stderr)
    return process.returncode, measured, time.perf_counter() - start


def peak(args: argparse.Namespace) -> None:
    print("| images | decoded | storage | peak PSS | time | exit |\n|---:|---:|---|---:|---:|---:|")
    reports = []
    for count in args.sizes:
        folder = make_images(args.root, count)
        for storage in args.storages:
            shutil.rmtree(args.root / "cache", ignore_errors=True)  # cold: decoding or writing included
            log_dir = f"paths.log_dir={args.root / 'logs'}"
            code, measured, seconds = run_measured(
                train_command(folder, storage, args.root / "cache", [log_dir, *args.overrides])
            )
            decoded = count * 3 * 224 * 224 / 2**20
            mb = measured.tree_pss / 2**20
            print(
                f"| {count} | {decoded:.0f} MB | {storage} | {mb:.0f} MB | {seconds:.0f} s | {code} |",
                flush=True,
            )
            reports.append(f"{storage}, {count} images: {measured.report()}")
    print("\n".join(["", *reports]))


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
            command = train_command(folder, storage, cache, [log_dir, *args.overrides])
            code, measured, seconds = run_measured(command, enter, group)
            max_usage = int((group / "memory.max_usage_in_bytes").read_text()) / 2**20
            failcnt = int((group / "memory.failcnt").read_text())
            outcome = "completed" if code == 0 else "killed" if code < 0 else "failed"
            print(
                f"storage={storage}: exit {code} ({outcome}), peak PSS {measured.tree_pss / 2**20:.0f} MB, "
                f"cgroup peak anonymous (rss) {measured.group_rss / 2**20:.0f} MB, max usage (page cache "
                f"included) {max_usage:.0f} MB, limit hits {failcnt}, {seconds:.0f} s\n  {measured.report()}",
                flush=True,
            )
            for task in (group / "tasks").read_text().split():  # the killed run's orphans, if any
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(task), signal.SIGKILL)
            (group / "memory.max_usage_in_bytes").write_text("0")
    finally:
        for _ in range(50):
            try:
                group.rmdir()
                break
            except OSError:  # the last processes are still leaving the group
                time.sleep(0.2)


def streamed_datamodule(args: argparse.Namespace, folder: Path, transforms: list):
    """The template's streamed class-folder datamodule over `folder`, set up: the loader the races time."""
    from lightning_hydra_template.data.augment_options import AugmentOptions
    from lightning_hydra_template.data.image_folder import ImageFolderDataModule
    from lightning_hydra_template.data.loader_options import LoaderOptions

    datamodule = ImageFolderDataModule(
        str(folder), image_size=224, storage="stream", cache_dir=str(args.root / "cache"), mean=0.5, std=0.25,
        loader=LoaderOptions(batch_size=args.batch_size, num_workers=args.workers),
        augment=AugmentOptions(stream_transforms=transforms),
    )  # fmt: skip
    datamodule.prepare_data()
    datamodule.setup()
    return datamodule


def throughput(args: argparse.Namespace) -> None:
    """Images/s of one training pass of each loader (decode, RandomResizedCrop + flip, collate)."""
    import torch
    from torchvision import datasets
    from torchvision.transforms import v2

    folder = make_images(args.root, args.images)
    transforms = [v2.RandomResizedCrop(224), v2.RandomHorizontalFlip()]
    datamodule = streamed_datamodule(args, folder, transforms)
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

    race(baseline, datamodule, args.rounds, rate, "", digits=0)


def race(baseline, datamodule, rounds: int, rate, label: str, digits: int) -> None:
    """Images/s of `rate(loader)` for the ImageFolder loop and the streamed loader, interleaved
    (the order flipped every round), printed as medians and their ratio to the ImageFolder loop."""
    rates: dict[str, list[float]] = {"ImageFolder + DataLoader": [], "stream (LitData)": []}
    for round_ in range(rounds):
        for name in list(rates) if round_ % 2 == 0 else list(rates)[::-1]:
            loader = baseline if name.startswith("Image") else datamodule.train_dataloader()
            rates[name].append(rate(loader))
    base = statistics.median(rates["ImageFolder + DataLoader"])
    for name, values in rates.items():
        median = statistics.median(values)
        runs = " ".join(f"{v:.{digits}f}" for v in values)
        print(f"{label}{name}: median {median:.{digits}f} images/s ({median / base:.2f}x), runs {runs}")


def training(args: argparse.Namespace) -> None:
    """Images/s of one plain training step (bf16 autocast forward, backward, AdamW) fed by each loader.

    The same step, network and normalisation for both loaders, so the ratio is the data path's:
    Lightning's own cost is `lightning_overhead.py`'s to measure. The clock starts once the first
    batch is trained (the workers started, the network warm).
    """
    import torch
    import torch.nn.functional as F
    import torchvision
    from torchvision import datasets
    from torchvision.transforms import v2

    from lightning_hydra_template.data.batch_transforms import to_normalized_float
    from lightning_hydra_template.models.cnn import CNN

    folder = make_images(args.root, args.images)
    transforms = [v2.RandomResizedCrop(224), v2.RandomHorizontalFlip()]
    datamodule = streamed_datamodule(args, folder, transforms)
    baseline = torch.utils.data.DataLoader(
        datasets.ImageFolder(str(folder), transform=v2.Compose([*transforms, v2.PILToTensor()])),
        batch_size=args.batch_size, shuffle=True, num_workers=args.workers,
    )  # fmt: skip

    def resnet18_frozen() -> torch.nn.Module:  # random weights: a step costs the same as a pretrained one's
        net = torchvision.models.resnet18(num_classes=CLASSES)
        for name, parameter in net.named_parameters():
            parameter.requires_grad = name.startswith("fc.")
        return net

    networks = {
        "cnn": lambda: CNN(3, 224, CLASSES, channels=(32, 64)),
        "resnet18, frozen backbone": resnet18_frozen,
    }

    def rate(loader, net: torch.nn.Module, optimizer: torch.optim.Optimizer) -> float:
        def step(images: torch.Tensor, labels: torch.Tensor) -> None:
            inputs = to_normalized_float(images, 0.5, 0.25).contiguous(memory_format=torch.channels_last)
            with torch.autocast("cpu", dtype=torch.bfloat16):
                loss = F.cross_entropy(net(inputs), labels)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)

        batches = iter(loader)
        step(*next(batches))
        seen, start = 0, time.perf_counter()
        for _, (images, labels) in zip(range(args.batches), batches):
            step(images, labels)
            seen += len(images)
        elapsed = time.perf_counter() - start
        del batches  # its workers stop here, not during the next loader's run
        return seen / elapsed

    for network_name, make in networks.items():
        net = make().to(memory_format=torch.channels_last).train()
        optimizer = torch.optim.AdamW([p for p in net.parameters() if p.requires_grad], lr=1e-3)
        trained = functools.partial(rate, net=net, optimizer=optimizer)
        race(baseline, datamodule, args.rounds, trained, f"{network_name}, ", digits=1)


def samples(args: argparse.Namespace) -> None:
    """Microseconds a training sample costs, one thread, in each path from the JPEG's bytes."""
    import io

    import torch
    from PIL import Image
    from torchvision.transforms import v2

    from lightning_hydra_template.data.streamed_images import decoded

    torch.set_num_threads(1)  # as in a loader worker
    files = sorted(make_images(args.root, args.images).glob("*/*.jpg"))
    blobs = [path.read_bytes() for path in files]
    crop, flip = v2.RandomResizedCrop(224), v2.RandomHorizontalFlip()

    def pillow_decode(blob: bytes) -> None:
        with Image.open(io.BytesIO(blob)) as image:
            image.load()

    def image_folder(blob: bytes) -> torch.Tensor:  # ImageFolder's loader, then the transforms on Pillow
        with Image.open(io.BytesIO(blob)) as image:
            return v2.functional.pil_to_tensor(flip(crop(image.convert("RGB"))))

    def stream(blob: bytes) -> torch.Tensor:  # StreamedImages: decoded to a tensor, transformed as one
        return flip(crop(decoded(blob, 3))).contiguous()

    paths = {
        "Pillow decode alone": pillow_decode,
        "ImageFolder's sample": image_folder,
        "stream's sample": stream,
    }
    times: dict[str, list[float]] = {name: [] for name in paths}
    for _ in range(args.rounds):  # interleaved
        for name, path in paths.items():
            start = time.perf_counter()
            for blob in blobs:
                path(blob)
            times[name].append((time.perf_counter() - start) / len(blobs) * 1e6)
    for name, values in times.items():
        runs = " ".join(f"{v:.0f}" for v in values)
        print(f"{name}: median {statistics.median(values):.0f} µs an image, runs {runs}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=Path("/tmp/streaming_bench"))
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("peak")
    p.add_argument("--sizes", type=int, nargs="+", default=[2000, 5000, 10000])
    p.add_argument("--storages", nargs="+", default=["stream", "memory"])
    p.add_argument("--overrides", nargs="+", default=[], help="more train.py overrides")
    c = commands.add_parser("cgroup")
    c.add_argument("--images", type=int, default=10000)
    c.add_argument("--limit-mb", type=int, default=700)
    c.add_argument("--storages", nargs="+", default=["stream", "memory"])
    c.add_argument("--overrides", nargs="+", default=[], help="more train.py overrides")
    t = commands.add_parser("throughput")
    t.add_argument("--images", type=int, default=2000)
    t.add_argument("--rounds", type=int, default=5)
    t.add_argument("--workers", type=int, default=2)
    t.add_argument("--batch-size", type=int, default=64)
    r = commands.add_parser("training")
    r.add_argument("--images", type=int, default=2000)
    r.add_argument("--rounds", type=int, default=3)
    r.add_argument("--batches", type=int, default=15, help="timed training steps a run")
    r.add_argument("--workers", type=int, default=2)
    r.add_argument("--batch-size", type=int, default=32)
    s = commands.add_parser("samples")
    s.add_argument("--images", type=int, default=300)
    s.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    modes = {
        "peak": peak,
        "cgroup": cgroup,
        "throughput": throughput,
        "training": training,
        "samples": samples,
    }
    modes[args.command](args)


if __name__ == "__main__":
    main()
