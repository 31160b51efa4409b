"""Loss and accuracy per epoch as a matplotlib figure, rendered to pixels.

Drawn on the Agg canvas directly, never through pyplot: no global list of figures to close, no
display needed, and nothing left behind when the figure object goes.
"""

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator


def epoch_curves(history: Mapping[int, Mapping[str, float]], panels: Sequence[str]) -> np.ndarray:
    """One panel per metric name (`loss`, `acc`): its `train/<name>` and `val/<name>` per epoch;
    `[H, W, 3]` uint8."""
    figure = Figure(figsize=(5 * len(panels), 3.6), dpi=100)
    FigureCanvasAgg(figure)
    epochs = sorted(history)
    for index, name in enumerate(panels, start=1):
        ax = figure.add_subplot(1, len(panels), index)
        for stage in ("train", "val"):
            points = [(e, history[e][f"{stage}/{name}"]) for e in epochs if f"{stage}/{name}" in history[e]]
            if points:
                xs, ys = zip(*points)
                ax.plot(xs, ys, marker="o", markersize=3, label=stage)
        ax.set_title(name)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend()
    figure.set_layout_engine("tight")
    figure.canvas.draw()
    return np.asarray(figure.canvas.buffer_rgba())[..., :3].copy()
