"""Every object of a run is built here from its config's `_target_`: the config tree is the registry."""

from typing import Any

from omegaconf import DictConfig


def build(cfg: DictConfig, **kwargs: Any) -> Any:
    """`hydra.utils.instantiate`, the one place objects are made from config."""
    from hydra.utils import instantiate

    return instantiate(cfg, **kwargs)


def build_each(group: DictConfig | None) -> list[Any]:
    """Build every entry of a named collection (`callbacks`, `logger`); `null` entries are off.

    A collection that is itself one object (`callbacks=early_stopping`) builds that object alone.
    """
    if not group:
        return []
    if "_target_" in group:
        return [build(group)]
    return [build(entry) for entry in group.values() if entry is not None]


def build_datamodule(cfg: DictConfig) -> Any:
    """Build `cfg.data`; `num_classes` and `class_names` left null are filled from the data (a CSV's
    labels, say), once, here.

    The model and its network read `${data.num_classes}` and `${data.class_names}`: filling them here
    sizes every model to the dataset and names its classes, with no other route for either.
    """
    from omegaconf import open_dict

    datamodule = build(cfg.data)
    with open_dict(cfg):
        for key in ("num_classes", "class_names"):
            if cfg.data.get(key) is None:
                cfg.data[key] = getattr(datamodule, key)
    return datamodule


def build_model(cfg: DictConfig, **kwargs: Any) -> Any:
    """Build `cfg.model`, recording its network's resolved config so checkpoints can rebuild it."""
    from omegaconf import OmegaConf

    model = build(cfg.model, **kwargs)
    net_config = OmegaConf.to_container(cfg.model.net, resolve=True)
    if "weights" in net_config:  # rebuilt from a checkpoint, the trained tensors replace any download
        net_config["weights"] = None
    model.record_net_config(net_config)
    return model
