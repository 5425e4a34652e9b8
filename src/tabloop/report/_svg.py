"""Small charts written as inline SVG: histograms, box plots, bar charts and heatmaps.

The data profile draws a chart or two for every column; matplotlib takes some 0.1 s a figure
plus a second to import, which alone would cost more than profiling a million rows. These
charts are a few hundred bytes of text each, drawn in microseconds, sharp at any zoom, and
their labels are text a reader can select and search (a column named ``$price$`` is just
text here: no math parsing).
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from typing import Any

__all__ = ["bars_svg", "box_svg", "heatmap_svg", "histogram_svg", "number"]

BLUE = "#4c72b0"
ORANGE = "#dd8452"
GREY = "#888"
FONT = "font-family='system-ui,sans-serif' font-size='10'"


def number(x: Any) -> str:
    """A number as a person reads it on a chart: at most 4 significant digits, thousands separated."""
    if x is None:
        return ""
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return str(x)
    if isinstance(x, int) or (float(x).is_integer() and abs(x) < 1e15):
        return f"{int(x):,}"
    if x != x:  # NaN
        return "n/a"
    if abs(x) >= 1e6 or (abs(x) < 1e-3 and x != 0):
        return f"{x:.3g}"
    return f"{x:,.0f}" if abs(x) >= 1000 else f"{x:.4g}"


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _svg(width: float, height: float, body: str, label: str) -> str:
    return (f"<svg xmlns='http://www.w3.org/2000/svg' role='img' aria-label='{_e(label)}' width='{width:.0f}' "
            f"height='{height:.0f}' viewBox='0 0 {width:.0f} {height:.0f}'>{body}</svg>")


def histogram_svg(edges: Sequence[float], counts: Sequence[int], *, label: str, width: int = 320,
                  height: int = 90, color: str = BLUE) -> str:
    """Bars over ``edges`` (len(counts) + 1 of them) with the range under them and the tallest count."""
    if not counts:
        return ""
    top, pad_x, pad_y = max(max(counts), 1), 4.0, 14.0
    lo, hi = edges[0], edges[-1]
    span = (hi - lo) or 1.0
    plot_w, plot_h = width - 2 * pad_x, height - 2 * pad_y

    def x(v: float) -> float:
        return pad_x + (v - lo) / span * plot_w

    parts = []
    for a, b, c in zip(edges[:-1], edges[1:], counts, strict=False):
        h = c / top * plot_h
        parts.append(f"<rect x='{x(a):.1f}' y='{pad_y + plot_h - h:.1f}' width='{max(x(b) - x(a) - 0.6, 0.6):.1f}' "
                     f"height='{h:.1f}' fill='{color}'><title>{_e(number(a))} to {_e(number(b))}: "
                     f"{c:,}</title></rect>")
    base = pad_y + plot_h
    parts.append(f"<line x1='{pad_x}' y1='{base:.1f}' x2='{width - pad_x}' y2='{base:.1f}' stroke='{GREY}'/>")
    parts.append(f"<text x='{pad_x}' y='{height - 2}' {FONT} fill='#444'>{_e(number(lo))}</text>")
    parts.append(f"<text x='{width - pad_x}' y='{height - 2}' {FONT} fill='#444' text-anchor='end'>"
                 f"{_e(number(hi))}</text>")
    parts.append(f"<text x='{pad_x}' y='10' {FONT} fill='{GREY}'>max {top:,} rows a bin</text>")
    return _svg(width, height, "".join(parts), label)


def box_svg(box: dict[str, Any], *, lo: float, hi: float, label: str, width: int = 320, height: int = 30) -> str:
    """A horizontal box plot on the scale ``lo``..``hi`` (the histogram's, so they line up): the box from
    the first to the third quartile, the median, whiskers at the furthest values within 1.5 IQR and the
    most extreme outliers on each side as dots."""
    pad_x = 4.0
    span = (hi - lo) or 1.0

    def x(v: float) -> float:
        return pad_x + (v - lo) / span * (width - 2 * pad_x)

    mid, half = height / 2, height * 0.3
    q1, med, q3 = x(box["q1"]), x(box["median"]), x(box["q3"])
    parts = [
        f"<line x1='{x(box['whislo']):.1f}' y1='{mid}' x2='{q1:.1f}' y2='{mid}' stroke='#444'/>",
        f"<line x1='{q3:.1f}' y1='{mid}' x2='{x(box['whishi']):.1f}' y2='{mid}' stroke='#444'/>",
        f"<line x1='{x(box['whislo']):.1f}' y1='{mid - half / 2}' x2='{x(box['whislo']):.1f}' y2='{mid + half / 2}' "
        "stroke='#444'/>",
        f"<line x1='{x(box['whishi']):.1f}' y1='{mid - half / 2}' x2='{x(box['whishi']):.1f}' y2='{mid + half / 2}' "
        "stroke='#444'/>",
        f"<rect x='{q1:.1f}' y='{mid - half:.1f}' width='{max(q3 - q1, 0.8):.1f}' height='{2 * half:.1f}' "
        f"fill='#dbe4f0' stroke='{BLUE}'><title>quartiles {_e(number(box['q1']))} to {_e(number(box['q3']))}, "
        f"median {_e(number(box['median']))}</title></rect>",
        f"<line x1='{med:.1f}' y1='{mid - half:.1f}' x2='{med:.1f}' y2='{mid + half:.1f}' stroke='{BLUE}' "
        "stroke-width='2'/>",
    ]
    for v in [*box.get("low_outliers", []), *box.get("high_outliers", [])]:
        parts.append(f"<circle cx='{x(v):.1f}' cy='{mid}' r='2.2' fill='none' stroke='{ORANGE}'>"
                     f"<title>outlier {_e(number(v))}</title></circle>")
    return _svg(width, height, "".join(parts), label)


def bars_svg(labels: Sequence[str], values: Sequence[float | None], *, label: str, width: int = 320,
             texts: Sequence[str] | None = None, vmax: float | None = None, color: str = BLUE,
             bar_height: int = 15, label_width: int = 120) -> str:
    """Horizontal bars, one per label, longest ``vmax`` (default: the largest value); ``texts`` are
    written after each bar (default: the value)."""
    if not labels:
        return ""
    shown = [0.0 if v is None or (isinstance(v, float) and math.isnan(v)) else float(v) for v in values]
    top = vmax if vmax is not None else max(max(shown), 1e-12)
    texts = list(texts) if texts is not None else [number(v) for v in values]
    text_w = 7 * max(len(t) for t in texts) + 8
    plot_w = max(width - label_width - text_w, 20)
    chars = max(int(label_width / 6.2), 4)
    parts = []
    for i, (name, v, t) in enumerate(zip(labels, shown, texts, strict=False)):
        y = i * (bar_height + 3)
        w = max(v / top * plot_w, 0.0) if top > 0 else 0.0
        parts.append(
            f"<text x='{label_width - 4}' y='{y + bar_height - 4}' {FONT} text-anchor='end'><title>{_e(name)}"
            f"</title>{_e(_short(str(name), chars))}</text>"
            f"<rect x='{label_width}' y='{y}' width='{w:.1f}' height='{bar_height}' fill='{color}'>"
            f"<title>{_e(name)}: {_e(t)}</title></rect>"
            f"<text x='{label_width + w + 4:.1f}' y='{y + bar_height - 4}' {FONT} fill='#444'>{_e(t)}</text>")
    return _svg(width, len(labels) * (bar_height + 3), "".join(parts), label)


def _colour(value: float | None, *, diverging: bool) -> str:
    if value is None or math.isnan(value):
        return "#eee"
    v = max(-1.0, min(1.0, value))
    if diverging and v < 0:  # white to blue
        t = -v
        r, g, b = 255 - t * (255 - 59), 255 - t * (255 - 76), 255 - t * (255 - 192)
    else:  # white to red (diverging) or to blue (0..1 measures)
        t = abs(v)
        end = (180, 4, 38) if diverging else (59, 76, 192)
        r, g, b = (255 - t * (255 - e) for e in end)
    return f"#{int(r):02x}{int(g):02x}{int(b):02x}"


def heatmap_svg(labels: Sequence[str], matrix: Sequence[Sequence[float | None]], *, label: str,
                diverging: bool = True, cell: int | None = None, label_width: int = 120) -> str:
    """A square matrix as coloured cells (``diverging``: -1 blue, 0 white, +1 red; else 0 white, 1 blue),
    values written in the cells while they fit, every value in a tooltip."""
    k = len(labels)
    if not k:
        return ""
    cell = cell or (30 if k <= 12 else 22 if k <= 20 else 12)
    top = label_width * 0.75
    chars = max(int(label_width / 6.2), 4)
    parts = []
    for i, name in enumerate(labels):
        y = top + i * cell
        parts.append(f"<text x='{label_width - 4}' y='{y + cell / 2 + 3:.1f}' {FONT} text-anchor='end'>"
                     f"<title>{_e(name)}</title>{_e(_short(str(name), chars))}</text>")
        cx = label_width + i * cell + cell / 2
        parts.append(f"<text x='{cx + 3:.1f}' y='{top - 4:.1f}' {FONT} transform='rotate(-45 {cx + 3:.1f} "
                     f"{top - 4:.1f})'><title>{_e(name)}</title>{_e(_short(str(name), chars))}</text>")
        for j, value in enumerate(matrix[i]):
            x = label_width + j * cell
            shown = "n/a" if value is None else f"{value:.2f}".replace("-0.00", "0.00")
            parts.append(f"<rect x='{x}' y='{y:.1f}' width='{cell - 1}' height='{cell - 1}' "
                         f"fill='{_colour(value, diverging=diverging)}'><title>{_e(name)} / {_e(labels[j])}: "
                         f"{shown}</title></rect>")
            if cell >= 22 and value is not None and i != j:
                ink = "#fff" if abs(value) > 0.6 else "#222"
                parts.append(f"<text x='{x + (cell - 1) / 2:.1f}' y='{y + cell / 2 + 3:.1f}' font-size='8' "
                             f"font-family='system-ui,sans-serif' text-anchor='middle' fill='{ink}' "
                             f"pointer-events='none'>{shown}</text>")
    size = label_width + k * cell + top
    return _svg(size, top + k * cell + 4, "".join(parts), label)
