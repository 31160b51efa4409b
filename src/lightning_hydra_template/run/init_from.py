"""`init_from=<checkpoint>`: start a new run from an earlier run's network weights.

Unlike `ckpt_path` (resume: the same run, its optimizer and epoch), only the network's tensors are
taken, those whose name and shape match; the rest (a head sized for other classes) keep their
fresh initialisation, and the run starts at epoch 0 with a new optimizer.
"""

import logging
from pathlib import Path

from torch import nn

from ..checkpoints.file import NET
from ..errors import ConfigError

log = logging.getLogger(__name__)


def initialise_from(model: nn.Module, path: str | Path) -> dict[str, list[str]]:
    """Copy the matching network tensors of checkpoint `path` into `model`; say what was skipped."""
    from ..checkpoints.file import load_checkpoint

    saved = load_checkpoint(path)["state_dict"]
    own = {name: tensor for name, tensor in model.state_dict().items() if name.startswith(NET)}
    matched = {n: saved[n] for n, t in own.items() if n in saved and saved[n].shape == t.shape}
    report = {
        "copied": sorted(matched),
        "reshaped": [
            f"{n} {tuple(saved[n].shape)} -> {tuple(t.shape)}"
            for n, t in own.items()
            if n in saved and n not in matched
        ],
        "missing": sorted(n for n in own if n not in saved),
    }
    if not matched:
        raise ConfigError(
            f"init_from={path} shares no tensor (by name and shape) with this model's network: it was "
            "trained with another network. Use a checkpoint of the same model config."
        )
    model.load_state_dict(matched, strict=False)
    log.info("init_from=%s: copied %d of %d network tensors", path, len(matched), len(own))
    skipped = report["reshaped"] + report["missing"]
    if skipped:
        log.warning(
            "init_from: %d tensors keep their fresh initialisation: %s", len(skipped), "; ".join(skipped[:6])
        )
    return report
