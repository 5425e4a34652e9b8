"""The model card, as Markdown and as a self-contained HTML document (with its JSON twin).

It draws what ``tabloop.evaluation.model_card_data`` assembled: intended use, data, the model,
metrics with intervals and baseline, the decision threshold, slices, limits and lineage.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

from tabloop.report._document import Report, table_html

__all__ = ["model_card"]


def _value(v: Any) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def _md_escape(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _md_table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "(none)\n"
    columns = list(dict.fromkeys(k for r in rows for k in r))
    lines = ["| " + " | ".join(_md_escape(c) for c in columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_md_escape(_value(r.get(c))) for c in columns) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def _metric_rows(card: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [{"metric": m["metric"], "value": m["value"],
             "95% interval": "" if not m.get("interval") else f"[{m['interval'][0]:.4g}, {m['interval'][1]:.4g}]",
             "baseline": m.get("baseline")} for m in card.get("metrics", [])]


def model_card(card: Mapping[str, Any]) -> tuple[str, Report]:
    """``(markdown, report)`` of the model card ``card`` (``evaluation.model_card_data``)."""
    title = f"Model card: {card['model']} v{card['version']}"
    use = card.get("intended_use") or "Not stated: set evaluation.intended_use in tabloop.yaml."
    data_rows = [{"": k, "value": v} for k, v in (card.get("data") or {}).items()]
    model_rows = [{"": k, "value": v} for k, v in (card.get("model_facts") or {}).items()]
    lineage_rows = [{"tag": k, "value": v} for k, v in (card.get("lineage") or {}).items()]
    metrics = _metric_rows(card)
    decision = card.get("decision")
    slices = list(card.get("slices") or [])
    limits = list(card.get("limits") or [])
    md = [f"# {title}\n", f"_{_md_escape(card.get('subtitle', ''))}_\n" if card.get("subtitle") else "",
          "## Intended use\n", f"{use}\n",
          "## Data\n", _md_table(data_rows),
          "## Model\n", _md_table(model_rows),
          "## Metrics (held-out test part)\n", _md_table(metrics),
          "Intervals: 95% percentile bootstrap over the test rows. Baseline: a model without features.\n"]
    if decision:
        md += ["## Decision threshold\n", f"{decision[0].upper() + decision[1:]}.\n"]
    md += ["## Slices\n", "".join(f"- {s}\n" for s in slices) or "No slices named (evaluation.slices).\n",
           "## Limits\n", "".join(f"- {lim}\n" for lim in limits) or "None recorded.\n",
           "## Lineage\n", _md_table(lineage_rows)]
    markdown = "\n".join(part for part in md if part)

    report = Report(title=title, data=dict(card), subtitle=str(card.get("subtitle", "")))
    report.add("Intended use", f"<p>{html.escape(use)}</p>")
    report.add("Data", table_html(data_rows))
    report.add("Model", table_html(model_rows))
    report.add("Metrics (held-out test part)", table_html(metrics) + "<p class='meta'>Intervals: 95% percentile "
               "bootstrap over the test rows. Baseline: a model without features.</p>")
    if decision:
        report.add("Decision threshold", f"<p><b>{html.escape(decision[0].upper() + decision[1:])}.</b></p>")
    report.add("Slices", "<ul>" + "".join(f"<li>{html.escape(s)}</li>" for s in slices) + "</ul>" if slices
               else "<p class='meta'>No slices named (evaluation.slices).</p>")
    report.add("Limits", "<ul>" + "".join(f"<li>{html.escape(lim)}</li>" for lim in limits) + "</ul>" if limits
               else "<p class='meta'>None recorded.</p>")
    report.add("Lineage", table_html(lineage_rows))
    return markdown, report
