"""Installed from a wheel (`pip install .`, not editable), the tasks find their configs and run."""

import os
import subprocess
import sys

import pytest

from lightning_hydra_template.config.project import CONFIG_DIR, PROJECT_ROOT


def test_a_checkout_uses_its_own_configs():
    assert CONFIG_DIR == PROJECT_ROOT / "configs" and (CONFIG_DIR / "train.yaml").is_file()


@pytest.mark.slow
def test_a_wheel_carries_the_configs_and_trains_from_any_folder(tmp_path, fake_data_dir):
    wheels, site, elsewhere = tmp_path / "wheels", tmp_path / "site", tmp_path / "elsewhere"
    pip = [sys.executable, "-m", "pip", "-q"]
    subprocess.run([*pip, "wheel", str(PROJECT_ROOT), "--no-deps", "--no-build-isolation", "-w", str(wheels)],
                   check=True, capture_output=True)  # fmt: skip
    [wheel] = wheels.glob("*.whl")
    subprocess.run(
        [*pip, "install", "--no-deps", "--target", str(site), str(wheel)], check=True, capture_output=True
    )
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site), "DATA_DIR": str(fake_data_dir)}
    env.pop("PROJECT_ROOT", None)
    result = subprocess.run(
        [sys.executable, "-m", "lightning_hydra_template.tasks.train", "experiment=mlp", "debug=fast",
         "data.val_size=100", "callbacks=none"],
        cwd=elsewhere, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    [run] = (elsewhere / "logs" / "train" / "runs").iterdir()  # runs go under the working folder
    assert (run / "metrics.json").is_file()
