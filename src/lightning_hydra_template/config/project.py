"""Where the project lives on disk; configs interpolate `${oc.env:PROJECT_ROOT}` from here.

In a checkout (installed editable, as the README does) that is the repository: its `configs/`,
and `logs/` and `data/` beside them. Installed from a wheel (`pip install .`), the configs come
with the package, and runs and data go under the folder the command runs in.
"""

import os
from pathlib import Path

_CHECKOUT = Path(__file__).resolve().parents[3]  # src/<package>/config/project.py -> the repository
if (_CHECKOUT / "configs").is_dir() and (_CHECKOUT / "pyproject.toml").is_file():
    PROJECT_ROOT = _CHECKOUT
    CONFIG_DIR = PROJECT_ROOT / "configs"
else:
    PROJECT_ROOT = Path.cwd()
    CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs"  # shipped in the wheel


def export_project_root() -> None:
    """Make `${oc.env:PROJECT_ROOT}` resolve, unless the user has set it."""
    os.environ.setdefault("PROJECT_ROOT", str(PROJECT_ROOT))
