"""serve.py: a trained model over HTTP (LitServe), answering as `Predictor.classify` does, in batches."""

import http.client
import io
import json
import socket
import time
import urllib.error
import urllib.parse
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
from starlette.exceptions import HTTPException as StarletteHTTPException

from lightning_hydra_template.errors import ConfigError, DataError
from lightning_hydra_template.inference.onnx_predictor import OnnxPredictor
from lightning_hydra_template.inference.predictor import Predictor
from lightning_hydra_template.inference.serving_api import ClassifierAPI, Upload
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


def post(url: str, data: bytes, field: str | None = None, *more_fields: str) -> tuple[int, dict]:
    """POST `data` as the whole body (as `curl --data-binary` sends it) or as the multipart form field
    `field` (as `curl -F`), repeated under `more_fields`; the status and the JSON answer."""
    content_type = "application/x-www-form-urlencoded"  # curl's default for --data-binary
    if field:
        boundary = uuid.uuid4().hex
        parts = [
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="upload"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n".encode()
            + data
            + b"\r\n"
            for name in (field, *more_fields)
        ]
        data = b"".join(parts) + f"--{boundary}--\r\n".encode()
        content_type = f"multipart/form-data; boundary={boundary}"
    request = urllib.request.Request(url, data=data, headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def declare_body(url: str, length: int) -> tuple[int, dict]:
    """Send only the headers of a POST that announces a `length`-byte body: what the server answers
    before a byte of the body arrives (a client sending it all would meet a closed connection)."""
    parsed = urllib.parse.urlsplit(url)
    with socket.create_connection((parsed.hostname, parsed.port), timeout=60) as connection:
        connection.sendall(
            f"POST {parsed.path} HTTP/1.1\r\nHost: {parsed.hostname}\r\n"
            f"Content-Type: application/octet-stream\r\nContent-Length: {length}\r\n\r\n".encode()
        )
        response = http.client.HTTPResponse(connection)
        response.begin()
        return response.status, json.loads(response.read())


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
        ("port=80", "port=80 must be an integer from 1024 to 65535"),
        ("port=abc", "port='abc' must be an integer from 1024 to 65535"),
        ("device=tpu", "choose auto, cpu, cuda"),
        ("max_batch_size=0", "max_batch_size=0 must be a positive integer"),
        ("batch_timeout=-1", "batch_timeout=-1 must be a number >= 0"),
        pytest.param(
            "device=cuda",
            "PyTorch sees no GPU",
            marks=pytest.mark.skipif(torch.cuda.is_available(), reason="GPU"),
        ),
    ],
)
def test_a_bad_option_is_one_line_before_anything_loads(compose_config, tmp_path, override, message):
    (tmp_path / "best.ckpt").touch()  # only the options are checked here, not the file
    cfg = compose_config([f"ckpt_path={tmp_path / 'best.ckpt'}", override], "serve", fast=False)
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
    batch = api.batch([api.decode_request(Upload(data, None)) for data in uploads])
    answers = [api.encode_response(p) for p in api.unbatch(api.predict(batch))]
    expected = api.predictor.classify([Image.open(io.BytesIO(data)) for data in uploads], top_k=TOP_K)
    assert batch["pixels"].shape == (len(uploads), 1, 28, 28) and batch["pixels"].dtype == torch.uint8
    for answer, want in zip(answers, expected):
        assert_same_answer(answer, want)
    # Without batching (max_batch_size=1) LitServe calls predict on one decoded request alone.
    alone = api.encode_response(api.predict(api.decode_request(Upload(uploads[0], 2))))
    assert_same_answer(alone, {**expected[0], "top_k": expected[0]["top_k"][:2]})


def encoded(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def test_an_upload_in_a_mode_of_more_than_8_bits_is_read_as_training_reads_it_or_refused():
    from fastapi import HTTPException

    from lightning_hydra_template.inference.serving_api import check_image

    grey = fake_images(np.arange(1), seed=3)[0]
    check_image(encoded(Image.fromarray(grey.astype(np.uint16) * 257), "PNG"))  # a 16-bit PNG: accepted
    check_image(encoded(Image.fromarray(grey.astype(np.float32) / 255, "F"), "TIFF"))  # floats in [0, 1]
    with pytest.raises(HTTPException) as refused:
        check_image(encoded(Image.fromarray(np.full((8, 8), 200.0, np.float32), "F"), "TIFF"))
    assert refused.value.status_code == 400 and "float pixels from 200 to 200" in refused.value.detail


def test_at_most_max_decodes_uploads_are_decoded_at_once(monkeypatch, uploads):
    import asyncio
    import threading

    import httpx
    from fastapi import FastAPI

    from lightning_hydra_template.inference import serving_api as classifier_api

    running, most = [0], [0]
    lock = threading.Lock()

    def slow_check(data: bytes, max_pixels: int | None = None) -> None:
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.05)
        with lock:
            running[0] -= 1

    monkeypatch.setattr(classifier_api, "check_image", slow_check)
    app = FastAPI()
    app.state.upload_limits = classifier_api.UploadLimits(max_decodes=2)

    @app.post("/predict")
    async def predict(upload: classifier_api.ImageUpload) -> dict:
        return {"bytes": len(upload.data)}

    async def send_many() -> list[int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            replies = await asyncio.gather(*[client.post("/predict", content=uploads[0]) for _ in range(12)])
        return [reply.status_code for reply in replies]

    assert asyncio.run(send_many()) == [200] * 12
    assert most[0] == 2


def test_a_body_sent_without_its_length_is_read_no_further_than_the_limit(uploads):
    import asyncio

    import httpx
    from fastapi import FastAPI

    from lightning_hydra_template.inference import serving_api

    app = FastAPI()
    app.add_exception_handler(StarletteHTTPException, serving_api.error_as_json)
    app.state.upload_limits = serving_api.UploadLimits(max_body_bytes=4096)
    sent = []

    @app.post("/predict")
    async def predict(upload: serving_api.ImageUpload) -> dict:
        return {"bytes": len(upload.data)}

    async def chunks():  # a streamed upload: no Content-Length, chunked transfer
        for _ in range(100):
            sent.append(1024)
            yield b"\0" * 1024

    async def send() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.post("/predict", content=chunks())

    reply = asyncio.run(send())
    assert reply.status_code == 413 and "limit of 4096 bytes" in reply.json()["error"]
    assert sum(sent) <= 8 * 1024  # the rest of the 100 KB was never read
    assert asyncio.run(send_one(app, uploads[0])) == 200


async def send_one(app, data: bytes) -> int:
    import httpx

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return (await client.post("/predict", content=data)).status_code


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
    limits = ["max_body_mb=0.5", f"max_pixels={1000 * 1000}"]
    with serving(
        tmp_path_factory.mktemp("server"), f"ckpt_path={checkpoint}", f"top_k={TOP_K}", *limits
    ) as url:
        yield url


@pytest.mark.slow
def test_a_body_or_an_image_over_the_limits_is_refused_with_a_413_before_decoding(server, uploads):
    status, answer = declare_body(server, 600 * 1024)  # over max_body_mb=0.5: refused before it is read
    assert status == 413 and "larger than the server's limit of 524288 bytes (max_body_mb)" in answer["error"]
    # 2000x2000 grey pixels: a 16 KB PNG that decodes into 4 MB, over max_pixels=1000000
    status, answer = post(server, png(np.zeros((2000, 2000), np.uint8)), "image")
    assert status == 413 and "is 2000x2000 pixels, more than the server's limit of 1000000" in answer["error"]
    assert post(server, uploads[0], "image")[0] == 200  # the server goes on


@pytest.mark.slow
def test_two_files_in_one_request_are_refused_not_one_silently_classified(server, uploads):
    status, answer = post(server, uploads[0], "image", "file")
    assert (
        status == 400
        and "the form holds 2 files (image, file): send one image per request" in answer["error"]
    )


@pytest.mark.slow
def test_top_k_can_be_asked_per_request(server, uploads, expected):
    status, answer = post(f"{server}?top_k=2", uploads[0], "image")
    assert status == 200 and len(answer["top_k"]) == 2
    assert answer["top_k"] == [pytest.approx(pair, abs=1e-5) for pair in expected[0]["top_k"][:2]]
    assert len(post(server, uploads[0], "image")[1]["top_k"]) == TOP_K  # the server's own top_k
    status, answer = post(f"{server}?top_k=abc", uploads[0], "image")
    assert status == 400 and "top_k='abc' must be a positive integer" in answer["error"]


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


def test_a_folder_given_as_model_path_is_named_as_a_folder(tmp_path):
    (tmp_path / "model.onnx").touch()
    with pytest.raises(
        DataError, match=f"model_path={tmp_path} is a folder, not an ONNX model file: e.g. model_path="
    ):
        OnnxPredictor.from_file(tmp_path)


@pytest.mark.slow
def test_a_missing_checkpoint_stops_with_one_line_and_exit_1(tmp_path):
    result = run("serve.py", f"ckpt_path={tmp_path / 'nope.ckpt'}", f"hydra.run.dir={tmp_path / 'serve'}")
    output = result.stdout + result.stderr
    assert result.returncode == 1 and "Traceback" not in output
    [line] = output.strip().splitlines()
    assert "Serving stopped" in line and "nope.ckpt does not exist" in line
