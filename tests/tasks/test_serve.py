"""serve.py: a trained model over HTTP (LitServe), answering as `Predictor.classify` does, in batches."""

import io
import json
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from lightning_hydra_template.errors import ConfigError
from lightning_hydra_template.inference.predictor import Predictor
from lightning_hydra_template.inference.serving_api import ClassifierAPI
from lightning_hydra_template.tasks.serve import check_options, model_loader
from lightning_hydra_template.tasks.train import train

from ..helpers import fake_images, free_port, run, start, stop

SMALL_CNN = ["experiment=cnn", "model.net.channels=[8,16]", "model.net.hidden_size=16"]
TOP_K = 4
READY_WITHIN_S = 180  # a cold start imports torch in three processes; the machines here are shared


def png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels, "L").save(buffer, format="PNG")
    return buffer.getvalue()


def rgb_jpeg(seed: int) -> bytes:
    """Another size and mode than training's: the server converts and resizes it as training did."""
    pixels = np.random.default_rng(seed).integers(0, 256, (30, 40, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(buffer, format="JPEG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def uploads() -> list[bytes]:
    """Ten grey PNGs of the fake classes and two RGB JPEGs of another size."""
    return [png(image) for image in fake_images(np.arange(10), seed=3)] + [rgb_jpeg(0), rgb_jpeg(1)]


def post(url: str, data: bytes, field: str | None = None) -> tuple[int, dict]:
    """POST `data` as the whole body (as `curl --data-binary` sends it) or as the multipart form field
    `field` (as `curl -F`); the status and the JSON answer."""
    content_type = "application/x-www-form-urlencoded"  # curl's default for --data-binary
    if field:
        boundary = uuid.uuid4().hex
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="upload"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        )
        data = head.encode() + data + f"\r\n--{boundary}--\r\n".encode()
        content_type = f"multipart/form-data; boundary={boundary}"
    request = urllib.request.Request(url, data=data, headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def assert_same_answer(answer: dict, expected: dict, tolerance: float = 1e-5) -> None:
    """The same label and top-k; probabilities to float32 precision (batches of other sizes)."""
    assert answer["label"] == expected["label"]
    assert [name for name, _ in answer["top_k"]] == [name for name, _ in expected["top_k"]]
    assert [p for _, p in answer["top_k"]] == pytest.approx([p for _, p in expected["top_k"]], abs=tolerance)
    assert answer["confidence"] == answer["top_k"][0][1]


@contextmanager
def serving(tmp_path: Path, *overrides: str) -> Iterator[str]:
    """`python serve.py *overrides` on a free port: its /predict URL once /health answers.

    Afterwards the server is stopped with SIGTERM, which must end it cleanly, with every worker.
    """
    port = free_port()
    log = tmp_path / f"serve-{port}.log"
    server = start("serve.py", *overrides, f"port={port}", f"hydra.run.dir={tmp_path / 'serve'}", output=log)
    try:
        wait_until_healthy(server, f"http://127.0.0.1:{port}/health", log)
        yield f"http://127.0.0.1:{port}/predict"
    finally:
        returncode, left = stop(server)
    assert returncode == 0 and not left, f"SIGTERM left {left}, exit {returncode}:\n{log.read_text()[-3000:]}"
    assert "Traceback" not in log.read_text()


def wait_until_healthy(server, url: str, log: Path) -> None:
    deadline = time.monotonic() + READY_WITHIN_S
    while time.monotonic() < deadline:
        assert server.poll() is None, f"serve.py exited with {server.returncode}:\n{log.read_text()[-3000:]}"
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:  # not listening yet, or workers still loading (503)
            pass
        time.sleep(0.5)
    raise AssertionError(f"{url} not healthy within {READY_WITHIN_S} s:\n{log.read_text()[-3000:]}")


# --- In process: the options and the API's batch contract ----------------------------------------


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("host=localhost", "LitServe listens on one of"),
        ("port=80", "port=80 must be from 1024 to 65535"),
        ("device=tpu", "choose auto, cpu, cuda"),
        ("max_batch_size=0", "max_batch_size=0 must be a positive integer"),
        ("batch_timeout=-1", "batch_timeout=-1 must be 0 or more seconds"),
        pytest.param(
            "device=cuda",
            "PyTorch sees no GPU",
            marks=pytest.mark.skipif(torch.cuda.is_available(), reason="GPU"),
        ),
    ],
)
def test_a_bad_option_is_one_line_before_anything_loads(compose_config, override, message):
    cfg = compose_config(["ckpt_path=best.ckpt", override], "serve", fast=False)
    with pytest.raises(ConfigError, match=message):
        check_options(cfg)


def test_exactly_one_of_a_checkpoint_and_an_onnx_model_is_served(compose_config):
    for overrides in ([], ["ckpt_path=best.ckpt", "model_path=model.onnx"]):
        with pytest.raises(ConfigError, match="exactly one"):
            model_loader(compose_config(overrides, "serve", fast=False))


def test_the_api_answers_a_batch_of_requests_as_predictor_classify(compose_config, uploads):
    """What LitServe calls, in its order: decode each request, batch, predict, unbatch, encode each."""
    checkpoint = train(compose_config(SMALL_CNN))["best_checkpoint"]
    api = ClassifierAPI(None, TOP_K, max_batch_size=8, batch_timeout=0.0)
    api.predictor = Predictor.from_checkpoint(checkpoint, device="cpu")  # what setup() loads
    batch = api.batch([api.decode_request(data) for data in uploads])
    answers = [api.encode_response(p) for p in api.unbatch(api.predict(batch))]
    expected = api.predictor.classify([Image.open(io.BytesIO(data)) for data in uploads], top_k=TOP_K)
    assert batch.shape == (len(uploads), 1, 28, 28) and batch.dtype == torch.uint8
    for answer, want in zip(answers, expected):
        assert_same_answer(answer, want)
    # Without batching (max_batch_size=1) LitServe calls predict on one decoded request alone.
    alone = api.encode_response(api.predict(api.decode_request(uploads[0])))
    assert_same_answer(alone, expected[0])


# --- A real server on localhost ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def trained_run(fake_data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    run_dir = tmp_path_factory.mktemp("serve") / "train"
    training = [*SMALL_CNN, "debug=fast", "data.val_size=100", "trainer.accelerator=cpu"]
    result = run("train.py", *training, f"hydra.run.dir={run_dir}", data_dir=fake_data_dir)
    assert result.returncode == 0, result.stderr[-3000:]
    return run_dir


@pytest.fixture(scope="module")
def expected(trained_run: Path, uploads: list[bytes]) -> list[dict]:
    """What `Predictor.classify` says of each upload: what the server must answer."""
    predictor = Predictor.from_checkpoint(trained_run / "checkpoints" / "best.ckpt", device="cpu")
    return predictor.classify([Image.open(io.BytesIO(data)) for data in uploads], top_k=TOP_K)


@pytest.fixture(scope="module")
def server(trained_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    checkpoint = trained_run / "checkpoints" / "best.ckpt"
    with serving(tmp_path_factory.mktemp("server"), f"ckpt_path={checkpoint}", f"top_k={TOP_K}") as url:
        yield url


@pytest.mark.slow
def test_multipart_and_raw_uploads_answer_as_predictor_classify(server, uploads, expected):
    for data, want in zip(uploads, expected):
        for field in ("image", "file", None):
            status, answer = post(server, data, field)
            assert status == 200, answer
            assert_same_answer(answer, want)


@pytest.mark.slow
def test_concurrent_requests_each_get_their_own_answer_and_bad_ones_spoil_no_batch(server, uploads, expected):
    """Requests arriving together are classified in batches; a non-image among them is refused
    on its own (400) and the images around it are still answered."""
    jobs = [
        (uploads[i % len(uploads)], field, expected[i % len(uploads)])
        for i, field in enumerate(["image", None] * 16)
    ]
    jobs[5:5] = [(b"not an image", None, None), (uploads[0][:100], "image", None)]  # a truncated PNG
    with ThreadPoolExecutor(len(jobs)) as pool:
        replies = list(pool.map(lambda job: post(server, job[0], job[1]), jobs))
    for (_, _, want), (status, answer) in zip(jobs, replies):
        if want is None:
            assert status == 400 and "is not an image Pillow can read" in answer["error"]
        else:
            assert status == 200, answer
            assert_same_answer(answer, want)


@pytest.mark.slow
def test_what_is_not_an_image_gets_a_400_with_a_json_error(server, uploads):
    for data, field, message in [
        (b"GIF89a but not really", None, "is not an image Pillow can read"),
        (uploads[0][:100], None, "is not an image Pillow can read"),  # truncated
        (b"", None, "holds no image"),
        (uploads[0], "photo", "no file field named image or file"),
    ]:
        status, answer = post(server, data, field)
        assert status == 400 and set(answer) == {"error"} and message in answer["error"]


@pytest.mark.slow
def test_an_exported_onnx_model_serves_the_same_answers(
    trained_run, fake_data_dir, uploads, expected, tmp_path
):
    checkpoint = trained_run / "checkpoints" / "best.ckpt"
    exported = run(
        "export.py", f"ckpt_path={checkpoint}", f"hydra.run.dir={tmp_path / 'export'}", data_dir=fake_data_dir
    )
    assert exported.returncode == 0, exported.stderr[-3000:]
    with serving(tmp_path, f"model_path={trained_run / 'model.onnx'}", f"top_k={TOP_K}") as url:
        for data, want in zip(uploads, expected):
            status, answer = post(url, data, "image")
            assert status == 200, answer
            assert_same_answer(answer, want, tolerance=1e-4)  # export.py's parity bound


@pytest.mark.slow
def test_a_missing_checkpoint_stops_with_one_line_and_exit_1(tmp_path):
    result = run("serve.py", f"ckpt_path={tmp_path / 'nope.ckpt'}", f"hydra.run.dir={tmp_path / 'serve'}")
    output = result.stdout + result.stderr
    assert result.returncode == 1 and "Traceback" not in output
    [line] = output.strip().splitlines()
    assert "Serving stopped" in line and "nope.ckpt does not exist" in line
