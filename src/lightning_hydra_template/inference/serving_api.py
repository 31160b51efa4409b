"""A trained classifier as a LitServe API: an uploaded image in, its top-k classes out, requests batched.

The HTTP server reads each upload and checks that Pillow decodes it, so a bad upload is answered 400
on its own and never joins a batch that other requests share (LitServe fails a whole batch when one
input raises). The inference worker then decodes it as training did (`Predictor.to_pixels`),
classifies the batch in one forward pass and describes each answer (`Predictor.describe`).
"""

import io
import signal
from collections.abc import Callable
from typing import Annotated, Any

import litserve as ls
import torch
from fastapi import Depends, HTTPException, Request
from fastapi.responses import JSONResponse
from PIL import Image, UnidentifiedImageError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

FORM_FIELDS = ("image", "file")  # the names a multipart upload may use


async def uploaded_image(request: Request) -> bytes:
    """The image's bytes: a multipart form's `image` (or `file`) field, else the whole request body."""
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        form = await request.form()
        upload = next((form[name] for name in FORM_FIELDS if name in form), None)
        if upload is None or isinstance(upload, str):
            raise HTTPException(400, "the multipart form has no file field named image or file")
        data = await upload.read()
    else:
        data = await request.body()
    # Decoding is CPU work: in a thread, so the event loop goes on accepting other requests.
    await run_in_threadpool(check_image, data)
    return data


def check_image(data: bytes) -> None:
    """An HTTPException 400 unless Pillow decodes `data` completely."""
    if not data:
        raise HTTPException(400, "the request holds no image: send it as the body or as form field image")
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()  # the pixels too: a truncated file opens, and fails only here
    except Exception as error:  # Pillow raises many types for foreign bytes (OSError, SyntaxError, ...)
        reason = "not a format it knows" if isinstance(error, UnidentifiedImageError) else str(error)
        raise HTTPException(400, f"the request body is not an image Pillow can read ({reason})") from None


# As the type of `decode_request`'s argument, this tells LitServe (through FastAPI) to hand the
# worker `uploaded_image(request)`, plain bytes, instead of the request parsed as JSON.
ImageUpload = Annotated[bytes, Depends(uploaded_image)]


async def error_as_json(request: Request, error: StarletteHTTPException) -> JSONResponse:
    """Every HTTP error, ours and LitServe's (504 timeout, 500), as `{"error": message}`."""
    return JSONResponse({"error": error.detail}, status_code=error.status_code, headers=error.headers)


class ClassifierAPI(ls.LitAPI):
    """`load(device)` gives the model: a `Predictor`, or an `OnnxPredictor` for an exported model.

    Each request is carried as a batch of one (`[1, C, size, size]`), so the same methods serve
    whether LitServe batches (`max_batch_size` > 1: batch, predict, unbatch) or not (predict alone).
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

    def decode_request(self, request: ImageUpload) -> torch.Tensor:
        with Image.open(io.BytesIO(request)) as image:
            return self.predictor.to_pixels(image)[None]

    def batch(self, inputs: list[torch.Tensor]) -> torch.Tensor:
        return torch.cat(inputs)

    def predict(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.predictor.probabilities(pixels)

    def unbatch(self, probabilities: torch.Tensor) -> list[torch.Tensor]:
        return list(probabilities.cpu().split(1))

    def encode_response(self, probabilities: torch.Tensor) -> dict[str, Any]:
        [answer] = self.predictor.describe(probabilities, self.top_k)
        return answer
