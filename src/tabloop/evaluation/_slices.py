"""Metrics per slice of the test part (per value of a column the spec names): the fairness view.

Each slice's figures come from the same bootstrap draws as the overall ones (the weights restricted
to its rows), so the gap between the worst slice and the whole has an interval of its own. A slice
under ``MIN_SLICE_ROWS`` rows is shown but not judged: its interval is too wide to say anything.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from tabloop.evaluation._metrics import greater_is_better
from tabloop.evaluation._resampled import resampled_metrics
from tabloop.stats import percentile_interval

__all__ = ["MIN_SLICE_ROWS", "TOP_CATEGORIES", "slice_labels", "slice_metrics"]

MIN_SLICE_ROWS = 30
#: categories beyond the most frequent this many are pooled as "(other)"
TOP_CATEGORIES = 10
MISSING = "(missing)"
OTHER = "(other)"


def _number(x: float) -> str:
    return f"{x:.4g}"


def slice_labels(values: pd.Series) -> tuple[list[str], str]:
    """Each row's slice label and how the column was cut ("quartiles" or "categories")."""
    s = values.reset_index(drop=True)
    numeric = pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype)
    if numeric and s.nunique(dropna=True) > 4:
        bins = pd.qcut(s.astype("float64"), 4, duplicates="drop")
        # qcut's intervals are open on the left; the first one's edge sits just below the minimum: show the minimum
        names = {c: (f"[{_number(float(s.min()))}, " if i == 0 else f"({_number(c.left)}, ") + f"{_number(c.right)}]"
                 for i, c in enumerate(bins.cat.categories)}
        labels = [MISSING if pd.isna(b) else names[b] for b in bins]
        return labels, "quartiles"
    text = s.map(lambda v: MISSING if pd.isna(v) else str(v))
    keep = set(text[text != MISSING].value_counts().index[:TOP_CATEGORIES])
    return [v if v in keep or v == MISSING else OTHER for v in text], "categories"


def slice_metrics(
    task: str,
    column: str,
    values: pd.Series,
    y: np.ndarray,
    *,
    metric: str,
    names: list[str],
    overall: dict[str, float | None],
    weights: np.ndarray,
    proba: np.ndarray | None = None,
    y_pred: np.ndarray | None = None,
) -> dict[str, Any]:
    """The slices of ``column``: rows, each metric of ``names`` with its interval, and the worst slice's gap.

    ``overall`` holds the whole test part's point values; ``weights`` the bootstrap counts of every row.
    """
    labels, how = slice_labels(values)
    arr = np.asarray(labels, dtype=object)
    order = (sorted(set(labels), key=lambda v: (v == MISSING, _edge(v))) if how == "quartiles"
             else [v for v in pd.Series(labels).value_counts().index])
    w = np.atleast_2d(np.asarray(weights, dtype="float64")) if weights.size else np.zeros((0, len(y)))
    everyone = resampled_metrics(task, [metric], y, w, proba=proba, y_pred=y_pred)[metric] if len(w) else None
    slices = []
    for label in order:
        mask = arr == label
        sub = {"proba": None if proba is None else proba[mask], "y_pred": None if y_pred is None else y_pred[mask]}
        point = resampled_metrics(task, names, y[mask], np.ones((1, int(mask.sum()))), **sub)
        draws = resampled_metrics(task, names, y[mask], w[:, mask], **sub) if len(w) else {}
        row: dict[str, Any] = {"slice": label, "rows": int(mask.sum()), "too_small": bool(mask.sum() < MIN_SLICE_ROWS),
                               "metrics": {}, "intervals": {}}
        for name in names:
            value = float(point[name][0])
            row["metrics"][name] = value if np.isfinite(value) else None
            ci = percentile_interval(draws[name]) if name in draws else None
            row["intervals"][name] = None if ci is None else list(ci)
        if task == "binary" and y_pred is not None:
            row["metrics"]["flagged_share"] = float(np.mean(y_pred[mask] == 1)) if mask.any() else None
        if everyone is not None and metric in draws:
            gap = percentile_interval(draws[metric] - everyone)
            row["gap_interval"] = None if gap is None else list(gap)
        base = overall.get(metric)
        row["gap"] = None if row["metrics"][metric] is None or base is None else row["metrics"][metric] - base
        slices.append(row)
    judged = [s for s in slices if not s["too_small"] and s["gap"] is not None]
    sign = 1.0 if greater_is_better(metric) else -1.0
    worst = min(judged, key=lambda s: sign * s["gap"]) if judged else None
    small = [s["slice"] for s in slices if s["too_small"]]
    return {
        "column": column, "cut": how, "metric": metric, "slices": slices,
        "worst": None if worst is None else {"slice": worst["slice"], "rows": worst["rows"], "value": worst["metrics"][metric],
                                             "gap": worst["gap"], "gap_interval": worst.get("gap_interval")},
        "summary": _summary(column, metric, worst, small),
    }


def _edge(label: str) -> float:
    try:
        return float(label.strip("[](").split(",")[0])
    except ValueError:
        return float("inf")


def _summary(column: str, metric: str, worst: dict[str, Any] | None, small: list[str]) -> str:
    if worst is None:
        text = f"{column}: no slice has {MIN_SLICE_ROWS} rows with a defined {metric}, so none can be judged"
    else:
        gap, ci = worst["gap"], worst.get("gap_interval")
        within = f" (95% interval of the gap {ci[0]:+.3f} to {ci[1]:+.3f})" if ci else ""
        settled = "" if not ci else (" — the interval excludes 0: a real gap" if ci[0] > 0 or ci[1] < 0
                                     else " — the interval includes 0: not clearly worse")
        text = (f"{column}: worst slice {worst['slice']} ({worst['rows']} rows), {metric} "
                f"{worst['metrics'][metric]:.3f}, {gap:+.3f} against all rows{within}{settled}")
    if small:
        text += f"; too small to judge (< {MIN_SLICE_ROWS} rows): {', '.join(small)}"
    return text
