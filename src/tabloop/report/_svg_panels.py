"""Titled chart panels as inline SVG: two distributions overlaid, and lines or bars over time.

The monitoring report draws one panel per feature and per window series. Drawn with
matplotlib they cost a standalone ``tabloop monitor`` about a second (half importing it,
half rendering PNGs) of the two it may take; as SVG they are text, drawn in
microseconds, sharp at any zoom, and every point carries its number as a tooltip.
"""

from __future__ import annotations

import html
import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tabloop.report._svg import FONT, GREY, number

__all__ = ["Series", "legend_html", "lines_panel_svg", "overlay_panel_svg", "panels_html"]

BAD = "#b00020"
_W, _H = 300, 200
_LEFT, _RIGHT, _TOP, _BOTTOM = 42.0, 10.0, 24.0, 46.0


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _finite(v: Any) -> bool:
    # numpy's float32 and int64 are Reals but not floats
    return isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v)


def _frame(title: str, *, bad: bool, label: str, body: str, xlabel: str = "") -> str:
    colour = BAD if bad else "#222"
    weight = "bold" if bad else "normal"
    head = (f"<text x='{_W / 2}' y='14' {FONT} font-size='11' text-anchor='middle' fill='{colour}' "
            f"font-weight='{weight}'><title>{_e(title)}</title>{_e(_short(title, 46))}</text>")
    foot = (f"<text x='{_LEFT + (_W - _LEFT - _RIGHT) / 2:.0f}' y='{_H - 3}' {FONT} font-size='9' "
            f"text-anchor='middle' fill='#444'>{_e(xlabel)}</text>") if xlabel else ""
    return (f"<svg xmlns='http://www.w3.org/2000/svg' role='img' aria-label='{_e(label)}' width='{_W}' "
            f"height='{_H}' viewBox='0 0 {_W} {_H}'>{head}{body}{foot}</svg>")


def _axes(y_lo: float, y_hi: float, *, y_ticks: bool) -> str:
    x0, x1, y0, y1 = _LEFT, _W - _RIGHT, _TOP, _H - _BOTTOM
    out = (f"<line x1='{x0}' y1='{y1}' x2='{x1}' y2='{y1}' stroke='{GREY}'/>"
           f"<line x1='{x0}' y1='{y0}' x2='{x0}' y2='{y1}' stroke='{GREY}'/>")
    if y_ticks:
        for v, y in ((y_lo, y1), (y_hi, y0)):
            out += (f"<text x='{x0 - 3}' y='{y + 3:.1f}' {FONT} font-size='8' text-anchor='end' fill='#444'>"
                    f"{_e(number(v))}</text>")
    return out


def overlay_panel_svg(
    title: str,
    *,
    reference: Sequence[float] | None,
    current: Sequence[float] | None,
    edges: Sequence[float] | None = None,
    labels: Sequence[str] | None = None,
    bad: bool = False,
    xlabel: str = "",
    colors: tuple[str, str] = ("#4c72b0", "#dd8452"),
) -> str:
    """Two distributions of one column: over histogram ``edges`` (reference filled, current as a
    line), or as paired bars over category ``labels`` (shares). Empty when neither side has values."""
    ref_c, cur_c = colors
    label = f"reference and current distribution of {title}"
    x0, x1, y0, y1 = _LEFT, _W - _RIGHT, _TOP, _H - _BOTTOM
    pw, ph = x1 - x0, y1 - y0
    # numpy arrays come in as they are: no truth test on them
    ref = [float(v) if _finite(v) else 0.0 for v in (reference if reference is not None else [])]
    cur = [float(v) if _finite(v) else 0.0 for v in (current if current is not None else [])]
    top = max([*ref, *cur, 1e-12])
    parts: list[str] = []
    if labels is not None:
        k = max(len(labels), 1)
        slot = pw / k
        bar = slot * 0.4
        for i, name in enumerate(labels):
            for j, (vals, colour, alpha, side) in enumerate(((ref, ref_c, 0.5, "reference"), (cur, cur_c, 0.85, "current"))):
                if i >= len(vals):
                    continue
                h = vals[i] / top * ph
                x = x0 + i * slot + slot * 0.1 + j * bar
                parts.append(f"<rect x='{x:.1f}' y='{y1 - h:.1f}' width='{max(bar, 0.8):.1f}' height='{h:.1f}' "
                             f"fill='{colour}' fill-opacity='{alpha}'><title>{_e(name)} ({side}): "
                             f"{vals[i]:.1%}</title></rect>")
            if k <= 24:
                cx = x0 + i * slot + slot / 2
                parts.append(f"<text x='{cx:.1f}' y='{y1 + 8:.1f}' {FONT} font-size='8' text-anchor='end' "
                             f"transform='rotate(-45 {cx:.1f} {y1 + 8:.1f})'><title>{_e(name)}</title>"
                             f"{_e(_short(str(name), 9))}</text>")
        parts.append(_axes(0.0, top, y_ticks=True))
        parts.append(f"<text x='10' y='{y0 + ph / 2:.0f}' {FONT} font-size='8' fill='#444' "
                     f"transform='rotate(-90 10 {y0 + ph / 2:.0f})' text-anchor='middle'>share</text>")
        return _frame(title, bad=bad, label=label, body="".join(parts), xlabel=xlabel)
    if edges is None or len(edges) < 2:
        parts.append(f"<text x='{_W / 2}' y='{_H / 2}' {FONT} text-anchor='middle' fill='#444'>no values</text>")
        return _frame(title, bad=bad, label=label, body="".join(parts), xlabel=xlabel)
    lo, hi = float(edges[0]), float(edges[-1])
    span = (hi - lo) or 1.0

    def x(v: float) -> float:
        return x0 + (float(v) - lo) / span * pw

    def y(v: float) -> float:
        return y1 - v / top * ph

    if ref:
        pts = [f"{x(edges[0]):.1f},{y1:.1f}"]
        for a, b, v in zip(edges[:-1], edges[1:], ref, strict=False):
            pts += [f"{x(a):.1f},{y(v):.1f}", f"{x(b):.1f},{y(v):.1f}"]
        pts.append(f"{x(edges[-1]):.1f},{y1:.1f}")
        parts.append(f"<polygon points='{' '.join(pts)}' fill='{ref_c}' fill-opacity='0.5' stroke='none'/>")
    if cur:
        pts = []
        for a, b, v in zip(edges[:-1], edges[1:], cur, strict=False):
            pts += [f"{x(a):.1f},{y(v):.1f}", f"{x(b):.1f},{y(v):.1f}"]
        parts.append(f"<polyline points='{' '.join(pts)}' fill='none' stroke='{cur_c}' stroke-width='1.6'/>")
    # a transparent band per bin carries both numbers as a tooltip
    for i, (a, b) in enumerate(zip(edges[:-1], edges[1:], strict=False)):
        r = f"{ref[i]:.3g}" if i < len(ref) else "n/a"
        c = f"{cur[i]:.3g}" if i < len(cur) else "n/a"
        parts.append(f"<rect x='{x(a):.1f}' y='{y0}' width='{max(x(b) - x(a), 0.5):.1f}' height='{ph:.1f}' "
                     f"fill='transparent'><title>{_e(number(a))} to {_e(number(b))}: density reference {r}, "
                     f"current {c}</title></rect>")
    parts.append(_axes(0.0, top, y_ticks=False))
    parts.append(f"<text x='{x0}' y='{y1 + 12:.1f}' {FONT} font-size='8' fill='#444'>{_e(number(lo))}</text>")
    parts.append(f"<text x='{x1}' y='{y1 + 12:.1f}' {FONT} font-size='8' fill='#444' text-anchor='end'>"
                 f"{_e(number(hi))}</text>")
    return _frame(title, bad=bad, label=label, body="".join(parts), xlabel=xlabel)


@dataclass
class Series:
    """One line (or bar row) of a panel over time: ``None`` values leave a gap."""

    name: str
    values: Sequence[float | None]
    color: str = "#4c72b0"
    dashed: bool = False
    bars: bool = False
    #: points drawn in red (a drifted window, say)
    flagged: Sequence[bool] | None = None
    opacity: float = 1.0


def lines_panel_svg(
    title: str,
    x_labels: Sequence[str],
    series: Sequence[Series],
    *,
    threshold: float | None = None,
    threshold_name: str = "threshold",
    ylabel: str = "",
    bad: bool = False,
    from_zero: bool = False,
) -> str:
    """Values per window as lines with points (or bars), a dashed horizontal ``threshold``, window
    labels under the axis (at most six shown, every one in a tooltip) and a legend when there are
    several series."""
    x0, x1, y0, y1 = _LEFT, _W - _RIGHT, _TOP, _H - _BOTTOM
    pw, ph = x1 - x0, y1 - y0
    n = max(len(x_labels), 1)
    values = [float(v) for s in series for v in s.values if _finite(v)]
    if threshold is not None and _finite(threshold):
        values.append(float(threshold))
    lo = min(values, default=0.0)
    hi = max(values, default=1.0)
    if from_zero or any(s.bars for s in series):
        lo = min(lo, 0.0)
    if hi - lo < 1e-12:
        lo, hi = lo - 0.5, hi + 0.5
    pad = (hi - lo) * 0.05
    lo, hi = (lo if from_zero and lo == 0 else lo - pad), hi + pad

    def x(i: int) -> float:
        return x0 + (i + 0.5) * pw / n

    def y(v: float) -> float:
        return y1 - (v - lo) / (hi - lo) * ph

    parts: list[str] = []
    bar_series = [s for s in series if s.bars]
    slot = pw / n
    for s in bar_series:
        for i, v in enumerate(s.values):
            if not _finite(v):
                continue
            top = y(float(v))
            parts.append(f"<rect x='{x0 + i * slot + slot * 0.15:.1f}' y='{top:.1f}' width='{slot * 0.7:.1f}' "
                         f"height='{max(y(max(lo, 0.0)) - top, 0):.1f}' fill='{s.color}' fill-opacity='{s.opacity}'>"
                         f"<title>{_e(x_labels[i] if i < len(x_labels) else i)}, {_e(s.name)}: {_e(number(v))}"
                         f"</title></rect>")
    if threshold is not None and _finite(threshold):
        ty = y(float(threshold))
        parts.append(f"<line x1='{x0}' y1='{ty:.1f}' x2='{x1}' y2='{ty:.1f}' stroke='{BAD}' stroke-width='1' "
                     f"stroke-dasharray='4 3'><title>{_e(threshold_name)} {_e(number(threshold))}</title></line>")
    for s in series:
        if s.bars:
            continue
        segment: list[str] = []
        runs: list[list[str]] = []
        for i, v in enumerate(s.values):
            if _finite(v):
                segment.append(f"{x(i):.1f},{y(float(v)):.1f}")
            elif segment:
                runs.append(segment)
                segment = []
        if segment:
            runs.append(segment)
        dash = " stroke-dasharray='5 3'" if s.dashed else ""
        for run in runs:
            if len(run) > 1:
                parts.append(f"<polyline points='{' '.join(run)}' fill='none' stroke='{s.color}' "
                             f"stroke-width='1.3'{dash}/>")
        for i, v in enumerate(s.values):
            if not _finite(v):
                continue
            flagged = bool(s.flagged[i]) if s.flagged is not None and i < len(s.flagged) else False
            colour = BAD if flagged else s.color
            parts.append(f"<circle cx='{x(i):.1f}' cy='{y(float(v)):.1f}' r='{3.2 if flagged else 2.2}' "
                         f"fill='{colour}'><title>{_e(x_labels[i] if i < len(x_labels) else i)}, {_e(s.name)}: "
                         f"{_e(number(v))}{' (flagged)' if flagged else ''}</title></circle>")
    parts.append(_axes(lo, hi, y_ticks=True))
    step = max(1, math.ceil(n / 6))
    for i in range(0, len(x_labels), step):
        cx = x(i)
        parts.append(f"<text x='{cx:.1f}' y='{y1 + 8:.1f}' {FONT} font-size='8' text-anchor='end' "
                     f"transform='rotate(-30 {cx:.1f} {y1 + 8:.1f})'><title>{_e(x_labels[i])}</title>"
                     f"{_e(_short(str(x_labels[i]), 16))}</text>")
    if ylabel:
        parts.append(f"<text x='9' y='{y0 + ph / 2:.0f}' {FONT} font-size='8' fill='#444' "
                     f"transform='rotate(-90 9 {y0 + ph / 2:.0f})' text-anchor='middle'>{_e(_short(ylabel, 30))}</text>")
    if len(series) > 1 or threshold is not None:
        entries = [(s.name, s.color, s.dashed) for s in series]
        if threshold is not None:
            entries.append((threshold_name, BAD, True))
        lx = x0 + 4
        for name, colour, dashed in entries:
            dash = " stroke-dasharray='3 2'" if dashed else ""
            parts.append(f"<line x1='{lx:.0f}' y1='{y0 + 5}' x2='{lx + 12:.0f}' y2='{y0 + 5}' stroke='{colour}' "
                         f"stroke-width='2'{dash}/><text x='{lx + 15:.0f}' y='{y0 + 8}' {FONT} font-size='8' "
                         f"fill='#444'>{_e(name)}</text>")
            lx += 22 + 4.6 * len(name)
    return _frame(title, bad=bad, label=f"{title} per window", body="".join(parts))


def legend_html(entries: Sequence[tuple[str, str, float]]) -> str:
    """A line of coloured squares and names above a grid of panels: (name, colour, opacity)."""
    items = "".join(
        f"<span style='margin-right:14px'><span style='display:inline-block;width:11px;height:11px;"
        f"background:{colour};opacity:{opacity};vertical-align:middle;margin-right:4px'></span>{_e(name)}</span>"
        for name, colour, opacity in entries)
    return f"<p class='meta'>{items}</p>"


def panels_html(panels: Sequence[str]) -> str:
    """Panels side by side, wrapping to the page's width."""
    return ("<div class='panels' style='display:flex;flex-wrap:wrap;gap:6px 10px'>"
            + "".join(f"<div>{p}</div>" for p in panels if p) + "</div>")
