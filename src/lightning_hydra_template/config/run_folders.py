"""Run folders that belong to one run: claimed with an atomic mkdir, never shared.

Hydra's `${now:...}` names a folder by the second, so two runs started in the same second (one per
GPU, say) wrote into one folder. `${new_dir:<path>}` claims `<path>`, or `<path>_2`, `<path>_3`, ...
with `os.mkdir`, which exactly one process wins. The names still sort by start time.
"""

import os
from pathlib import Path


class RunFolderError(SystemExit):
    """No run folder: stop with this message and exit code 1 (it happens inside Hydra's config
    resolution, whose error formatting would bury a normal exception in two tracebacks)."""


# A process asks for its run folder more than once (Hydra resolves `hydra.run.dir` again when it
# sets up logging, saves .hydra/, hands the folder to Lightning's DDP relaunch): same answer each time.
_claimed: dict[str, str] = {}


def claim_new_dir(path: str) -> str:
    """Create and return `path`, or the first free `path_<n>` (n = 2, 3, ...) if it exists."""
    if path in _claimed:
        return _claimed[path]
    shared = _launcher_shared_name(path)
    if shared is not None:  # one run started as several processes by SLURM or torchrun
        Path(shared).mkdir(parents=True, exist_ok=True)
        _claimed[path] = shared
        return shared
    parent = Path(path).parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        candidate, n = path, 1
        while True:
            try:
                os.mkdir(candidate)
                break
            except FileExistsError:
                n += 1
                candidate = f"{path}_{n}"
    except OSError as error:  # read-only, no permission, a file in the way, a full disk
        raise RunFolderError(
            f"Cannot create the run folder {path}: {error.strerror} ({error.filename}). "
            "Point the logs elsewhere with paths.log_dir=/a/writable/folder."
        ) from None
    _claimed[path] = candidate
    return candidate


def _launcher_shared_name(path: str) -> str | None:
    """The folder every process of one externally launched run agrees on, or None.

    `srun` (SLURM_NTASKS > 1) and `torchrun` start each rank as its own `python train.py`; those
    processes must share a run folder, so its name comes from the job, not from a claim. A
    requeued SLURM job keeps its id, so it finds its own checkpoints again.
    """
    parent = Path(path).parent
    if int(os.environ.get("SLURM_NTASKS", "1")) > 1 and "SLURM_JOB_ID" in os.environ:
        return str(parent / f"slurm-{os.environ['SLURM_JOB_ID']}.{os.environ.get('SLURM_STEP_ID', '0')}")
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and "RANK" in os.environ and "LOCAL_RANK" in os.environ:
        run_id = os.environ.get("TORCHELASTIC_RUN_ID", "none")
        if run_id == "none":
            raise RunFolderError(
                "This is one rank of a multi-process run (WORLD_SIZE > 1), whose processes must share one "
                "run folder: pass hydra.run.dir=logs/train/runs/<name> to each one (or torchrun --rdzv-id)."
            )
        return str(parent / f"torchrun-{run_id}")
    return None


def run_folder_of(checkpoint: Path) -> Path | None:
    """The run folder a checkpoint was saved in (`<run>/checkpoints/`, beside `<run>/.hydra/`), if any."""
    folder = checkpoint.expanduser().resolve().parent
    run_dir = folder.parent
    return (
        run_dir if folder.name == "checkpoints" and (run_dir / ".hydra" / "config.yaml").is_file() else None
    )


def run_folder(new_name: str, ckpt_path: object) -> str:
    """`${run_folder:<new folder name>,${ckpt_path}}` (configs/hydra/train.yaml): the folder a training
    run writes into, chosen from `ckpt_path` as Hydra resolves `hydra.run.dir` (no command-line parsing).

    The checkpoint's own run folder when resuming from one (run/resume.py); with `ckpt_path=auto`
    a name that a re-run finds again (the SLURM job's, stable across requeues; torchrun's run id,
    stable across worker restarts); else a new folder.
    """
    if ckpt_path not in (None, "auto"):
        in_run = run_folder_of(Path(str(ckpt_path)))
        if in_run is not None:
            return str(in_run)
    elif (
        ckpt_path == "auto" and "SLURM_JOB_ID" in os.environ and int(os.environ.get("SLURM_NTASKS", "1")) == 1
    ):
        job_folder = Path(new_name).parent / f"slurm-{os.environ['SLURM_JOB_ID']}"
        job_folder.mkdir(parents=True, exist_ok=True)
        return str(job_folder)
    elif ckpt_path == "auto" and "TORCHELASTIC_RUN_ID" in os.environ:
        return _torchrun_folder(new_name)
    return claim_new_dir(new_name)  # several tasks of one job share theirs there, by the job's id


def _torchrun_folder(new_name: str) -> str:
    """`ckpt_path=auto` under torchrun: `runs/torchrun-<rdzv id>`, which a worker restarted by
    `--max-restarts` (and the same command run again) finds again; a new timestamped folder per
    start would make every restart train from scratch.

    torchrun's default run id is "none", the same for every job: a folder named by it could hold
    another run, so a worker that may be restarted asks for a name instead.
    """
    run_id = os.environ["TORCHELASTIC_RUN_ID"]
    if run_id == "none":
        if int(os.environ.get("TORCHELASTIC_MAX_RESTARTS", "0") or 0) == 0:
            return claim_new_dir(new_name)  # never restarted: a new folder, as without torchrun
        raise RunFolderError(
            "ckpt_path=auto under torchrun --max-restarts needs a run folder its restarts find again: "
            "name the run with torchrun --rdzv-id=<name>, or pass hydra.run.dir=logs/train/runs/<name>."
        )
    folder = Path(new_name).parent / f"torchrun-{run_id}"
    folder.mkdir(parents=True, exist_ok=True)
    return str(folder)


def kept_run_record(output_dir: str) -> str | None:
    """`hydra.output_subdir` for training: `.hydra`, unless the folder has one already (a resume,
    a requeued job): it keeps how the run was started, and this invocation is logged instead."""
    return None if (Path(output_dir) / ".hydra" / "config.yaml").is_file() else ".hydra"


def register_resolvers() -> None:
    """`${new_dir:...}` for configs/hydra/default.yaml, `${run_folder:...}` and `${kept_run_record:...}`
    for configs/hydra/train.yaml, `${slurm_tasks:...}` and `${slurm_gpus:...}` for
    configs/hydra/launcher/slurm.yaml; idempotent."""
    from omegaconf import OmegaConf

    from .slurm_request import device_count, gpus_per_node

    if not OmegaConf.has_resolver("run_folder"):
        OmegaConf.register_new_resolver("run_folder", run_folder)
        OmegaConf.register_new_resolver("kept_run_record", kept_run_record)

    if not OmegaConf.has_resolver("slurm_tasks"):
        OmegaConf.register_new_resolver("slurm_tasks", device_count)
        OmegaConf.register_new_resolver("slurm_gpus", gpus_per_node)

    if not OmegaConf.has_resolver("new_dir"):
        # use_cache: Hydra copies resolver caches into each job's config, so a sweep's jobs (and
        # jobs pickled to other processes by submitit) see the sweep folder their sweep claimed.
        OmegaConf.register_new_resolver("new_dir", claim_new_dir, use_cache=True)
