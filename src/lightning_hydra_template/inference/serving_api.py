"""A trained classifier as a LitServe API: an uploaded image in, its top-k classes out, requests batched.

The HTTP server reads each upload and checks that Pillow decodes it, so a bad upload is answered 400
on its own and never joins a batch that other requests share (LitServe fails a whole batch when one
input raises). The inference worker then decodes it as training did (`Predictor.to_pixels`),
classifies the batch in one forward pass and describes each answer (`Predictor.describe`).
"""

import asyncio
import io
import signal
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Annotated, Any

import litserve as ls
import torch
from fastapi import Depends, HTTPException, Request
from fastapi.responses import JSONResponse
from PIL import Image, UnidentifiedImageError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.formparsers import MultiPartException, MultiPartParser

from ..data.image_files import to_8_bit
from ..errors import DataError

FORM_FIELDS = ("image", "file")  # the names a multipart upload may use


@dataclass
class UploadLimits:
    """What one request may cost the HTTP server: bytes read, pixels decoded, decodes at once.

    A 419 KB PNG of 12000x12000 pixels decodes into about 680 MB: without these, a handful of
    requests exhausts the host's memory. Set on the app as `app.state.upload_limits`.
    """

    max_body_bytes: int = 20 * 2**20
    max_pixels: int = 25_000_000
    max_decodes: int = 4
    slots: asyncio.Semaphore = field(init=False)

    def __post_init__(self) -> None:
        self.slots = asyncio.Semaphore(self.max_decodes)


@dataclass
class Upload:
    """One request's image bytes and the number of classes its answer names."""

    data: bytes
    top_k: int | None  # None: the server's top_k


async def uploaded_image(request: Request) -> Upload:
    """The image's bytes (a multipart form's one `image` or `file` field, else the whole body) and
    the request's `top_k`; an HTTP 413 or 400 when the upload is too large or not one image."""
    limits: UploadLimits = getattr(request.app.state, "upload_limits", None) or UploadLimits()
    body = await read_body(request, limits.max_body_bytes)
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        data = await form_image(request, body)
    else:
        data = body
    # Decoding is CPU work: in a thread, so the event loop goes on accepting other requests; at
    # most max_decodes at once, so memory stays bounded however many requests arrive together.
    async with limits.slots:
        await run_in_threadpool(check_image, data, limits.max_pixels)
    return Upload(data, requested_top_k(request))


async def read_body(request: Request, limit: int) -> bytes:
    """The request's body, read no further than `limit` bytes (a 413 past it)."""
    too_large = HTTPException(
        413, f"the request is larger than the server's limit of {limit} bytes (max_body_mb)"
    )
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


async def form_image(request: Request, body: bytes) -> bytes:
    """The one file of a multipart form already read into `body`."""

    async def once() -> AsyncIterator[bytes]:
        yield body

    try:
        form = await MultiPartParser(request.headers, once(), max_files=8, max_fields=8).parse()
    except MultiPartException as error:
        raise HTTPException(400, f"the multipart form does not parse ({error.message})") from None
    files = [(name, value) for name, value in form.multi_items() if not isinstance(value, str)]
    if len(files) > 1:
        names = ", ".join(name for name, _ in files)
        raise HTTPException(400, f"the form holds {len(files)} files ({names}): send one image per request")
    if not files or files[0][0] not in FORM_FIELDS:
        raise HTTPException(400, "the multipart form has no file field named image or file")
    return await files[0][1].read()


def requested_top_k(request: Request) -> int | None:
    """`?top_k=N` on the URL: how many classes this answer names."""
    text = request.query_params.get("top_k")
    if text is None:
        return None
    if not text.isdigit() or int(text) < 1:
        raise HTTPException(400, f"top_k={text!r} must be a positive integer")
    return int(text)


def check_image(data: bytes, max_pixels: int | None = None) -> None:
    """An HTTPException 400 unless Pillow decodes `data` completely (413 past `max_pixels`)."""
    if not data:
        raise HTTPException(400, "the request holds no image: send it as the body or as form field image")
    try:
        with Image.open(io.BytesIO(data)) as image:
            if max_pixels and image.width * image.height > max_pixels:  # read from the header alone
                raise HTTPException(
                    413,
                    f"the image is {image.width}x{image.height} pixels, more than the server's limit of "
                    f"{max_pixels} (max_pixels)",
                )
            image.load()  # the pixels too: a truncated file opens, and fails only here
            to_8_bit(image)  # pixels out of the range their mode is read in: refused here
    except HTTPException:
        raise
    except DataError as error:
        raise HTTPException(400, str(error)) from None
    except Exception as error:  # Pillow raises many types for foreign bytes (OSError, SyntaxError, ...)
        reason = "not a format it knows" if isinstance(error, UnidentifiedImageError) else str(error)
        raise HTTPException(400, f"the request body is not an image Pillow can read ({reason})") from None


# As the type of `decode_request`'s argument, this tells LitServe (through FastAPI) to hand the
# worker `uploaded_image(request)`, an `Upload`, instead of the request parsed as JSON.
ImageUpload = Annotated[Upload, Depends(uploaded_image)]


async def error_as_json(request: Request, error: StarletteHTTPException) -> JSONResponse:
    """Every HTTP error, ours and LitServe's (504 timeout, 500), as `{"error": message}`."""
    return JSONResponse({"error": error.detail}, status_code=error.status_code, headers=error.headers)


class ClassifierAPI(ls.LitAPI):
    """`load(device)` gives the model: a `Predictor`, or an `OnnxPredictor` for an exported model.

    Each request is carried as a batch of one (`[1, C, size, size]` pixels and its `top_k` in a list
    of one), so the same methods serve whether LitServe batches (`max_batch_size` > 1: batch,
    predict, unbatch) or not (predict alone).
    """

    def __init__(
        self, load: Callable[[str], Any], top_k: int, max_batch_size: int, batch_timeout: float
    ) -> None:
        super().__init__(max_batch_size=max_batch_size, batch_timeout=batch_timeout)
        self.load, self.top_k = load, top_k

    def setup(self, device: str) -> None:
        # Ctrl+C reaches every process of the terminal's group; the main process stops this worker
        # itself, which LitServe's loop, interrupted, would do with a KeyboardInterrupt traceback.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        self.predictor = self.load(device)

    def decode_request(self, request: ImageUpload) -> dict[str, Any]:
        with Image.open(io.BytesIO(request.data)) as image:
            pixels = self.predictor.to_pixels(image)[None]
        return {"pixels": pixels, "top_k": [request.top_k or self.top_k]}

    def batch(self, inputs: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "pixels": torch.cat([one["pixels"] for one in inputs]),
            "top_k": [k for one in inputs for k in one["top_k"]],
        }

    def predict(self, batch: dict[str, Any]) -> dict[str, Any]:
        return {"probabilities": self.predictor.probabilities(batch["pixels"]), "top_k": batch["top_k"]}

    def unbatch(self, output: dict[str, Any]) -> list[dict[str, Any]]:
        rows = output["probabilities"].cpu().split(1)
        return [{"probabilities": row, "top_k": [k]} for row, k in zip(rows, output["top_k"])]

    def encode_response(self, output: dict[str, Any]) -> dict[str, Any]:
        [answer] = self.predictor.describe(output["probabilities"], output["top_k"][0])
        return answer
