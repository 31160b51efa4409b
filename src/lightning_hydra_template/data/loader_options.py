"""`data.loader`: how a datamodule serves its batches, one config node for every datamodule."""

from dataclasses import dataclass


@dataclass(frozen=True)
class LoaderOptions:
    """The DataLoader options of `data.loader` (configs/data/*.yaml), built once by Hydra.

    The datamodule copies `batch_size` to its own attribute: Lightning's batch-size finder
    (`tune=batch_size`) reads and writes `datamodule.batch_size`, not this frozen record.

    - batch_size: images per training batch.
    - eval_batch_size: per validation and test batch; None: batch_size.
    - num_workers: loader processes; None: the datamodule's choice (0 for data in memory, where
      batches are slices; one per CPU, up to 8, when streaming).
    - pin_memory, persistent_workers: torch's DataLoader options (persistent only with workers).
    - on_device: on CUDA, move the whole in-memory dataset to the GPU once (no batch crosses PCIe).
    """

    batch_size: int = 64
    eval_batch_size: int | None = None
    num_workers: int | None = None
    pin_memory: bool = False
    persistent_workers: bool = False
    on_device: bool = False
