"""Findings about the data (leakage, train/test shift) as one HTML section, most dangerous first."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["LEAKAGE_HEADING", "findings_html"]

LEAKAGE_HEADING = "Leakage and shift"


def findings_html(findings: Sequence[Mapping[str, Any]], *, none: str) -> str:
    """``findings`` (``Finding.to_dict()``, ranked) as a table: severity, column, what, what to do, the edit.

    ``none`` is the line shown when there are none, saying what was checked: an empty section
    would not tell a reader whether the checks ran.
    """
    if not findings:
        return f"<p class='ok'>{html.escape(none)}</p>"
    rows = []
    for f in findings:
        severity = html.escape(str(f.get("severity", "")))
        cls = " class='bad'" if f.get("severity") == "critical" else ""
        edit = f.get("spec_change")
        rows.append(
            f"<tr><td{cls}>{severity}</td><td>{html.escape(str(f.get('column') or ''))}</td>"
            f"<td style='text-align:left'>{html.escape(str(f.get('message', '')))}</td>"
            f"<td style='text-align:left'>{html.escape(str(f.get('action', '')))}</td>"
            f"<td style='text-align:left'>{'' if not edit else f'<code>{html.escape(str(edit))}</code>'}</td></tr>"
        )
    head = "".join(f"<th>{h}</th>" for h in ("severity", "column", "finding", "what to do", "tabloop.yaml"))
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
