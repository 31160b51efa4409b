"""Every object of a run is built here from its config's `_target_`: the config tree is the registry."""

from typing import Any

from omegaconf import DictConfig

from ..errors import ConfigError


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


def build_loss(cfg: DictConfig, datamodule: Any = None) -> Any:
    """Build `cfg.loss` (None without one: the classifier's default cross-entropy).

    `class_weights: auto` becomes the list derived from the training split's class counts, here,
    once: written into `cfg.loss`, it is what the model records and every later process rebuilds.
    """
    from omegaconf import open_dict

    from ..loss.class_weights import balanced_class_weights, check_class_weights

    if cfg.get("loss") is None:
        return None
    weights = cfg.loss.get("class_weights")
    if weights == "auto":
        if datamodule is None or not hasattr(datamodule, "train_class_counts"):
            raise ConfigError(
                "loss.class_weights=auto needs a datamodule that counts its training split's classes; "
                "give loss.class_weights as a list of one weight per class."
            )
        counts = datamodule.train_class_counts(cfg.data.num_classes)
        with open_dict(cfg):
            cfg.loss.class_weights = balanced_class_weights(counts, cfg.data.class_names)
    elif weights is not None and not isinstance(weights, str):
        check_class_weights(weights, cfg.data.num_classes)
    return build(cfg.loss)


def build_model(cfg: DictConfig, datamodule: Any = None, **kwargs: Any) -> Any:
    """Build `cfg.model` with `cfg.loss`, recording the network's and the loss's resolved configs so
    checkpoints can rebuild them."""
    from omegaconf import OmegaConf

    loss = build_loss(cfg, datamodule)
    model = build(cfg.model, **({"loss": loss} if loss is not None else {}), **kwargs)
    net_config = OmegaConf.to_container(cfg.model.net, resolve=True)
    if "weights" in net_config:  # rebuilt from a checkpoint, the trained tensors replace any download
        net_config["weights"] = None
    model.record_net_config(net_config)
    if loss is not None:
        model.record_loss_config(OmegaConf.to_container(cfg.loss, resolve=True))
    return model
