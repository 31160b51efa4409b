"""The start of every task that builds a Trainer: Lightning's logs routed, the config shown and checked."""

from pathlib import Path

from omegaconf import DictConfig

from .checks import check_config
from .host_memory import keep_freed_memory
from .lightning_logging import hide_upstream_deprecation_noise, route_lightning_logs_to_hydra
from .target_checks import check_targets
from .tree import print_config_tree
from .versions import check_torchvision_loads


def begin(cfg: DictConfig, is_writer: bool, save_dir: Path | None = None) -> None:
    """Show `cfg` (the writer process only; `resolved_config.yaml` into `save_dir`), then check every
    value at once: a bad config is on screen, and refused, before anything is built or written.
    A torch / torchvision pair that cannot import together fails first, in one line."""
    check_torchvision_loads()
    route_lightning_logs_to_hydra()
    hide_upstream_deprecation_noise()
    if is_writer:
        print_config_tree(cfg, save_dir=save_dir)
    check_config(cfg)
    check_targets(cfg)
    keep_freed_memory(cfg.get("malloc_trim_threshold_mb"))
