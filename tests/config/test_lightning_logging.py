import logging
import warnings

from lightning_hydra_template.config.lightning_logging import (
    hide_upstream_deprecation_noise,
    route_lightning_logs_to_hydra,
)

# As torch words it (torch/utils/_pytree.py).
LEAFSPEC = (
    "`isinstance(treespec, LeafSpec)` is deprecated, "
    "use `isinstance(treespec, TreeSpec) and treespec.is_leaf()` instead."
)


def test_lightnings_leafspec_deprecation_is_hidden_and_other_warnings_are_not():
    with warnings.catch_warnings(record=True) as shown:
        warnings.simplefilter("always")
        hide_upstream_deprecation_noise()
        warnings.warn(LEAFSPEC, FutureWarning, stacklevel=1)
        warnings.warn("something else is deprecated", FutureWarning, stacklevel=1)
    assert [str(w.message) for w in shown] == ["something else is deprecated"]


def test_lightning_records_reach_the_root_handlers_once():
    lightning_logger = logging.getLogger("lightning")
    console = logging.StreamHandler()
    lightning_logger.addHandler(console)  # what `import lightning` does
    root_handler = logging.NullHandler()
    logging.getLogger().addHandler(root_handler)  # what Hydra does
    try:
        route_lightning_logs_to_hydra()
        assert console not in lightning_logger.handlers
        assert lightning_logger.propagate
    finally:
        logging.getLogger().removeHandler(root_handler)
        lightning_logger.removeHandler(console)
