"""The notebooks run top to bottom in a real Jupyter kernel, as `jupyter lab` would run them."""

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from lightning_hydra_template.config.project import PROJECT_ROOT

from .helpers import write_fake_fashion_mnist

NOTEBOOKS = sorted((PROJECT_ROOT / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs_in_a_kernel(notebook: Path, tmp_path, monkeypatch):
    # Enough training images for the default 5000-image validation split; the kernel inherits DATA_DIR.
    monkeypatch.setenv("DATA_DIR", str(write_fake_fashion_mnist(tmp_path, n_train=5200)))
    executed = nbformat.reads(notebook.read_text(), as_version=4)
    # Raises CellExecutionError, with the cell and its traceback, when a cell fails.
    NotebookClient(
        executed, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    outputs = [o.get("text", "") for cell in executed.cells if cell.cell_type == "code" for o in cell.outputs]
    assert "->" in "".join(outputs)  # the last cell printed its predictions
