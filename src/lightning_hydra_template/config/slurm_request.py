"""What a SLURM job asks for, read from the trainer config (configs/hydra/launcher/slurm.yaml).

Every trainer config must be submittable: `trainer=cpu` asks for no GPU (a CPU partition would
never schedule it otherwise), a GPU trainer for one GPU per device, and Lightning's contract with
SLURM is one task per device.
"""

from .run_folders import RunFolderError

_NO_GPU = ("cpu", "mps")  # an "auto" accelerator on a cluster node means its GPUs


def device_count(devices: object) -> int:
    """`trainer.devices` as the number of tasks per node; a one-line stop when it is not a count."""
    if isinstance(devices, list | tuple):
        return len(devices)
    if isinstance(devices, int) and devices > 0:
        return devices
    if isinstance(devices, str) and devices.isdigit() and int(devices) > 0:
        return int(devices)
    # SystemExit, like run folders: this runs inside Hydra's config resolution (see RunFolderError).
    raise RunFolderError(
        f"trainer.devices={devices}: a SLURM job asks for a number of tasks per node; "
        "pass the GPUs per node, e.g. trainer.devices=4."
    )


def gpus_per_node(accelerator: str, devices: object) -> int:
    """One GPU per device for a GPU trainer; none for `trainer.accelerator=cpu` (or mps)."""
    return 0 if str(accelerator) in _NO_GPU else device_count(devices)
