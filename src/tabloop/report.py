"""Self-contained HTML reports (plots inline as PNG) with the same numbers as JSON."""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tabloop.workspace import atomic_write_json, atomic_write_text

__all__ = ["Report", "figure_to_html", "plot_label", "table_html"]

_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1100px;color:#222}
h1{font-size:1.6rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ddd;padding-bottom:.3rem}
table{border-collapse:collapse;margin:.5rem 0;font-size:.9rem}
th,td{border:1px solid #ddd;padding:.3rem .6rem;text-align:right}th{background:#f5f5f5}
td:first-child,th:first-child{text-align:left}.bad{color:#b00020;font-weight:600}.ok{color:#0a7d28}
.meta{color:#666;font-size:.85rem}img{max-width:100%}
"""


def plot_label(value: Any) -> str:
    """``value`` as text that matplotlib draws literally: every ``$`` escaped.

    Column names and category values come from the user's data; matplotlib reads
    text between two ``$`` as math, so ``$price$`` came out as an italic *price*
    and ``$price_$`` raised a parse error that sank the whole report.
    """
    return str(value).replace("$", r"\$")


def figure_to_html(fig: Any, alt: str) -> str:
    """A matplotlib figure as an inline PNG ``<img>``; the figure is closed."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def table_html(rows: Sequence[dict[str, Any]], columns: Sequence[str] | None = None) -> str:
    if not rows:
        return "<p class='meta'>(none)</p>"
    columns = list(columns or rows[0].keys())
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in columns)
    body = []
    for row in rows:
        cells = "".join(f"<td>{_cell(row.get(c))}</td>" for c in columns)
        body.append(f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _cell(value: Any) -> str:
    if isinstance(value, bool):
        return "<span class='bad'>yes</span>" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}"
    if value is None:
        return ""
    return html.escape(str(value))


@dataclass
class Report:
    """Sections of HTML in order, plus the JSON document with the same numbers."""

    title: str
    data: dict[str, Any]
    sections: list[tuple[str, str]] = field(default_factory=list)
    subtitle: str = ""

    def add(self, heading: str, body_html: str) -> None:
        self.sections.append((heading, body_html))

    def to_html(self) -> str:
        parts = [
            "<!doctype html><html><head><meta charset='utf-8'>",
            f"<title>{html.escape(self.title)}</title><style>{_STYLE}</style></head><body>",
            f"<h1>{html.escape(self.title)}</h1>",
        ]
        if self.subtitle:
            parts.append(f"<p class='meta'>{html.escape(self.subtitle)}</p>")
        for heading, body in self.sections:
            parts.append(f"<h2>{html.escape(heading)}</h2>{body}")
        parts.append("</body></html>")
        return "".join(parts)

    def write(self, directory: str | Path, stem: str) -> tuple[Path, Path]:
        """Write ``stem.html`` and ``stem.json`` atomically; returns both paths."""
        directory = Path(directory)
        html_path = atomic_write_text(directory / f"{stem}.html", self.to_html())
        json_path = atomic_write_json(directory / f"{stem}.json", self.data)
        return html_path, json_path
