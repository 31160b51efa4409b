"""What Lightning's training loop alone costs per step, against the same loop written by hand.

    python benchmarks/lightning_overhead.py              # the MLP experiment's network, batch 128
    python benchmarks/lightning_overhead.py --rounds 9 --batch-size 512

One process alternates three fits of the same network on the same in-memory batches (the
template's `InMemoryBatches`): a plain loop, a bare `LightningModule` (automatic optimization,
nothing logged, no callbacks), and the same module with manual optimization. Data values do not
matter for speed, so they are random images of FashionMNIST's shape. Medians of ms/step after a
warm-up are printed, with each ratio plain/loop (1.0: Lightning costs nothing). See benchmarks/README.md.
"""

import argparse
import logging
import statistics
import time

import lightning as L
import torch
import torch.nn.functional as F
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from lightning_hydra_template.callbacks.step_timer import StepTimer
from lightning_hydra_template.config.host_memory import keep_freed_memory
from lightning_hydra_template.config.project import CONFIG_DIR, export_project_root
from lightning_hydra_template.data.in_memory import InMemoryBatches, InMemoryImages

TRAIN_SIZE = 55_000


def make_network(batch_size: int) -> tuple[torch.nn.Module, object]:
    """The MLP experiment's network and optimizer factory, as train.py would build them."""
    with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
        overrides = ["experiment=mlp", f"data.loader.batch_size={batch_size}", "data.num_classes=10"]
        cfg = compose("train", overrides=overrides)
    return instantiate(cfg.model.net), instantiate(cfg.optimizer)


def to_float(images: torch.Tensor) -> torch.Tensor:
    return images.float().div_(255)


class Bare(L.LightningModule):
    def __init__(self, net: torch.nn.Module, optimizer) -> None:
        super().__init__()
        self.net, self.optimizer_factory = net, optimizer

    def training_step(self, batch, batch_idx):
        images, labels = batch
        return F.cross_entropy(self.net(to_float(images)), labels)

    def configure_optimizers(self):
        return self.optimizer_factory(self.parameters())


class BareManual(Bare):
    def __init__(self, net: torch.nn.Module, optimizer) -> None:
        super().__init__(net, optimizer)
        self.automatic_optimization = False

    def training_step(self, batch, batch_idx):
        optimizer = self.optimizers()
        images, labels = batch
        loss = F.cross_entropy(self.net(to_float(images)), labels)
        optimizer.zero_grad()
        self.manual_backward(loss)
        optimizer.step()


def ms_per_step(starts: list[float], warmup: int) -> float:
    return 1000 * (starts[-1] - starts[warmup]) / (len(starts) - 1 - warmup)


def plain(batches: InMemoryBatches, batch_size: int, steps: int, warmup: int) -> float:
    net, optimizer_factory = make_network(batch_size)
    optimizer = optimizer_factory(net.parameters())
    starts = []
    for images, labels in batches:
        if len(starts) == steps:
            break
        starts.append(time.perf_counter())
        loss = F.cross_entropy(net(to_float(images)), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return ms_per_step(starts, warmup)


def lightning(module_class, batches: InMemoryBatches, batch_size: int, steps: int, warmup: int) -> float:
    clock = StepTimer()
    trainer = L.Trainer(
        accelerator="cpu",
        max_epochs=1,
        limit_train_batches=steps,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[clock],
    )
    trainer.fit(module_class(*make_network(batch_size)), train_dataloaders=batches)
    return ms_per_step(clock.step_starts, warmup)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=128)
    args = parser.parse_args()
    export_project_root()
    keep_freed_memory(256)  # as train.py does
    for name in ("lightning", "lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.ERROR)
    torch.manual_seed(0)
    images = torch.randint(0, 256, (TRAIN_SIZE, 1, 28, 28), dtype=torch.uint8)
    dataset = InMemoryImages(images, torch.randint(0, 10, (TRAIN_SIZE,)))
    batches = InMemoryBatches(dataset, args.batch_size, shuffle=True)
    warmup = args.steps // 5
    loops = {
        "plain loop": lambda: plain(batches, args.batch_size, args.steps, warmup),
        "Lightning, automatic optimization": lambda: lightning(
            Bare, batches, args.batch_size, args.steps, warmup
        ),
        "Lightning, manual optimization": lambda: lightning(
            BareManual, batches, args.batch_size, args.steps, warmup
        ),
    }
    times = {name: [] for name in loops}
    for round_ in range(args.rounds):
        for name, run in loops.items():
            times[name].append(run())
        print(
            f"round {round_}: " + ", ".join(f"{name} {t[-1]:.2f} ms" for name, t in times.items()), flush=True
        )
    reference = statistics.median(times["plain loop"])
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:36} {median:6.2f} ms/step   plain/this {reference / median:.3f}")


if __name__ == "__main__":
    main()
