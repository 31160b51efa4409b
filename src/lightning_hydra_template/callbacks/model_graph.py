"""TensorBoard's Graphs tab: the network, traced once on one training image."""

import contextlib
import io
import logging
import warnings
from collections.abc import Iterator

import lightning as L
import torch
from torch import nn

from .tensorboard_writer import tensorboard_writer

log = logging.getLogger(__name__)


class ModelGraph(L.Callback):
    """At the first training batch of a run, `add_graph` of the network on the batch's first image.

    A network the tracer cannot follow is skipped with a debug message: the graph is a view, not a
    reason to stop training.
    """

    def __init__(self) -> None:
        self._done = False

    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch: tuple, batch_idx: int
    ) -> None:
        if self._done:
            return
        self._done = True
        writer = tensorboard_writer(trainer)
        if writer is None:
            return
        net = getattr(pl_module, "net", pl_module)
        example = batch[0][:1]
        if getattr(pl_module, "channels_last", False):
            example = example.contiguous(memory_format=torch.channels_last)
        try:
            # The tracer prints its errors and warns of its own deprecation: neither is the user's concern.
            with _left_as_it_was(net), torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                with contextlib.redirect_stdout(io.StringIO()):
                    writer.add_graph(net, example)
        except Exception as error:  # any tracer failure: see the docstring
            log.debug("No model graph in TensorBoard: tracing %s failed: %s", type(net).__name__, error)


@contextlib.contextmanager
def _left_as_it_was(net: nn.Module) -> Iterator[None]:
    """Trace the plain network, and give every module back its own train/eval mode afterwards.

    `add_graph` traces in eval mode, then sets the whole network to training, which would
    unfreeze frozen batch norms (model.freeze); and a compiled network (model.compile) cannot be
    traced, so its compiled call is set aside for the trace.
    """
    modes = [(module, module.training) for module in net.modules()]
    compiled = getattr(net, "_compiled_call_impl", None)
    if compiled is not None:
        net._compiled_call_impl = None
    try:
        yield
    finally:
        if compiled is not None:
            net._compiled_call_impl = compiled
        for module, training in modes:
            module.training = training
