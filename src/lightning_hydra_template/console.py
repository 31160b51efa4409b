"""What a run prints with rich (the config tree, the summary table) also goes into its log file.

They are printed rather than logged, for their layout; the file gets a plain-text copy. Teeing
rich's console instead would also catch the progress bar, which shares that console and redraws.
"""

import io
import logging
from typing import Any


def copy_into_log_file(renderable: Any, title: str) -> None:
    """Write `renderable` as plain text into the files the root logger writes (Hydra's `<task>.log`)."""
    files = [h for h in logging.getLogger().handlers if isinstance(h, logging.FileHandler)]
    if not files:
        return
    from rich.console import Console

    text = io.StringIO()
    Console(file=text, width=110, color_system=None, force_terminal=False).print(renderable)
    record = logging.LogRecord(
        __name__, logging.INFO, __file__, 0, "%s\n%s", (title, text.getvalue().rstrip()), None
    )
    for handler in files:  # not the console handler: the console showed the rich version already
        handler.handle(record)
