"""Show the composed config as a tree at the start of a run, and keep the resolved copy."""

from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from ..console import copy_into_log_file

# The order a reader wants: what is trained on what, then how.
FIRST = ("data", "model", "optimizer", "scheduler", "trainer", "callbacks", "logger", "paths")


def print_config_tree(cfg: DictConfig, save_dir: Path | None = None) -> None:
    """Print each top-level key as a branch of YAML; write `resolved_config.yaml` to `save_dir`."""
    import rich
    from rich.syntax import Syntax
    from rich.tree import Tree

    tree = Tree("config", style="bold")
    keys = [k for k in FIRST if k in cfg] + [k for k in cfg if k not in FIRST]
    for key in keys:
        value = cfg[key]
        text = OmegaConf.to_yaml(value, resolve=True) if OmegaConf.is_config(value) else str(value)
        tree.add(f"[bold]{key}").add(Syntax(text.rstrip(), "yaml", theme="ansi_dark"))
    rich.print(tree)
    copy_into_log_file(tree, "config")
    if save_dir is not None:
        save_resolved_config(cfg, save_dir)


def save_resolved_config(cfg: DictConfig, save_dir: Path) -> None:
    """`resolved_config.yaml`: the config with every `${...}` resolved, written atomically."""
    from ..atomic_files import atomic_write_text

    save_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(save_dir / "resolved_config.yaml", OmegaConf.to_yaml(cfg, resolve=True))
