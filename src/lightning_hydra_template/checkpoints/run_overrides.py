"""The overrides that made a run, kept in each of its checkpoints: the file alone can rebuild the run.

A run folder's `.hydra/overrides.yaml` says the same; a checkpoint copied elsewhere (to another
machine, or shared with a colleague) loses its folder, so resume and `eval.py` read it from here.
"""

from typing import Any

CHECKPOINT_KEY = "run_overrides"
# Beside them, where the run ran and from which code (run/provenance.py `checkpoint_provenance`).
PROVENANCE_KEY = "run_provenance"
_NOT_REPLAYED = ("ckpt_path",)  # what the next invocation names itself


def replayable(overrides: list[str]) -> list[str]:
    """`overrides` without the ones a later invocation gives itself (the checkpoint to start from)."""
    return [o for o in overrides if o.split("=", 1)[0].lstrip("+~") not in _NOT_REPLAYED]


def saved_overrides(checkpoint: dict[str, Any]) -> list[str] | None:
    """The overrides a checkpoint recorded (plain strings), or None for checkpoints that hold none."""
    overrides = checkpoint.get(CHECKPOINT_KEY)
    return [str(o) for o in overrides] if isinstance(overrides, list) else None
