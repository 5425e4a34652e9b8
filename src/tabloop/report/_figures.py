"""All of tabloop's matplotlib: figures drawn off-screen (Agg, no pyplot) and inlined as PNG.

``Figure`` objects render through Agg without pyplot, so writing a report on a server
needs no display, keeps no global figure list, and never switches the backend of a
user's notebook. matplotlib itself is imported on the first figure only (start-up
stays light; see tests/test_startup.py).
"""

from __future__ import annotations

import base64
import html
import io
from typing import Any

__all__ = ["color_patch", "figure_to_html", "new_figure", "plot_label", "subplots"]


def plot_label(value: Any) -> str:
    """``value`` as text that matplotlib draws literally: every ``$`` escaped.

    Column names and category values come from the user's data; matplotlib reads
    text between two ``$`` as math, so ``$price$`` came out as an italic *price*
    and ``$price_$`` raised a parse error that sank the whole report.
    """
    return str(value).replace("$", r"\$")


def new_figure(figsize: tuple[float, float]) -> Any:
    """An empty ``matplotlib.figure.Figure`` of ``figsize`` inches, outside pyplot."""
    from matplotlib.figure import Figure

    return Figure(figsize=figsize)


def subplots(figsize: tuple[float, float], nrows: int = 1, ncols: int = 1, *, squeeze: bool = True) -> tuple[Any, Any]:
    """``(figure, axes)`` as ``pyplot.subplots`` returns them, without pyplot's state."""
    fig = new_figure(figsize)
    return fig, fig.subplots(nrows, ncols, squeeze=squeeze)


def color_patch(color: str, alpha: float) -> Any:
    """A filled square of ``color``: a legend handle for series drawn as areas or bars."""
    from matplotlib.patches import Rectangle

    return Rectangle((0, 0), 1, 1, color=color, alpha=alpha)


def figure_to_html(fig: Any, alt: str, *, tight: bool = True) -> str:
    """A matplotlib figure as an inline PNG ``<img>``.

    ``tight`` crops the figure to what is drawn, which costs a second drawing of the whole
    figure; a figure that sets its own margins passes ``False``.
    """
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight" if tight else None)
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'
