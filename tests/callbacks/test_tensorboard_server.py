"""The views as TensorBoard itself serves them: a real server over a real (DDP) run's folder."""

import io
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from PIL import Image

from ..helpers import free_port, run, start, stop

RUN = "tensorboard"  # the run's TensorBoard folder, as the server names it under --logdir
IMAGE_TAGS = {"samples/train", "confusion_matrix/val", "confusion_matrix/test", "misclassified/test"}


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read()


def fetch_json(url: str):
    return json.loads(fetch(url))


def wait_for(url: str, ready, timeout: float = 90):
    """Poll `url` until the server answers and `ready(answer)` holds (it loads event files lazily)."""
    deadline = time.monotonic() + timeout
    answer = None
    while time.monotonic() < deadline:
        try:
            answer = fetch_json(url)
            if ready(answer):
                return answer
        except (urllib.error.URLError, ConnectionError, json.JSONDecodeError):
            pass
        time.sleep(0.5)
    raise AssertionError(f"{url} did not get ready in {timeout} s; last answer: {answer}")


def train_two_processes(data_dir: Path, run_dir: Path) -> None:
    result = run(
        "train.py", "experiment=mlp", "debug=fast", "data.val_size=100", "model.net.hidden_sizes=[16]",
        "trainer=ddp_sim", f"hydra.run.dir={run_dir}", data_dir=data_dir,
    )  # fmt: skip
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]


@pytest.mark.slow
def test_tensorboard_serves_every_view_of_a_ddp_run(fake_data_dir, tmp_path):
    run_dir = tmp_path / "run"
    train_two_processes(fake_data_dir, run_dir)
    # Each process tested half of the 100 test images; the files count both halves.
    rows = (run_dir / "per_class.csv").read_text().splitlines()[1:]
    assert sum(int(row.rsplit(",", 1)[1]) for row in rows) == 100
    class_names = json.loads((run_dir / "metrics.json").read_text())["class_names"]

    port = free_port()
    server = start(
        "-m", "tensorboard.main", "--logdir", str(run_dir), "--port", str(port), "--host", "127.0.0.1",
        output=tmp_path / "tensorboard.log",
    )  # fmt: skip
    try:
        api = f"http://127.0.0.1:{port}/data/plugin"
        images = wait_for(f"{api}/images/tags", lambda a: set(a.get(RUN, {})) >= IMAGE_TAGS)
        assert set(images[RUN]) == IMAGE_TAGS
        query = urllib.parse.urlencode({"run": RUN, "tag": "confusion_matrix/test", "sample": 0})
        (entry,) = fetch_json(f"{api}/images/images?{query}")
        with Image.open(io.BytesIO(fetch(f"{api}/images/individualImage?{entry['query']}"))) as image:
            assert image.format == "PNG"

        curves = wait_for(f"{api}/pr_curves/tags", lambda a: RUN in a)
        assert set(curves[RUN]) == {f"pr_curve/{name}" for name in class_names}

        graphs = wait_for(f"{api}/graphs/info", lambda a: RUN in a)
        assert graphs[RUN]["run_graph"]

        assert RUN in wait_for(f"{api}/projector/runs", lambda a: RUN in a)
        config = fetch_json(f"{api}/projector/info?run={RUN}")
        (embedding,) = config["embeddings"]
        assert embedding["metadataPath"] and embedding["sprite"]["imagePath"]
        name = urllib.parse.quote(embedding["tensorName"])
        metadata = fetch(f"{api}/projector/metadata?run={RUN}&name={name}").decode().splitlines()
        assert metadata[0] == "label\tpredicted" and len(metadata) == 1 + 100  # both processes' images
        assert {row.split("\t")[0] for row in metadata[1:]} == set(class_names)
        with Image.open(io.BytesIO(fetch(f"{api}/projector/sprite_image?run={RUN}&name={name}"))) as sprite:
            assert sprite.format == "PNG"
    finally:
        stop(server)
