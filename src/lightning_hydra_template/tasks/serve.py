"""Serving task: a trained model behind HTTP with LitServe, concurrent requests classified in batches.

python serve.py ckpt_path=logs/train/runs/<run>/checkpoints/best.ckpt
python serve.py model_path=logs/train/runs/<run>/model.onnx port=8080 max_batch_size=32
curl -F image=@shoe.png http://127.0.0.1:8000/predict
curl -F image=@shoe.png "http://127.0.0.1:8000/predict?top_k=5"
"""

import functools
import logging
import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from ..config.entry import task_main
from ..errors import ConfigError

log = logging.getLogger(__name__)
HOSTS = ("127.0.0.1", "0.0.0.0", "::")  # the addresses LitServe accepts
DEVICES = ("auto", "cpu", "cuda")  # LitServe's accelerators; auto: cuda when there is one


def check_options(cfg: DictConfig) -> None:
    """One line per bad option, before anything loads (LitServe's own checks raise tracebacks)."""
    from ..config.checks import check_config

    check_config(cfg)  # the numbers: port, top_k, max_batch_size, ...
    if cfg.host not in HOSTS:
        raise ConfigError(f"host={cfg.host}: LitServe listens on one of {', '.join(HOSTS)}.")
    if cfg.device not in DEVICES:
        raise ConfigError(f"device={cfg.device!r}: choose {', '.join(DEVICES)}.")
    if cfg.device == "cuda" and not _cuda_available():
        raise ConfigError("device=cuda, but PyTorch sees no GPU here; use device=auto or device=cpu.")


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def model_loader(cfg: DictConfig) -> Callable[[str], Any]:
    """`load(device)`: the checkpoint's `Predictor`, or an `OnnxPredictor` for an exported model.onnx."""
    if bool(cfg.ckpt_path) == bool(cfg.model_path):
        raise ConfigError(
            "Give ckpt_path=<run>/checkpoints/best.ckpt or model_path=<run>/model.onnx (exactly one)."
        )
    if cfg.model_path:
        from ..inference.onnx_predictor import OnnxPredictor

        return functools.partial(OnnxPredictor.from_file, str(Path(cfg.model_path).expanduser().resolve()))
    from ..inference.predictor import Predictor

    return functools.partial(Predictor.from_checkpoint, str(Path(cfg.ckpt_path).expanduser().resolve()))


def serve(cfg: DictConfig) -> None:
    """Serve `POST /predict` (and LitServe's `GET /health`) until Ctrl+C or SIGTERM."""
    check_options(cfg)
    load = model_loader(cfg)
    summary = load_once(load)
    server = lit_server(cfg, load)
    log.info(
        "Serving %s (%s) at http://%s:%s/predict, batches of up to %d requests within %g s",
        cfg.ckpt_path or cfg.model_path, summary, cfg.host, cfg.port, cfg.max_batch_size, cfg.batch_timeout,
    )  # fmt: skip
    stop_on_sigterm()
    server.run(host=cfg.host, port=int(cfg.port), generate_client_file=False)


def load_once(load: Callable[[str], Any]) -> str:
    """Load the model here first, and say what it takes.

    A missing or damaged file then stops with one line before any worker starts (a worker that
    fails its setup only makes LitServe shut down with a traceback).
    """
    model = load("cpu")  # the workers load their own, each on its device
    return f"{len(model.class_names)} classes, {model.channels}x{model.image_size}x{model.image_size} pixels"


def lit_server(cfg: DictConfig, load: Callable[[str], Any]) -> Any:
    """The LitServer for `ClassifierAPI`, every HTTP error answered as `{"error": message}`."""
    import litserve as ls
    from starlette.exceptions import HTTPException

    from ..inference.serving_api import ClassifierAPI, UploadLimits, error_as_json

    api = ClassifierAPI(load, int(cfg.top_k), int(cfg.max_batch_size), float(cfg.batch_timeout))
    server = ls.LitServer(api, accelerator=cfg.device, workers_per_device=int(cfg.workers_per_device))
    server.app.add_exception_handler(HTTPException, error_as_json)
    server.app.state.upload_limits = UploadLimits(
        max_body_bytes=int(float(cfg.max_body_mb) * 2**20),
        max_pixels=int(cfg.max_pixels),
        max_decodes=int(cfg.max_decodes),
    )
    return server


def stop_on_sigterm() -> None:
    """SIGTERM (kill, systemd, Kubernetes) stops the server as Ctrl+C does.

    LitServe then ends its worker processes instead of leaving them running without a parent. The
    HTTP servers it forks get the default handlers back: uvicorn catches both signals and re-raises
    them once it has stopped, which would otherwise print a KeyboardInterrupt traceback from each.
    """
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    os.register_at_fork(after_in_child=_default_signal_handlers)


def _default_signal_handlers() -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)


main = task_main(serve, config_name="serve", what="Serving")

if __name__ == "__main__":  # python -m lightning_hydra_template.tasks.serve, as from a wheel
    main()
