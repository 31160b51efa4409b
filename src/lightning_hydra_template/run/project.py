"""Where the project lives on disk; configs interpolate `${oc.env:PROJECT_ROOT}` from here."""

import os
from pathlib import Path

# src/<package>/run/project.py -> the repository root (the package is installed editable).
PROJECT_ROOT = Path(__file__).resolve().parents[3]
CONFIG_DIR = PROJECT_ROOT / "configs"


def export_project_root() -> None:
    """Make `${oc.env:PROJECT_ROOT}` resolve, unless the user has set it."""
    os.environ.setdefault("PROJECT_ROOT", str(PROJECT_ROOT))
