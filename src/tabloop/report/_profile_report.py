"""The data profile report: findings, overview, columns, the target, associations, each column's charts, the contract.

Charts are inline SVG (``_svg``): one or two per column would cost matplotlib seconds on a
wide table, and the profile of a million rows is meant to take a few (benchmarks/profile).
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

from tabloop.report._document import Report, table_html
from tabloop.report._findings_section import findings_html
from tabloop.report._svg import bars_svg, box_svg, heatmap_svg, histogram_svg, number

__all__ = ["profile_report"]


def profile_report(
    profile: dict[str, Any],
    contract: dict[str, Any],
    *,
    source: str,
    contract_rows: Sequence[dict[str, Any]],
) -> Report:
    """Draw a profile (``profile_frame``'s numbers) and the contract inferred with it.

    ``contract_rows`` is the contract's table, one row per column; the JSON is the profile and
    ``contract`` (the contract as a dict): every number drawn is in it.
    """
    report = Report(title="Data profile", data={"profile": profile, "contract": contract}, subtitle=source)
    rows = profile["rows"]
    overview = {"rows": rows, "columns": len(profile["columns"]), "missing cells": profile["missing_cells"],
                "duplicate rows": f"{profile['duplicate_rows']:,} ({profile.get('duplicate_share', 0.0):.1%})"}
    if "duplicate_ids" in profile:
        overview["repeated ids"] = profile["duplicate_ids"]
    report.add("Overview", table_html([overview]))
    report.add("Findings", findings_html(profile.get("findings") or [], none="Nothing found that needs acting on."))
    report.add("Columns", table_html([_summary(c, rows) for c in profile["columns"]]))
    target = profile.get("target")
    if target is not None:
        report.add(f"Target: {target['name']}", _target_html(target, profile))
    associations = profile.get("associations") or {}
    if any(k in associations for k in ("numeric", "categorical", "target")):
        report.add("Associations", _associations_html(associations))
    report.add("Column details", "<div class='cards'>" + "".join(_card(c, rows) for c in profile["columns"]) + "</div>")
    missing = [c for c in profile["columns"] if c["missing"]]
    if missing:
        missing.sort(key=lambda c: -c["missing_share"])
        report.add("Missing values", bars_svg(
            [c["name"] for c in missing], [c["missing_share"] for c in missing], vmax=1.0, color="#dd8452",
            texts=[f"{c['missing_share']:.1%} ({c['missing']:,})" for c in missing], width=640, label_width=200,
            label="share of rows missing, per column"))
    report.add("Data contract", table_html(list(contract_rows)))
    return report


def _summary(c: dict[str, Any], rows: int) -> dict[str, Any]:
    return {"name": c["name"], "role": c["role"], "type": c.get("type", c["kind"]), "dtype": c["dtype"],
            "missing": f"{c['missing_share']:.1%}", "distinct": c["unique"],
            "mean": c.get("mean"), "min": c.get("min"), "median": c.get("median"), "max": c.get("max"),
            "outliers (IQR)": c.get("outliers_iqr"),
            "top": (f"{c['top'][0]['value']} ({c['top_share']:.0%})" if c.get("top") and c.get("top_share") else None)}


def _target_html(target: dict[str, Any], profile: dict[str, Any]) -> str:
    if target["kind"] == "classes":
        balance = target["class_balance"]
        chart = bars_svg([b["label"] for b in balance], [b["count"] for b in balance],
                         texts=[f"{b['count']:,} ({b['share']:.1%})" for b in balance], width=560,
                         label_width=160, label="class balance")
        ratio = target.get("imbalance_ratio")
        note = (f"<p>Majority to minority class: <b>{ratio:.1f}:1</b>"
                + (" <span class='warn'>(imbalanced)</span>" if ratio >= 3 else "") + "</p>") if ratio else ""
        return note + chart
    column = next((c for c in profile["columns"] if c["name"] == target["name"]), None)
    return _distribution(column) if column else ""


def _associations_html(a: dict[str, Any]) -> str:
    sampled = a["sample_rows"] < a["rows"]
    parts = [f"<p class='meta'>Computed on {'a random sample of ' if sampled else 'all '}{a['sample_rows']:,} "
             f"of {a['rows']:,} rows. Categories beyond the 50 most frequent are pooled; missing is a category.</p>"]
    if "target" in a and a["target"]:
        shown = a["target"][:40]
        parts.append("<h3>Each feature against the target</h3><p class='meta'>0: no association, 1: the feature "
                     "determines it. Classes: correlation ratio of a number, bias-corrected Cramér's V of a category; "
                     "a numeric target: |Spearman rho| of a number, correlation ratio over a category's levels.</p>")
        parts.append(bars_svg([r["column"] for r in shown], [r["value"] for r in shown], vmax=1.0, width=640,
                              label_width=200, texts=[f"{number(r['value'])} ({r['measure']})" for r in shown],
                              label="association of each feature with the target"))
    if "numeric" in a:
        m = a["numeric"]
        parts.append("<h3>Numbers: Spearman correlation</h3>"
                     + heatmap_svg(m["columns"], m["matrix"], diverging=True, label="Spearman correlations"))
    if "categorical" in a:
        m = a["categorical"]
        parts.append("<h3>Categories: Cramér's V (bias-corrected)</h3>"
                     + heatmap_svg(m["columns"], m["matrix"], diverging=False, label="Cramér's V"))
    return "".join(parts)


def _distribution(c: dict[str, Any]) -> str:
    hist = c.get("histogram")
    if not hist:
        return ""
    lo, hi = hist["edges"][0], hist["edges"][-1]
    return (histogram_svg(hist["edges"], hist["counts"], label=f"histogram of {c['name']}")
            + "<br>" + box_svg(c["box"], lo=lo, hi=hi, label=f"box plot of {c['name']}"))


def _card(c: dict[str, Any], rows: int) -> str:
    facts: list[tuple[str, Any]] = [("missing", f"{c['missing']:,} ({c['missing_share']:.1%})"),
                                    ("distinct", f"{c['unique']:,}")]
    if c["kind"] == "numeric" and "mean" in c:
        facts += [("mean", number(c["mean"])), ("std", number(c["std"])), ("min", number(c["min"])),
                  ("median", number(c["median"])), ("max", number(c["max"])), ("skewness", number(c["skewness"])),
                  ("zeros", f"{c['zeros']:,}"),
                  ("outliers (IQR)", f"{c['outliers_iqr']:,} outside {number(c['outlier_bounds'][0])} .. "
                                     f"{number(c['outlier_bounds'][1])}")]
        if c.get("infinite"):
            facts.append(("infinite", f"{c['infinite']:,}"))
        chart = _distribution(c)
    elif c.get("top"):
        labels = [t["value"] for t in c["top"]]
        counts = [t["count"] for t in c["top"]]
        if c.get("other_count"):
            labels.append(f"(other {c['unique'] - len(c['top']):,})")
            counts.append(c["other_count"])
        present = max(rows - c["missing"], 1)
        chart = bars_svg(labels, counts, texts=[f"{n:,} ({n / present:.0%})" for n in counts],
                         label=f"most frequent values of {c['name']}")
    else:
        chart = "<p class='meta'>no values</p>"
    kind = c.get("type", c["kind"])
    table = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>" for k, v in facts)
    return (f"<div class='card'><h3>{html.escape(c['name'])}</h3><p class='meta'>{html.escape(c['role'])}, "
            f"{html.escape(kind)}, {html.escape(c['dtype'])}</p><table class='kv'>{table}</table>{chart}</div>")
