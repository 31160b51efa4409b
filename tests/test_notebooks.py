"""The notebooks run top to bottom (code cells executed in order, as a kernel would)."""

import json
from pathlib import Path

import pytest

from lightning_hydra_template.config.project import PROJECT_ROOT

from .helpers import write_fake_fashion_mnist

NOTEBOOKS = sorted((PROJECT_ROOT / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs(notebook: Path, tmp_path, monkeypatch, capsys):
    # Enough training images for the default 5000-image validation split.
    monkeypatch.setenv("DATA_DIR", str(write_fake_fashion_mnist(tmp_path, n_train=5200)))
    cells = json.loads(notebook.read_text())["cells"]
    namespace: dict = {}
    for cell in cells:
        if cell["cell_type"] == "code":
            exec(compile("".join(cell["source"]), f"{notebook.name}", "exec"), namespace)
    assert "->" in capsys.readouterr().out  # the last cell printed its predictions
