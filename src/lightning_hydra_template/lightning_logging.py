"""Send Lightning's log records through Hydra's handlers only (console and the run's log file)."""

import logging


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
