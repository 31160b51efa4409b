"""What Lightning prints: its log records through Hydra's handlers only, without upstream noise."""

import logging
import warnings


def route_lightning_logs_to_hydra() -> None:
    """Drop the console handler `import lightning` adds, which printed every message twice.

    Lightning's logger also propagates to the root logger, where Hydra's console and file
    handlers already print and keep each record.
    """
    if logging.getLogger().hasHandlers():
        lightning_logger = logging.getLogger("lightning")
        for handler in list(lightning_logger.handlers):
            if type(handler) is logging.StreamHandler:
                lightning_logger.removeHandler(handler)


def hide_upstream_deprecation_noise() -> None:
    """Silence deprecation warnings about Lightning's own code, which a user can do nothing about.

    Lightning 2.6 still builds torch's `LeafSpec`, deprecated by newer torch; the warning came
    once per run, with a path inside site-packages. Other warnings are untouched.
    """
    warnings.filterwarnings(
        "ignore", message=r"`isinstance\(treespec, LeafSpec\)` is deprecated", category=FutureWarning
    )
