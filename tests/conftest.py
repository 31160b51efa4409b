"""Shared fixtures: a small FashionMNIST-shaped dataset on disk and configs composed as train.py does."""

import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf, open_dict

from lightning_hydra_template.config.project import CONFIG_DIR, PROJECT_ROOT, export_project_root
from lightning_hydra_template.config.run_folders import register_resolvers

from .helpers import rgb_jpegs_with_names, torchvision_weights, write_fake_fashion_mnist

REAL_DATA = PROJECT_ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def fake_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A read-only data folder holding only the four `.gz` files, like ../shared/data."""
    root = write_fake_fashion_mnist(tmp_path_factory.mktemp("data"))
    for path in sorted(root.rglob("*"), reverse=True):
        path.chmod(0o555 if path.is_dir() else 0o444)
    root.chmod(0o555)
    return root


# Small and quick: a few batches of tiny networks on the fake data.
FAST = [
    "debug=fast",
    "trainer.accelerator=cpu",
]


# Console decoration only: tests run without it.
QUIET = ("rich_progress_bar", "rich_model_summary")


@pytest.fixture(scope="session")
def csv_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 3-class CSV image dataset (RGB JPEGs, string labels, a header)."""
    return rgb_jpegs_with_names(tmp_path_factory.mktemp("csv_images"), per_class=10)


def point_at_small_data(data: DictConfig, csv_dataset: Path, cache_dir: Path) -> None:
    """Size the data config for the small generated datasets, unless a test set it already."""
    if data._target_.endswith("IDXDataModule"):
        data.val_size = 100  # of 400 training images
    elif data._target_.endswith("CSVImageDataModule") and OmegaConf.is_missing(data, "csv_path"):
        data.csv_path = str(csv_dataset)
        data.cache_dir = str(cache_dir)


@pytest.fixture
def compose_config(tmp_path: Path, fake_data_dir: Path, csv_dataset: Path) -> Callable[..., DictConfig]:
    """Compose `train.yaml` (or `eval.yaml`) with overrides, its run folder in `tmp_path`."""
    export_project_root()
    register_resolvers()

    def _compose(overrides: list[str] = (), config_name: str = "train", fast: bool = True) -> DictConfig:
        GlobalHydra.instance().clear()
        with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
            cfg = compose(
                config_name,
                overrides=[
                    f"paths.data_dir={fake_data_dir}",
                    # Resolving hydra.run.dir claims a folder: never one under the project's logs/.
                    f"paths.log_dir={tmp_path}/logs",
                    *(FAST if fast else []),
                    *overrides,
                ],
                return_hydra_config=True,
            )
        run_dir = tmp_path / cfg.task_name
        with open_dict(cfg):
            if "data" in cfg:
                point_at_small_data(cfg.data, csv_dataset, tmp_path / "cache")
            if fast and cfg.get("callbacks") and "_target_" not in cfg.callbacks:
                for name in QUIET:
                    cfg.callbacks.pop(name, None)
            cfg.hydra.runtime.output_dir = str(run_dir)
            cfg.hydra.job.num = 0
        HydraConfig.instance().set_config(cfg)
        return cfg

    yield _compose
    GlobalHydra.instance().clear()


@pytest.fixture(scope="session")
def resnet18_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A local resnet18 state-dict file: model.net.weights=<it> stands in for the download."""
    return torchvision_weights(tmp_path_factory.mktemp("weights") / "resnet18.pth")


@pytest.fixture
def real_data_dir() -> Path:
    """../shared/data when it holds the real FashionMNIST; otherwise the test is skipped."""
    path = Path(os.environ.get("REAL_DATA_DIR", REAL_DATA))
    if not (path / "FashionMNIST" / "raw" / "train-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"real FashionMNIST not found under {path}")
    return path


@pytest.fixture
def small_file_system(tmp_path: Path) -> Iterator[Callable[[str], Path]]:
    """`small_file_system("64k")`: a real tmpfs of that size (root only), unmounted afterwards.

    `small_file_system("64k", read_only=True)` mounts it read-only: even root cannot write there.
    """
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mounted: list[Path] = []

    def mount(size: str, read_only: bool = False) -> Path:
        mount_point = tmp_path / f"tmpfs-{len(mounted)}"
        mount_point.mkdir()
        done = subprocess.run(
            [
                "mount",
                "-t",
                "tmpfs",
                "-o",
                f"size={size}" + (",ro" if read_only else ""),
                "tmpfs",
                str(mount_point),
            ],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
        mounted.append(mount_point)
        return mount_point

    yield mount
    for mount_point in mounted:
        subprocess.run(["umount", str(mount_point)], check=True)


@pytest.fixture(scope="session")
def slurm_cluster() -> Iterator[Path]:
    """A one-node SLURM cluster on 127.0.0.1 (scripts/slurm_cluster.sh) for the session: its slurm.conf.

    Skipped, saying why, where Debian's slurm-wlm and munge are missing or the daemons cannot start.
    """
    if shutil.which("slurmctld") is None or shutil.which("munged") is None:
        pytest.skip("no SLURM or munge programs: apt-get install -y slurm-wlm munge")
    script = PROJECT_ROOT / "scripts" / "slurm_cluster.sh"
    state = Path(tempfile.mkdtemp(prefix="slurm-"))  # short: munge's socket path has a length limit
    started = subprocess.run([script, "start", state], capture_output=True, text=True, timeout=120)
    if started.returncode != 0:
        shutil.rmtree(state, ignore_errors=True)
        pytest.skip(f"the local SLURM cluster did not start: {started.stderr.strip()}"[:500])
    yield state / "slurm.conf"
    subprocess.run([script, "stop", state], capture_output=True, timeout=120)
    shutil.rmtree(state, ignore_errors=True)


@pytest.fixture
def slurm(slurm_cluster: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The local SLURM cluster, reachable by this test and the commands it runs (SLURM_CONF)."""
    monkeypatch.setenv("SLURM_CONF", str(slurm_cluster))
    return slurm_cluster
