"""A self-contained HTML document (styles inline, plots inline as PNG) with the same numbers as JSON."""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tabloop.report._assets import asset_text
from tabloop.workspace import atomic_write_json, atomic_write_text

__all__ = ["Report", "table_html"]


def table_html(rows: Sequence[dict[str, Any]], columns: Sequence[str] | None = None) -> str:
    """``rows`` as an HTML table; ``columns`` (default: the first row's keys) in order."""
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
            f"<title>{html.escape(self.title)}</title><style>{asset_text('report.css')}</style></head><body>",
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
