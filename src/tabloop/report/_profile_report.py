"""The data profile report: overview, columns, class balance, distributions, gaps and the contract."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from tabloop.report._document import Report, table_html
from tabloop.report._figures import figure_to_html, plot_label, subplots

__all__ = ["profile_report"]


def profile_report(
    profile: dict[str, Any],
    contract: dict[str, Any],
    *,
    source: str,
    numeric_values: Mapping[str, np.ndarray],
    contract_rows: Sequence[dict[str, Any]],
) -> Report:
    """Draw a profile (``profile_frame``'s numbers) and the contract inferred with it.

    ``numeric_values`` holds each numeric feature's non-missing values (histograms),
    ``contract_rows`` the contract's table, one row per column; the JSON is the profile
    and ``contract`` (the contract as a dict).
    """
    report = Report(title="Data profile", data={"profile": profile, "contract": contract}, subtitle=source)
    report.add(
        "Overview",
        table_html(
            [
                {"rows": profile["rows"], "columns": len(profile["columns"]),
                 "missing cells": profile["missing_cells"], "duplicate rows": profile["duplicate_rows"]}
            ]
        ),
    )
    rows = [
        {k: c.get(k) for k in ("name", "role", "kind", "dtype", "missing", "unique", "min", "median", "max", "outliers_iqr")}
        for c in profile["columns"]
    ]
    report.add("Columns", table_html(rows))
    if "class_balance" in profile:
        fig, ax = subplots((5, 2.5))
        labels = [plot_label(b["label"]) for b in profile["class_balance"]]
        ax.bar(labels, [b["count"] for b in profile["class_balance"]], color="#4c72b0")
        ax.set_title("Class balance")
        report.add("Class balance", table_html(profile["class_balance"]) + figure_to_html(fig, "class balance"))
    numeric = [c["name"] for c in profile["columns"] if c["kind"] == "numeric" and c.get("role") == "feature"]
    if numeric:
        ncols = 4
        nrows = int(np.ceil(len(numeric) / ncols))
        fig, axes = subplots((12, 2.4 * nrows), nrows, ncols, squeeze=False)
        for ax, name in zip(axes.ravel(), numeric, strict=False):
            ax.hist(numeric_values[name], bins=30, color="#4c72b0")
            ax.set_title(plot_label(name), fontsize=9)
        for ax in axes.ravel()[len(numeric) :]:
            ax.axis("off")
        fig.tight_layout()
        report.add("Numeric distributions", figure_to_html(fig, "histograms"))
    missing = [c for c in profile["columns"] if c["missing"]]
    if missing:
        fig, ax = subplots((6, 0.3 * len(missing) + 1))
        ax.barh([plot_label(c["name"]) for c in missing], [c["missing_share"] for c in missing], color="#dd8452")
        ax.set_xlabel("share missing")
        report.add("Missing values", figure_to_html(fig, "missing values"))
    report.add("Data contract", table_html(list(contract_rows)))
    return report
