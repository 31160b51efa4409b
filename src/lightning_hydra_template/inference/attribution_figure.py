"""One image and its attribution as a picture: the pixels the model saw, the heat map over them, a heading.

Drawn on matplotlib's Agg canvas without pyplot: no window, no global figure list to leak into (the
figure is freed with its last reference), safe in any process.
"""

from collections.abc import Sequence

import numpy as np

METHOD_NAMES = {
    "integrated_gradients": "integrated gradients",
    "saliency": "saliency |gradient|",
    "occlusion": "occlusion",
}
# Saliency is a magnitude (Captum's abs=True); the others say for or against the target class.
SIGNED = {"integrated_gradients": True, "saliency": False, "occlusion": True}
UNITS = {
    "integrated_gradients": "contribution to the logit's change from black",
    "saliency": "|d logit / d input|",
    "occlusion": "logit drop when blacked out",
}


def explanation_figure(
    pixels: np.ndarray,
    attributions: np.ndarray,
    method: str,
    heading: Sequence[str],
    per_row: bool = False,
    highlight: bool = False,
) -> np.ndarray:
    """uint8 `[C, H, W]` pixels and their `[C, H, W]` attributions -> the figure as RGB `[h, w, 3]`.

    `heading`: lines above the panels (red when `highlight`, a wrong prediction). `per_row`: add the
    sum of each row's attributions beside the map, for networks that read one row per time step.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.cm import ScalarMappable
    from matplotlib.figure import Figure

    heat = attributions.sum(axis=0)  # one value per pixel position: its channels together
    overlay, norm, cmap = _overlay(heat, method)
    grey = pixels.mean(axis=0)

    panels = 3 if per_row else 2
    figure = Figure(figsize=(3.1 * panels + 0.6, 3.9), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, panels)
    image_axes, map_axes = axes[0], axes[1]
    size = pixels.shape[-1]
    if pixels.shape[0] == 1:
        image_axes.imshow(pixels[0], cmap="gray", vmin=0, vmax=255)
    else:
        image_axes.imshow(pixels.transpose(1, 2, 0))
    image_axes.set_title(f"input as the model saw it ({size} px)", fontsize=9)
    # The image dimmed and grey under the map: its colours must not read as attribution colours.
    map_axes.imshow(grey, cmap="gray", vmin=0, vmax=400)
    map_axes.imshow(overlay)
    map_axes.set_title(METHOD_NAMES[method], fontsize=9)
    for ax in (image_axes, map_axes):
        ax.set_xticks([])
        ax.set_yticks([])
    bar = figure.colorbar(ScalarMappable(norm, cmap), ax=map_axes, fraction=0.046, pad=0.03)
    bar.set_label(UNITS[method], fontsize=8)
    bar.ax.tick_params(labelsize=7)
    if per_row:
        _row_band(axes[2], heat.sum(axis=1))
    figure.suptitle("\n".join(heading), fontsize=10, color="#b00000" if highlight else "black")
    figure.canvas.draw()
    return np.asarray(figure.canvas.buffer_rgba())[..., :3].copy()


def _overlay(heat: np.ndarray, method: str):
    """The attribution map as RGBA, with the colour scale and map that drew it (for the colour bar)."""
    from matplotlib import colormaps
    from matplotlib.colors import Normalize

    signed = SIGNED[method]
    # The 99.5th percentile, not the maximum: one extreme pixel would otherwise wash out the rest.
    limit = float(np.percentile(np.abs(heat), 99.5)) or float(np.abs(heat).max()) or 1.0
    norm = Normalize(-limit if signed else 0.0, limit)
    cmap = colormaps["bwr" if signed else "Reds"]
    overlay = cmap(norm(heat))
    # Opacity grows with |attribution|: pixels that do not matter show the image through.
    overlay[..., 3] = 0.9 * np.clip(np.abs(heat) / limit, 0, 1) ** 0.7
    return overlay, norm, cmap


def _row_band(ax, rows: np.ndarray) -> None:
    """Each row's total attribution as a bar level with that row of the image."""
    ax.barh(np.arange(len(rows)), rows, height=0.85, color=np.where(rows >= 0, "#d62728", "#1f77b4"))
    ax.set_ylim(len(rows) - 0.5, -0.5)  # row 0 at the top, as in the image
    ax.axvline(0, color="black", linewidth=0.6)
    ax.set_box_aspect(1)  # as tall as the square image panels, so bars line up with rows
    ax.set_title("per row (one LSTM time step each)", fontsize=9)
    ax.set_ylabel("row", fontsize=8)
    ax.tick_params(labelsize=7)
